// node:zlib: browserify-zlib (pako) for deflate/inflate/gzip/gunzip, sync, callback and stream forms.
// Brotli in the same four forms over brotli-wasm (raftbox:brotli, a bundle of its own because its
// wasm module is 1 MB), required on first use. Of the encoder's parameters only the quality is
// honoured (brotli-wasm takes no other); the output is valid brotli either way, as Node's is, though
// not byte for byte Node's.
const zlib = require('browserify-zlib');
const { Buffer } = require('buffer');
const { Transform } = require('stream');

const BROTLI_CONSTANTS = {
  BROTLI_OPERATION_PROCESS: 0, BROTLI_OPERATION_FLUSH: 1, BROTLI_OPERATION_FINISH: 2, BROTLI_OPERATION_EMIT_METADATA: 3,
  BROTLI_PARAM_MODE: 0, BROTLI_MODE_GENERIC: 0, BROTLI_MODE_TEXT: 1, BROTLI_MODE_FONT: 2, BROTLI_DEFAULT_MODE: 0,
  BROTLI_PARAM_QUALITY: 1, BROTLI_MIN_QUALITY: 0, BROTLI_MAX_QUALITY: 11, BROTLI_DEFAULT_QUALITY: 11,
  BROTLI_PARAM_LGWIN: 2, BROTLI_MIN_WINDOW_BITS: 10, BROTLI_MAX_WINDOW_BITS: 24, BROTLI_DEFAULT_WINDOW: 22,
  BROTLI_PARAM_LGBLOCK: 3, BROTLI_PARAM_SIZE_HINT: 5,
  BROTLI_DECODER_RESULT_ERROR: 0, BROTLI_DECODER_RESULT_SUCCESS: 1, BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT: 2, BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT: 3,
};
// brotli-wasm's stream results: 1 done, 2 needs more input, 3 needs more output.
const DONE = 1;
const NEEDS_MORE_OUTPUT = 3;
const CHUNK = 64 * 1024;

let wasm;
function brotli() {
  return (wasm ??= require('raftbox:brotli'));
}

function bytesOf(input) {
  if (typeof input === 'string') return Buffer.from(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  throw new TypeError('The "buffer" argument must be of type string or an instance of Buffer, TypedArray, DataView, or ArrayBuffer');
}

function qualityOf(options) {
  const quality = options?.params?.[BROTLI_CONSTANTS.BROTLI_PARAM_QUALITY] ?? BROTLI_CONSTANTS.BROTLI_DEFAULT_QUALITY;
  if (!Number.isInteger(quality) || quality < 0 || quality > 11) throw new RangeError(`The value of "options.params[BROTLI_PARAM_QUALITY]" is out of range. It must be >= 0 and <= 11. Received ${quality}`);
  return quality;
}

// A wasm trap is how the encoder reports memory it could not get; say which limit that was. The
// decoder throws strings (Rust's error Debug text): as Node's zlib errors instead.
function brotliCall(what, run) {
  try {
    return run();
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError || (err instanceof RangeError && /WebAssembly/.test(err.message))) {
      throw new RangeError(`zlib ${what} ran out of memory: brotli works in WebAssembly memory, which counts against the sandbox's memory limit (${err.message})`);
    }
    if (typeof err !== 'string') throw err;
    if (/UnexpectedEof/.test(err)) throw Object.assign(new Error('unexpected end of file'), { code: 'Z_BUF_ERROR', errno: -5 });
    throw Object.assign(new Error(`Decompression failed (${err})`), { code: 'ERR__ERROR', errno: -3 });
  }
}

const toBuffer = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function brotliCompressSync(input, options) {
  const quality = qualityOf(options);
  return toBuffer(brotliCall('brotliCompress', () => brotli().compress(bytesOf(input), { quality })));
}

function brotliDecompressSync(input) {
  return toBuffer(brotliCall('brotliDecompress', () => brotli().decompress(bytesOf(input))));
}

// Asynchronous like Node's: the callback runs after the caller's code, on a later microtask.
function callbackForm(sync) {
  return (input, options, callback) => {
    const cb = typeof options === 'function' ? options : callback;
    const opts = typeof options === 'function' ? undefined : options;
    Promise.resolve().then(() => {
      let out;
      try {
        out = sync(input, opts);
      } catch (err) {
        return cb(err);
      }
      cb(null, out);
    });
  };
}

/**
 * A Transform over one of brotli-wasm's streams: `step(input)` feeds it (`undefined` finishes an
 * encoder) and returns {buf, code, input_offset}.
 */
function brotliStream(what, state, step, finishes) {
  let code = 0;
  const drain = (stream, input) => {
    let offset = 0;
    do {
      const result = brotliCall(what, () => step(input?.subarray(offset)));
      if (input) offset += result.input_offset;
      if (result.buf.length > 0) stream.push(Buffer.from(result.buf));
      code = result.code;
    } while (code === NEEDS_MORE_OUTPUT || (input && offset < input.length));
  };
  const settle = (done, run) => {
    try {
      run();
    } catch (err) {
      state.free();
      return done(err);
    }
    done();
  };
  return new Transform({
    transform(chunk, encoding, done) {
      settle(done, () => drain(this, bytesOf(typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk)));
    },
    flush(done) {
      settle(done, () => {
        if (finishes) drain(this, undefined);
        else if (code !== DONE) throw Object.assign(new Error('unexpected end of file'), { code: 'Z_BUF_ERROR', errno: -5 });
        state.free();
      });
    },
  });
}

function createBrotliCompress(options) {
  const encoder = new (brotli().CompressStream)(qualityOf(options));
  return brotliStream('createBrotliCompress', encoder, (input) => encoder.compress(input, CHUNK), true);
}

function createBrotliDecompress() {
  const decoder = new (brotli().DecompressStream)();
  return brotliStream('createBrotliDecompress', decoder, (input) => decoder.decompress(input ?? new Uint8Array(0), CHUNK), false);
}

module.exports = {
  ...zlib,
  constants: { ...zlib.constants, ...BROTLI_CONSTANTS },
  brotliCompressSync,
  brotliDecompressSync,
  brotliCompress: callbackForm(brotliCompressSync),
  brotliDecompress: callbackForm(brotliDecompressSync),
  createBrotliCompress,
  createBrotliDecompress,
  BrotliCompress: createBrotliCompress,
  BrotliDecompress: createBrotliDecompress,
};
