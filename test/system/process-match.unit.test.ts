// issue 21: a process check's entry names a process exactly (executable name or whole command line, `*` as the
// only wildcard); "h13sl" is not "rmh13sleep".
import { describe, expect, it } from 'vitest';
import { commandLine, executableNames, processMatches, wildcardMatches } from '../../src/system/process-match.js';

const proc = (exe: string | null, argv: string[], comm: string | null = null) => ({ exe, argv, comm });

describe('wildcardMatches', () => {
  it('matches the whole text; * stands for any run of characters, nothing else is special', () => {
    expect(wildcardMatches('sleep', 'sleep')).toBe(true);
    expect(wildcardMatches('h13sl', 'rmh13sleep')).toBe(false);
    expect(wildcardMatches('*h13sl*', 'rmh13sleep')).toBe(true);
    expect(wildcardMatches('python3*', 'python3.11')).toBe(true);
    expect(wildcardMatches('python3*', 'python')).toBe(false);
    expect(wildcardMatches('a*a', 'a')).toBe(false);
    expect(wildcardMatches('a*b*c', 'aXbYbZc')).toBe(true);
    expect(wildcardMatches('a*b*c', 'aXcYb')).toBe(false);
    expect(wildcardMatches('*', '')).toBe(true);
    expect(wildcardMatches('x.y?', 'x.y?')).toBe(true);
    expect(wildcardMatches('x.y?', 'xzyz')).toBe(false);
  });

  it('stays fast on a hostile command line', () => {
    const text = 'a'.repeat(4096);
    const started = performance.now();
    for (let i = 0; i < 1000; i++) wildcardMatches(`*${'a*'.repeat(200)}b`, text);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('process names', () => {
  it('are the executable file and argv[0] base names, the command name only for kernel threads', () => {
    // Node 24 calls its main thread "MainThread": the command name is not the program's name.
    expect(executableNames(proc('/usr/bin/node', ['node', 'server.js'], 'MainThread'))).toEqual(['node']);
    expect(executableNames(proc('/usr/bin/python3.11', ['/usr/bin/python3', '-m', 'x']))).toEqual(['python3.11', 'python3']);
    expect(executableNames(proc('/opt/app/gnome-session-binary (deleted)', ['gnome-session-binary']))).toEqual(['gnome-session-binary']);
    expect(executableNames(proc(null, [], 'kworker/0:1H'))).toEqual(['kworker/0:1H']);
    expect(executableNames(proc('C:\\Program Files\\OpenVPN\\openvpn.exe', []), true)).toEqual(['openvpn.exe', 'openvpn']);
    expect(commandLine(proc(null, [], 'kthreadd'))).toBe('[kthreadd]');
  });

  it('match exactly by name or by command line, as the check says', () => {
    const sleeper = proc('/usr/bin/sleep', ['/tmp/x/rmh13sleep', '30']);
    expect(processMatches('h13sl', 'name', sleeper)).toBe(false);
    expect(processMatches('rmh13sleep', 'name', sleeper)).toBe(true);
    expect(processMatches('sleep', 'name', sleeper)).toBe(true);
    expect(processMatches('Sleep', 'name', sleeper)).toBe(false);
    expect(processMatches('rmh13sleep', 'commandLine', sleeper)).toBe(false);
    expect(processMatches('/tmp/x/rmh13sleep 30', 'commandLine', sleeper)).toBe(true);
    expect(processMatches('*rmh13sleep *', 'commandLine', sleeper)).toBe(true);
    expect(processMatches('OpenVPN', 'name', proc('C:\\x\\openvpn.exe', []), true)).toBe(true);
  });
});
