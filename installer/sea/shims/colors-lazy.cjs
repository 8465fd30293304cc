// Bundled in place of `@colors/colors/safe`: winston's level tables load logform's colorize format when winston
// loads, and that loads the colour library (its styles, ~50 regular expressions, a getter per colour), though the
// logs it writes (JSON, journal lines, plain console lines) are never coloured. The same module, loaded on the
// first read of any of its properties; `enabled`, which colorize sets when it loads, is kept until then.
'use strict';
let colors;
let enabled;
const real = () => {
  if (!colors) {
    colors = require('@colors/colors/lib/colors');
    if (enabled !== undefined) colors.enabled = enabled;
  }
  return colors;
};
module.exports = new Proxy({}, {
  get: (_, key) => real()[key],
  set: (_, key, value) => {
    if (key === 'enabled' && !colors) enabled = value;
    else real()[key] = value;
    return true;
  },
  has: (_, key) => key in real(),
  ownKeys: () => Reflect.ownKeys(real()),
  getOwnPropertyDescriptor: (_, key) => {
    const d = Reflect.getOwnPropertyDescriptor(real(), key);
    return d && { ...d, configurable: true };
  },
});
