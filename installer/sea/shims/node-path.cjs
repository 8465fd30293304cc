// Bundled in place of `node:path` into the agent's single executables (node-fs.cjs likewise for `node:fs`). esbuild
// turns each `import path from 'node:path'` of an ES module into a fresh copy of the module's exports, one getter
// per export (its __toESM helper): ~45 importing modules × ~18 exports left ~800 getters, closures and property
// records in the idle agent's heap (~0.1 MB, docs/benchmarks.md, issue 19). This stand-in has no own properties and
// Node's module as its prototype: every name reads through to the module, and the copy has nothing to copy.
'use strict';
module.exports = Object.create(require('path'));
