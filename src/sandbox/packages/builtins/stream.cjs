// node:stream: readable-stream 4, the Node 18+ streams as an npm package.
module.exports = require('readable-stream');
