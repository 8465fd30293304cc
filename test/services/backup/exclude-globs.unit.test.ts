import { describe, expect, it } from 'vitest';
import { compileGlob, globProblem } from '../../../src/protocol/policies/glob.js';
import { backupPolicySchema } from '../../../src/protocol/policies/backup.js';
import { createExcluder } from '../../../src/services/backup/manifest.js';

// Through what Backup uses (createExcluder), so the test follows any change of matcher there.
const excludes = (glob: string, rel: string) => createExcluder([glob])(rel);

describe('backup exclude globs', () => {
  it('honours the alternatives and sets users write (they used to be matched literally)', () => {
    expect(['a.tmp', 'x/y/b.bak', 'c.txt', '{tmp,bak}'].map((r) => excludes('*.{tmp,bak}', r))).toEqual([true, true, false, false]);
    expect(['Temp', 'temp/x.doc', 'sub/Temp/y', 'TEMP', 'Temps', '[Tt]emp'].map((r) => excludes('[Tt]emp/', r))).toEqual([true, true, true, false, false, false]);
    expect(['a1', 'b', 'c', 'd9'].map((r) => excludes('[!a-c]*', r))).toEqual([false, false, false, true]);
    expect(['x]', 'y'].map((r) => excludes('[]x]*', r))).toEqual([true, false]);
    expect(['src/a/node_modules/m.js', 'src/build/x.o', 'build/x.o'].map((r) => excludes('{src/**/node_modules,build/*.o}', r))).toEqual([true, false, true]);
    expect(['a.jpg', 'a.jpeg', 'a.png', 'a.gif'].map((r) => excludes('*.{jp{e,}g,png}', r))).toEqual([true, true, true, false]);
  });

  it('keeps the former semantics: a name at any depth without "/", from the folder with "/", everything below a match', () => {
    const cases: Array<[string, string, boolean]> = [
      ['*.tmp', 'deep/dir/b.tmp', true],
      ['cache/', 'x/cache/file', true],
      ['**/node_modules', 'src/node_modules', true],
      ['build/*.o', 'build/sub/main.o', false],
      ['/top.log', 'top.log', true],
      ['/top.log', 'sub/top.log', false],
      ['*.tmp', 'tmp.txt', false],
      ['a**b', 'axxb', true],
    ];
    for (const [glob, rel, expected] of cases) expect(excludes(glob, rel), `${glob} ${rel}`).toBe(expected);
  });

  it('refuses, with a reason, syntax other globs give a meaning to', () => {
    const refused: Array<[string, RegExp]> = [
      ['!*.log', /negation/],
      ['@(a|b)', /extended globs/],
      ['*(x)', /extended globs/],
      ['+(x)', /extended globs/],
      ['a\\b', /backslash/],
      ['[abc', /never closed/],
      ['a]', /closes nothing/],
      ['{a}', /two alternatives/],
      ['{1..3}', /two alternatives/],
      ['{a,b', /never closed/],
      ['a},b', /closes nothing/],
      ['[z-a]', /reversed/],
      ['{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}', /more than 64/],
      ['/', /empty/],
    ];
    for (const [glob, reason] of refused) {
      expect(globProblem(glob), glob).toMatch(reason);
      expect(compileGlob(glob)('anything'), glob).toBe(false);
    }
    for (const ok of ['*.tmp', 'Copy (2).txt', '[(]x', '{a,b}/c', '**/x?.log']) expect(globProblem(ok), ok).toBeNull();
  });

  it('the Backup policy schema refuses an unsupported glob with its reason, on server and agent alike', () => {
    const bad = backupPolicySchema.safeParse({ exclude: ['*.tmp', '@(cache|tmp)'] });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.message).toMatch(/unsupported glob "@\(cache\|tmp\)": extended globs/);
    expect(backupPolicySchema.parse({ exclude: ['*.{tmp,bak}', '[Tt]emp/'] }).exclude).toEqual(['*.{tmp,bak}', '[Tt]emp/']);
  });

  it('stays linear where a regular-expression matcher backtracks (picomatch: 2.6 s for this glob and a 32-character name)', () => {
    const started = performance.now();
    const slow = compileGlob('*a*a*a*a*a*a*a*a*a*b');
    const braces = compileGlob(`{${'*a'.repeat(60)}*b,**/*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*0}`);
    for (let i = 0; i < 20; i++) {
      expect(slow('a'.repeat(255))).toBe(false);
      expect(braces(`d/${'a'.repeat(255)}`)).toBe(false);
    }
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
