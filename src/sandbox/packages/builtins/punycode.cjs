module.exports = require('punycode/');
