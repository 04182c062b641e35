// Brotli for node:zlib, in a bundle of its own (its wasm module is 1 MB) that zlib requires on first
// use: brotli-wasm's bundler build (aliased in package-set.ts, its exports map names only the
// asynchronous entries), instantiated synchronously by the .wasm import (wasm-imports.ts).
module.exports = require('brotli-wasm');
