// Bundled in place of `node:fs` into the agent's single executables: why in node-path.cjs (fs has ~100 exports).
'use strict';
module.exports = Object.create(require('fs'));
