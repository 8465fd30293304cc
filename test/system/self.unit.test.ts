// Starting this rmagent again with extra runtime flags (the backup job): the single executable takes them only as
// one `--node-options=` argument; a script run by Node takes them before the script.
import { describe, expect, it } from 'vitest';
import { selfWithRuntimeFlags } from '../../src/system/self.js';
import { JOB_V8_FLAGS, jobCommandLine } from '../../src/services/backup/job-launcher.js';

describe('selfWithRuntimeFlags', () => {
  it('puts the flags in one --node-options= argument for the single executable, before the command', () => {
    const line = selfWithRuntimeFlags({ command: '/usr/bin/rmagent', args: [], singleExecutable: true }, ['--no-lite-mode', '--expose-gc'], ['backup-job', '--job', '/j.json']);
    expect(line).toEqual({ command: '/usr/bin/rmagent', args: ['--node-options=--no-lite-mode --expose-gc', 'backup-job', '--job', '/j.json'] });
  });

  it('puts the flags before the entry script when Node runs a script', () => {
    const line = selfWithRuntimeFlags({ command: '/usr/bin/node', args: ['/opt/rmagent/cli.js'] }, ['--no-lite-mode'], ['backup-job']);
    expect(line).toEqual({ command: '/usr/bin/node', args: ['--no-lite-mode', '/opt/rmagent/cli.js', 'backup-job'] });
  });

  it('starts the backup job with V8\'s optimising compilers back on and its heap bound', () => {
    const line = jobCommandLine({ command: '/usr/bin/rmagent', args: [], singleExecutable: true }, '/var/lib/rmagent/jobs/a/job.json');
    expect(line.args[0]).toBe(`--node-options=${JOB_V8_FLAGS.join(' ')}`);
    expect(JOB_V8_FLAGS[0]).toBe('--no-lite-mode');
    expect(JOB_V8_FLAGS).toContain('--max-old-space-size=256');
    expect(line.args.slice(1)).toEqual(['backup-job', '--job', '/var/lib/rmagent/jobs/a/job.json']);
  });
});
