// Build step of installer/sea/build.sh: appends the agent's bundle (and, with --code-cache, its V8 code cache) to a
// Linux single executable whose SEA main script is src/cli/sea-loader.ts (layout: src/system/code-payload.ts).
// The code cache is only valid under the V8 flags it was made with and on the kind of machine that made it, so
// build.sh runs this with the host's Node 24 and the executable's flags, and only for linux-x64.
//   node [FLAGS] build/sea-payload.mjs EXECUTABLE BUNDLE [--code-cache]
import fs from 'node:fs';
import { codePayloadTrailer, payloadCode, readCodePayload } from '../src/system/code-payload.js';
import { compileCommonJs } from '../src/system/commonjs.js';

const [exe, bundle, ...rest] = process.argv.slice(2);
if (!exe || !bundle || rest.some((a) => a !== '--code-cache')) {
  console.error('usage: sea-payload.mjs EXECUTABLE BUNDLE [--code-cache]');
  process.exit(64);
}
const text = payloadCode(fs.readFileSync(bundle, 'utf8'));
const code = Buffer.from(text, 'utf8');
let cache: Buffer = Buffer.alloc(0);
if (rest.includes('--code-cache')) {
  // Compiled as the loader compiles it (same function), without running it.
  const { cachedData } = compileCommonJs(text, { produceCachedData: true });
  if (!cachedData?.length) throw new Error('V8 made no code cache');
  cache = cachedData;
}
fs.appendFileSync(exe, Buffer.concat([code, cache, codePayloadTrailer(code.length, cache.length)]));
// Read it back the way the executable will.
const back = readCodePayload(exe);
if (back.code !== text || (back.cache?.length ?? 0) !== cache.length) throw new Error(`${exe}: the appended code does not read back`);
console.log(`appended ${code.length} bytes of code and ${cache.length} of code cache to ${exe}`);
