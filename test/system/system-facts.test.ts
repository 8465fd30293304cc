// Asset Management's hardware/OS facts: systeminformation loaded on first use still answers on this machine.
import { describe, expect, it } from 'vitest';
import os from 'node:os';
import { readSystemFacts } from '../../src/system/packages.js';

describe('readSystemFacts', () => {
  it('reads OS, CPU and memory facts through the lazily loaded systeminformation', async () => {
    const facts = await readSystemFacts();
    expect(facts.os.hostname).toBe(os.hostname());
    expect(facts.os.arch).toBe(os.arch());
    expect(facts.memory.totalBytes).toBe(os.totalmem());
    expect(facts.cpu.cores).toBe(os.cpus().length);
  });
});
