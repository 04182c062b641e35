// node:url: the npm `url` package (legacy parse/format/resolve); URL and URLSearchParams are the
// isolate's globals where it has them.
const url = require('url/');

module.exports = {
  ...url,
  get URL() {
    return globalThis.URL;
  },
  get URLSearchParams() {
    return globalThis.URLSearchParams;
  },
};
