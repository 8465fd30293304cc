import { describe, expect, it } from 'vitest';
import { parseVersion } from '../../../src/teamviewer/parse/version.js';

describe('parseVersion', () => {
  it('trims version strings and keeps an edition suffix apart', () => {
    expect(parseVersion('15.27.3 ')).toEqual({ version: '15.27.3', suffix: null });
    expect(parseVersion('14.1.3399 HC')).toEqual({ version: '14.1.3399', suffix: 'HC' });
    expect(parseVersion('garbage')).toEqual({ version: null, suffix: null });
    expect(parseVersion(null).version).toBeNull();
  });
});
