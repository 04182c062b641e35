// node:buffer: feross/buffer (the trailing slash names the npm package, not this module).
module.exports = require('buffer/');
