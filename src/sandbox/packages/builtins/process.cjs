// node:process: the sandbox's global `process` (see runtime/modules.js).
module.exports = require('raftbox:process');
