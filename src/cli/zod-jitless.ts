// Imported first by the agent's entry, so every schema is made after it: zod then parses objects with its generic
// code instead of compiling a parser per object schema with `new Function` on first use. The agent runs without
// V8's optimising compilers (--lite-mode), so those parsers bought it little, and each kept its source and
// bytecode in memory: -0.2 MB idle RSS (bench/analysis.md). The server keeps zod's default.
import * as z from 'zod/mini';

z.config({ jitless: true });
