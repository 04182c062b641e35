// node:zlib: browserify-zlib (pako) for deflate/inflate/gzip/gunzip, sync, callback and stream forms.
// Brotli: decoding over buffers with the npm package brotli's pure-JS decoder, loaded on first use. Its
// encoder is a 1.3 MB asm.js build that starts asynchronously, which cannot serve brotliCompressSync,
// so compressing says it is not available instead of being undefined.
const zlib = require('browserify-zlib');
const { Buffer } = require('buffer');

let decode;
function brotliDecompressSync(input) {
  decode ??= require('brotli/decompress').decompress;
  const bytes = typeof input === 'string' ? Buffer.from(input) : ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength) : new Uint8Array(input);
  const out = decode(bytes);
  if (!out) throw Object.assign(new Error('Decompression failed'), { code: 'ERR__ERROR', errno: -3 });
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

function brotliDecompress(input, options, callback) {
  const cb = typeof options === 'function' ? options : callback;
  // Asynchronous like Node's: the callback runs after the caller's code, on a later microtask.
  Promise.resolve().then(() => {
    let out;
    try {
      out = brotliDecompressSync(input);
    } catch (err) {
      return cb(err);
    }
    cb(null, out);
  });
}

function noBrotli(what) {
  return () => {
    throw new Error(`zlib ${what} is not available in the sandbox (brotliDecompress and brotliDecompressSync are; gzip and deflate are in every form)`);
  };
}

module.exports = {
  ...zlib,
  brotliDecompressSync,
  brotliDecompress,
  brotliCompress: noBrotli('brotliCompress'),
  brotliCompressSync: noBrotli('brotliCompressSync'),
  createBrotliCompress: noBrotli('createBrotliCompress'),
  createBrotliDecompress: noBrotli('createBrotliDecompress'),
};
