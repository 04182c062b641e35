// node:path: path-browserify, Node's POSIX path module (`path.posix` is the module itself; no win32).
module.exports = require('path-browserify');
