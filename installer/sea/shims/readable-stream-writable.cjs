// Bundled in place of `readable-stream/lib/_stream_writable.js` (winston-transport's one deep import): see readable-stream.cjs.
'use strict';
module.exports = require('node:stream').Writable;
