// CompressionStream / DecompressionStream (Compression Standard) as TransformStreams over fflate's
// streaming codecs. 'deflate' is the zlib format, 'deflate-raw' bare DEFLATE, as the standard says.
import { Gzip, Gunzip, Zlib, Unzlib, Deflate, Inflate } from 'fflate';
import { TransformStream } from './streams.js';

const COMPRESSORS = { gzip: Gzip, deflate: Zlib, 'deflate-raw': Deflate };
const DECOMPRESSORS = { gzip: Gunzip, deflate: Unzlib, 'deflate-raw': Inflate };

function toBytes(chunk) {
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('The chunk must be an ArrayBuffer or an ArrayBufferView');
}

function codecStream(table, format, what, decompressing) {
  const Codec = Object.hasOwn(table, format) ? table[format] : undefined;
  if (Codec === undefined) {
    throw new TypeError(`Failed to construct '${what}': Unsupported compression format: '${format}'`);
  }
  let codec;
  let ended = false;
  return new TransformStream({
    start(controller) {
      codec = new Codec((data, final) => {
        if (data.length > 0) controller.enqueue(data);
        if (final) ended = true;
      });
    },
    transform(chunk) {
      const bytes = toBytes(chunk);
      if (decompressing && ended && bytes.length > 0) throw new TypeError('Junk found after end of compressed data.');
      try {
        codec.push(bytes, false);
      } catch (error) {
        throw new TypeError(`The compressed data is invalid: ${error.message}`);
      }
    },
    flush() {
      try {
        if (!ended) codec.push(new Uint8Array(0), true);
      } catch (error) {
        throw new TypeError(`The compressed data is invalid: ${error.message}`);
      }
      if (decompressing && !ended) throw new TypeError('The compressed data ended early.');
    },
  });
}

function codecClass(name, table, decompressing) {
  const C = {
    [name]: class {
      #stream;
      constructor(format) {
        if (arguments.length === 0) throw new TypeError(`Failed to construct '${name}': 1 argument required, but only 0 present.`);
        this.#stream = codecStream(table, String(format), name, decompressing);
      }
      get readable() {
        return this.#stream.readable;
      }
      get writable() {
        return this.#stream.writable;
      }
    },
  }[name];
  return C;
}

export const CompressionStream = codecClass('CompressionStream', COMPRESSORS, false);
export const DecompressionStream = codecClass('DecompressionStream', DECOMPRESSORS, true);
for (const C of [CompressionStream, DecompressionStream]) {
  Object.defineProperty(C.prototype, Symbol.toStringTag, { value: C.name, configurable: true });
}
