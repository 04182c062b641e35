// Blob and File (File API §3-4). Written here: the maintained polyfills (fetch-blob, formdata-polyfill)
// load Node's streams with a top-level await, which cannot run in an isolate. A blob keeps its bytes
// in one Uint8Array; everything an agent makes is bounded by the isolate's memory limit.
import { TextDecoder, TextEncoder } from './encoding.js';
import { ReadableStream } from './streams.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const blobBytes = new WeakMap();

export function bytesOf(blob) {
  const bytes = blobBytes.get(blob);
  if (bytes === undefined) throw new TypeError('Illegal invocation');
  return bytes;
}

function partBytes(part, endings) {
  if (blobBytes.has(part)) return blobBytes.get(part);
  if (part instanceof ArrayBuffer) return new Uint8Array(part.slice(0));
  if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer.slice(part.byteOffset, part.byteOffset + part.byteLength));
  let text = String(part);
  if (endings === 'native') text = text.replace(/\r\n|\r/g, '\n');
  return encoder.encode(text);
}

function normalizeType(type) {
  const t = String(type);
  return /[^\x20-\x7e]/.test(t) ? '' : t.toLowerCase();
}

function relativeIndex(value, size, fallback) {
  if (value === undefined) return fallback;
  const n = Math.trunc(Number(value)) || 0;
  return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
}

export class Blob {
  #type;
  constructor(blobParts = undefined, options = undefined) {
    if (blobParts !== undefined && (typeof blobParts !== 'object' || blobParts === null || typeof blobParts[Symbol.iterator] !== 'function')) {
      throw new TypeError("Failed to construct 'Blob': The provided value cannot be converted to a sequence.");
    }
    const endings = options?.endings ?? 'transparent';
    if (endings !== 'transparent' && endings !== 'native') {
      throw new TypeError(`Failed to construct 'Blob': The provided value '${endings}' is not a valid enum value of type EndingType.`);
    }
    const parts = blobParts === undefined ? [] : [...blobParts].map((p) => partBytes(p, endings));
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      bytes.set(p, offset);
      offset += p.length;
    }
    blobBytes.set(this, bytes);
    this.#type = options?.type === undefined ? '' : normalizeType(options.type);
  }
  get size() {
    return bytesOf(this).length;
  }
  get type() {
    bytesOf(this);
    return this.#type;
  }
  slice(start = undefined, end = undefined, contentType = undefined) {
    const bytes = bytesOf(this);
    const from = relativeIndex(start, bytes.length, 0);
    const to = relativeIndex(end, bytes.length, bytes.length);
    return new Blob([bytes.subarray(from, Math.max(from, to))], { type: contentType === undefined ? '' : contentType });
  }
  async text() {
    return decoder.decode(bytesOf(this));
  }
  async arrayBuffer() {
    return bytesOf(this).slice().buffer;
  }
  async bytes() {
    return bytesOf(this).slice();
  }
  stream() {
    const bytes = bytesOf(this);
    let offset = 0;
    return new ReadableStream({
      type: 'bytes',
      pull(controller) {
        if (offset >= bytes.length) {
          controller.close();
          return;
        }
        const chunk = bytes.slice(offset, offset + 65536);
        offset += chunk.length;
        controller.enqueue(chunk);
      },
    });
  }
}
Object.defineProperty(Blob.prototype, Symbol.toStringTag, { value: 'Blob', configurable: true });

export class File extends Blob {
  #name;
  #lastModified;
  constructor(fileBits, fileName, options = undefined) {
    if (arguments.length < 2) throw new TypeError(`Failed to construct 'File': 2 arguments required, but only ${arguments.length} present.`);
    super(fileBits, options);
    this.#name = String(fileName);
    // Date.now() here is the step's virtual clock.
    this.#lastModified = options?.lastModified === undefined ? Date.now() : Math.trunc(Number(options.lastModified)) || 0;
  }
  get name() {
    return this.#name;
  }
  get lastModified() {
    return this.#lastModified;
  }
  get webkitRelativePath() {
    return '';
  }
}
Object.defineProperty(File.prototype, Symbol.toStringTag, { value: 'File', configurable: true });
