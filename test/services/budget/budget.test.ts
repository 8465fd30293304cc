import { afterEach, describe, expect, it } from 'vitest';
import { createHeavyJobScheduler, createNicedRunner } from '../../../src/services/budget.js';
import { createCommandRunner } from '../../../src/system/exec.js';
import { fixedClock, systemClock } from '../../../src/system/clock.js';
import { standIn, tempDir } from './service-runtime.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('heavy-job scheduler', () => {
  it('never runs two jobs at once, even when their jitter ends together', async () => {
    const scheduler = createHeavyJobScheduler({ clock: systemClock, random: () => 0.5 });
    let active = 0;
    let peak = 0;
    const order: string[] = [];
    const job = (name: string) => async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 30));
      order.push(name);
      active--;
      return name;
    };
    const results = await Promise.all(['inventory', 'patch-scan', 'backup', 'inventory-2'].map((n) => scheduler.run(n, job(n), { maxJitterMs: 40 })));
    expect(peak).toBe(1);
    expect(results.every((r) => r.ran)).toBe(true);
    expect(order).toHaveLength(4);
    expect(scheduler.running()).toBeNull();
  });

  it('calls afterJob when each job ends, done or failed, and never while one runs', async () => {
    const ended: string[] = [];
    let running: string | null = null;
    const scheduler = createHeavyJobScheduler({ clock: systemClock, random: () => 0, afterJob: () => ended.push(`after ${running ?? 'none'}`) });
    const job = (name: string, fail = false) => async () => {
      running = name;
      await new Promise((r) => setTimeout(r, 10));
      running = null;
      if (fail) throw new Error('boom');
      return name;
    };
    await scheduler.run('inventory', job('inventory'));
    await expect(scheduler.run('patch-scan', job('patch-scan', true))).rejects.toThrow('boom');
    expect(ended).toEqual(['after none', 'after none']);
  });

  it('a failing job does not block the next one', async () => {
    const scheduler = createHeavyJobScheduler({ clock: systemClock, random: () => 0 });
    await expect(scheduler.run('bad', async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await scheduler.run('good', async () => 42)).toEqual({ ran: true, value: 42 });
  });

  it('jitter spreads the start; stop() cancels waiting jobs', async () => {
    const scheduler = createHeavyJobScheduler({ clock: systemClock, random: () => 0.99 });
    const started = Date.now();
    const waiting = scheduler.run('late', async () => 'ran', { maxJitterMs: 5_000 });
    await new Promise((r) => setTimeout(r, 50));
    scheduler.stop();
    expect(await waiting).toEqual({ ran: false, reason: 'stopped' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await scheduler.run('after', async () => 'ran')).toEqual({ ran: false, reason: 'stopped' });
  });

  it("a service's abort drops its waiting job at once, without waiting behind another service's running job", async () => {
    const scheduler = createHeavyJobScheduler({ clock: systemClock, random: () => 0 });
    let release = () => undefined as void;
    const long = scheduler.run('backup', () => new Promise<string>((r) => { release = () => r('backup done'); }));
    const owner = new AbortController();
    let ran = false;
    const queued = scheduler.run('inventory', async () => { ran = true; }, { signal: owner.signal });
    await new Promise((r) => setTimeout(r, 20));
    owner.abort();
    expect(await queued).toEqual({ ran: false, reason: 'stopped' });
    release();
    expect(await long).toEqual({ ran: true, value: 'backup done' });
    await new Promise((r) => setTimeout(r, 10));
    expect(ran).toBe(false);
  });

  it('a running job is told through its signal', async () => {
    const scheduler = createHeavyJobScheduler({ clock: systemClock, random: () => 0 });
    const owner = new AbortController();
    let seen: AbortSignal | null = null;
    const job = scheduler.run('backup', async (signal) => { seen = signal; await new Promise((r) => setTimeout(r, 50)); return signal.aborted; }, { signal: owner.signal });
    await new Promise((r) => setTimeout(r, 10));
    owner.abort();
    expect(await job).toEqual({ ran: false, reason: 'stopped' });
    expect(seen!.aborted).toBe(true);
  });

  it('a job with a closed maintenance window does not run', async () => {
    const clock = fixedClock(new Date(2026, 10, 24, 12, 0).getTime()); // Tuesday noon, local
    const scheduler = createHeavyJobScheduler({ clock, random: () => 0 });
    let ran = false;
    const r = await scheduler.run('install', async () => { ran = true; }, { window: { days: ['tue'], start: '02:00', durationMin: 60 } });
    expect(r).toEqual({ ran: false, reason: 'outside-window' });
    expect(ran).toBe(false);
    expect((await scheduler.run('install', async () => 'ok', { window: { days: ['tue'], start: '11:30', durationMin: 60 } })).ran).toBe(true);
  });
});

describe('niced runner', () => {
  it('runs child commands at niceness 10 (and reports a missing command as ENOENT)', async () => {
    const runner = createNicedRunner(createCommandRunner(), 'linux');
    const r = await runner.run('sh', ['-c', 'nice']); // `nice` without arguments prints the current niceness
    expect(r.code).toBe(0);
    expect(Number(r.stdout.trim())).toBeGreaterThanOrEqual(10);
    const missing = await runner.run('rmagent-no-such-command', []);
    expect(missing).toMatchObject({ code: null, error: 'ENOENT' });
  });

  it('passes arguments through untouched (no shell)', async () => {
    const { dir, cleanup } = await tempDir('niced');
    cleanups.push(cleanup);
    await standIn(dir, 'echo-args', 'for a in "$@"; do echo "[$a]"; done');
    const runner = createNicedRunner(createCommandRunner({ path: dir }), 'linux');
    const r = await runner.run('echo-args', ['a b', '$(id)', ';rm -rf /']);
    expect(r.stdout).toBe('[a b]\n[$(id)]\n[;rm -rf /]\n');
  });
});
