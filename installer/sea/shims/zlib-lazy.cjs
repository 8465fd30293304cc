// Bundled in place of `zlib` (the bare name; `node:zlib` is left alone) into the agent's single executables: ws
// requires it when it loads, for permessage-deflate, which the agent's server never negotiates. Node's zlib
// (module and binding) then cost the idle agent ~0.4 MB of resident memory for nothing (docs/benchmarks.md, issue
// 19). The same module, loaded on the first touch of any of its properties.
'use strict';
let zlib;
const real = () => (zlib ??= require('node:zlib'));
module.exports = new Proxy({}, {
  get: (_, key) => real()[key],
  has: (_, key) => key in real(),
  ownKeys: () => Reflect.ownKeys(real()),
  getOwnPropertyDescriptor: (_, key) => {
    const d = Reflect.getOwnPropertyDescriptor(real(), key);
    return d && { ...d, configurable: true };
  },
});
