// node:zlib: browserify-zlib (pako) for deflate/inflate/gzip/gunzip, sync, callback and stream forms.
// Brotli is not in it; its functions say so instead of being undefined.
const zlib = require('browserify-zlib');

function noBrotli() {
  throw new Error('zlib brotli is not available in the sandbox (gzip, deflate and their raw/unzip forms are)');
}

module.exports = {
  ...zlib,
  brotliCompress: noBrotli,
  brotliCompressSync: noBrotli,
  brotliDecompress: noBrotli,
  brotliDecompressSync: noBrotli,
  createBrotliCompress: noBrotli,
  createBrotliDecompress: noBrotli,
};
