// What the console decides by itself: which devices may be selected for a service and what it tells the admin to
// do on the device (the seed's endpoint prerequisites).
import { describe, expect, it } from 'vitest';
import { ineligible } from '../../src/server/console/web/model.js';

const tv = (installed: boolean, managed: boolean | null) => ({ installed, managed });

describe('device prerequisites in the activation picker', () => {
  it('needs TeamViewer Host or full client, and a managed device; an unknown managed state (Linux) does not block', () => {
    expect(ineligible({ teamviewer: null, online: true })).toEqual({ reason: 'TeamViewer is not installed', fix: 'Install TeamViewer Host or the TeamViewer full client on the device.' });
    expect(ineligible({ teamviewer: tv(false, null), online: true })?.reason).toBe('TeamViewer is not installed');
    expect(ineligible({ teamviewer: tv(true, false), online: true })).toMatchObject({ reason: 'Not a managed device', fix: expect.stringContaining('On the device itself') });
    expect(ineligible({ teamviewer: tv(true, true), online: false })).toBeNull(); // offline devices get the service when they connect
    expect(ineligible({ teamviewer: tv(true, null), online: true })).toBeNull();
  });
});
