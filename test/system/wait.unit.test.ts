// waitAtMost (src/system/wait.ts): a bounded wait that ends with the first thing done, or at the limit.
import { describe, expect, it } from 'vitest';
import { waitAtMost } from '../../src/system/wait.js';

describe('waitAtMost', () => {
  it('ends as soon as one of the waits settles, well before the limit', async () => {
    const started = Date.now();
    await waitAtMost(10_000, new Promise(() => undefined), new Promise((r) => setTimeout(r, 20)));
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('ends at the limit when nothing settles', async () => {
    const started = Date.now();
    await waitAtMost(50, new Promise(() => undefined));
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('passes a failure of what it waits for on', async () => {
    await expect(waitAtMost(10_000, Promise.reject(new Error('broken')))).rejects.toThrow('broken');
  });
});
