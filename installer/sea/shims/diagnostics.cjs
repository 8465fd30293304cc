// Bundled in place of `@dabh/diagnostics`, winston's debug tracer: its output only appears with DEBUG=winston:*
// set, and loading it pulls in a colour-space library (~0.6 MB idle RSS, docs/packaging.md). Same shape: a
// factory that returns a logging function, here one that does nothing.
'use strict';
function disabled() {}
module.exports = function diagnostics() {
  return disabled;
};
