// Bundled in place of `readable-stream` (winston and winston-transport depend on its v3). That package is a copy
// of Node's own streams for old runtimes; the Node 24 runtime has them built in and already loaded, so the copy only
// doubled the stream code in memory (~0.6 MB idle RSS, docs/packaging.md).
'use strict';
module.exports = require('node:stream');
