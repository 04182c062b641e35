module.exports = require('assert/');
