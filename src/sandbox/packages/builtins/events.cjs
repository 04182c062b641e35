// node:events: the npm `events` package (Node's EventEmitter for browsers).
module.exports = require('events/');
