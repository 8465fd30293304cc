// The entries install zod's English messages before anything parses (src/protocol/zod-locale.ts); tests do the same.
import '../../src/protocol/zod-locale.js';
