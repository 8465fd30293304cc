// Backup exclude globs: the syntax a policy may use, checked by the policy schema on server and agent alike, and
// the matcher. Supported: `*` (any run of characters but '/'), `?` (one such character), `**` (any run of
// folders, as a whole segment), `[abc]` `[a-z]` `[!a-z]` (one character of / not of a set), `{a,b}` (either
// alternative, nested too, at most 64 in all). Anything else that globs elsewhere give a meaning to is refused
// with a reason rather than taken literally: `!` negation, extended globs such as `@(a|b)` or `*(x)`, backslash
// escapes, unbalanced brackets or braces, `{a}` or `{1..3}`.
// Why not picomatch: it compiles globs to backtracking regular expressions; `*a*a*a*a*a*a*a*a*a*b` took 2.6 s
// against one 32-character name on the agent's machine (measured, docs/security.md), and a policy author can write
// that. This matcher is the classic wildcard algorithm (one backtrack point per level): time O(pattern x name).

const MAX_ALTERNATIVES = 64;

type Token = { t: 'star' } | { t: 'any' } | { t: 'lit'; c: string } | { t: 'set'; negate: boolean; ranges: Array<[string, string]> };

/** Why `glob` is not supported (a one-line reason a policy author can act on), or null. Pure. */
export function globProblem(glob: string): string | null {
  if (glob.trim() === '' || glob.replace(/\//g, '') === '') return 'an empty glob';
  if (glob.startsWith('!')) return 'negation ("!" at the start) is not supported: list only what to leave out';
  if (glob.includes('\\')) return 'backslashes are not supported: separate folders with "/" (escapes are not supported either)';
  if (/[@!+*?]\(/.test(glob)) return 'extended globs such as @(a|b), !(x) or *(x) are not supported: use {a,b}, or [(] for a literal "("';
  const expanded = expandBraces(glob);
  if (typeof expanded === 'string') return expanded;
  for (const alternative of expanded) {
    for (const segment of alternative.split('/')) {
      const tokens = tokenize(segment);
      if (typeof tokens === 'string') return tokens;
    }
  }
  return null;
}

/** `a{b,c{d,e}}f` -> [abf, acdf, acef]; a reason string when the braces are not usable. */
function expandBraces(glob: string): string[] | string {
  let open = -1;
  let depth = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '[') {
      const end = classEnd(glob, i);
      if (end < 0) return `"[" at ${i + 1} is never closed`;
      i = end;
    } else if (c === '{') {
      if (depth++ === 0) open = i;
    } else if (c === '}') {
      if (depth === 0) return `"}" at ${i + 1} closes nothing`;
      if (--depth > 0) continue;
      const parts = splitTopLevel(glob.slice(open + 1, i));
      if (parts.length < 2) return `{${glob.slice(open + 1, i)}} needs at least two alternatives separated by ","`;
      const out: string[] = [];
      for (const part of parts) {
        const rest = expandBraces(`${glob.slice(0, open)}${part}${glob.slice(i + 1)}`);
        if (typeof rest === 'string') return rest;
        out.push(...rest);
        if (out.length > MAX_ALTERNATIVES) return `more than ${MAX_ALTERNATIVES} alternatives`;
      }
      return out;
    }
  }
  if (depth > 0) return `"{" at ${open + 1} is never closed`;
  return [glob];
}

function splitTopLevel(inner: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '[') i = Math.max(i, classEnd(inner, i));
    else if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(inner.slice(start));
  return parts;
}

/** Index of the `]` closing the class opened at `open`, or -1 ("]" first, or after "!"/"^", is literal). */
function classEnd(s: string, open: number): number {
  let i = open + 1;
  if (s[i] === '!' || s[i] === '^') i++;
  if (s[i] === ']') i++;
  const close = s.indexOf(']', i);
  return close;
}

function tokenize(segment: string): Token[] | string {
  const chars = Array.from(segment);
  const tokens: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') {
      if (tokens[tokens.length - 1]?.t !== 'star') tokens.push({ t: 'star' }); // a**b is a*b within a segment
    } else if (c === '?') tokens.push({ t: 'any' });
    else if (c === '[') {
      let j = i + 1;
      const negate = chars[j] === '!' || chars[j] === '^';
      if (negate) j++;
      const ranges: Array<[string, string]> = [];
      let first = true;
      for (; j < chars.length && (chars[j] !== ']' || first); j++) {
        first = false;
        const lo = chars[j]!;
        if (chars[j + 1] === '-' && j + 2 < chars.length && chars[j + 2] !== ']') {
          const hi = chars[j + 2]!;
          if (hi < lo) return `the range ${lo}-${hi} is reversed`;
          ranges.push([lo, hi]);
          j += 2;
        } else ranges.push([lo, lo]);
      }
      if (j >= chars.length) return `"[" in "${segment.slice(0, 80)}" is never closed`;
      tokens.push({ t: 'set', negate, ranges });
      i = j;
    } else if (c === ']') return `"]" in "${segment.slice(0, 80)}" closes nothing`;
    else tokens.push({ t: 'lit', c });
  }
  return tokens;
}

const matchesOne = (token: Token, ch: string): boolean => {
  if (token.t === 'any') return true;
  if (token.t === 'lit') return token.c === ch;
  if (token.t === 'set') return token.ranges.some(([lo, hi]) => ch >= lo && ch <= hi) !== token.negate;
  return false;
};

/**
 * A matcher for one glob (globProblem(glob) must be null; a refused glob matches nothing). Without '/' a glob
 * matches a name at any depth (like .gitignore); with '/' it matches from the folder; a match also covers
 * everything below it.
 */
export function compileGlob(glob: string): (rel: string) => boolean {
  if (globProblem(glob) !== null) return () => false;
  const alternatives = (expandBraces(glob) as string[]).map((alternative) => {
    const trimmed = alternative.replace(/^\//, '').replace(/\/$/, '');
    const anywhere = !alternative.replace(/\/$/, '').includes('/');
    const segments = [...(anywhere ? ['**'] : []), ...trimmed.split('/').filter((x) => x !== ''), '**'];
    return segments.map((s) => (s === '**' ? ('**' as const) : (tokenize(s) as Token[])));
  });
  return (rel) => {
    const parts = rel.split('/');
    return alternatives.some((levels) =>
      wildcard(levels, parts, (level) => level === '**', (level, part) => level !== '**' && wildcard(level, Array.from(part), (t) => t.t === 'star', matchesOne)),
    );
  };
}

/** Wildcard matching of `items` against `pattern`, where `isStar` elements match any run of items. */
function wildcard<P, T>(pattern: readonly P[], items: readonly T[], isStar: (p: P) => boolean, one: (p: P, item: T) => boolean): boolean {
  let p = 0;
  let i = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (i < items.length) {
    if (p < pattern.length && isStar(pattern[p]!)) {
      starAt = p++;
      resumeAt = i;
    } else if (p < pattern.length && one(pattern[p]!, items[i]!)) {
      p++;
      i++;
    } else if (starAt >= 0) {
      p = starAt + 1;
      i = ++resumeAt;
    } else return false;
  }
  while (p < pattern.length && isStar(pattern[p]!)) p++;
  return p === pattern.length;
}
