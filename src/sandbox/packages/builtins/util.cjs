// node:util: the npm `util` package (promisify, types, inherits, deprecate, …) with the sandbox's own
// inspect and format, the ones console.log uses. TextEncoder/TextDecoder are the isolate's globals
// where it has them (web-platform globals are provided by the runtime, not here).
const util = require('util/');
const { inspect, format } = require('raftbox:inspect');

module.exports = {
  ...util,
  inspect,
  format,
  get TextEncoder() {
    return globalThis.TextEncoder;
  },
  get TextDecoder() {
    return globalThis.TextDecoder;
  },
};
