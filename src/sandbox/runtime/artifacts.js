// Runs inside the isolate (see bootstrap.ts). `artifact(name, mimeType, data)` attaches a file to the
// execution, and a step whose completion value is a Blob or a `{ mimeType, data }` object does the
// same (see `completionArtifact`). An artifact's bytes leave the isolate at once, by copy, through
// `hostOutput` (like console batches, see console.js), so a step stopped later still keeps it.
//
// Every artifact is charged to one per-run budget of bytes, here: the host never sees more. The check
// is the same live and on replay (which sends nothing: artifacts are outputs, not state), so a step
// that went over the cap throws the same error when its session is rebuilt.

const MAX_ARTIFACTS = 32;
const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
// type/subtype (RFC 6838 restricted names), no parameters.
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
const regexpTest = uncurry(RegExp.prototype.test);
const arrayBufferSlice = uncurry(ArrayBuffer.prototype.slice);
const typedArrayBuffer = uncurry(Reflect.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'buffer').get);
const typedArrayOffset = uncurry(Reflect.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'byteOffset').get);
const typedArrayLength = uncurry(Reflect.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'byteLength').get);
const dataViewBuffer = uncurry(Reflect.getOwnPropertyDescriptor(DataView.prototype, 'buffer').get);
const dataViewOffset = uncurry(Reflect.getOwnPropertyDescriptor(DataView.prototype, 'byteOffset').get);
const dataViewLength = uncurry(Reflect.getOwnPropertyDescriptor(DataView.prototype, 'byteLength').get);
const arrayBufferByteLength = uncurry(Reflect.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength').get);
const isView = ArrayBuffer.isView;
const toLowerCase = uncurry(String.prototype.toLowerCase);

let artifactLimit = 0;
let artifactUsed = 0;
let artifactNames = { __proto__: null };
let artifactCount = 0;

function beginArtifacts(maxArtifactBytes) {
  artifactLimit = maxArtifactBytes;
  artifactUsed = 0;
  artifactNames = { __proto__: null };
  artifactCount = 0;
}

/** A copy of the data as an ArrayBuffer of its own: later changes by user code cannot reach the host. */
function artifactBytes(data) {
  if (typeof data === 'string') return utf8Encode(data);
  if (data instanceof ArrayBuffer) return arrayBufferSlice(data, 0);
  if (isView(data)) {
    // DataView and typed arrays keep their window in different accessors.
    if (data instanceof DataView) return arrayBufferSlice(dataViewBuffer(data), dataViewOffset(data), dataViewOffset(data) + dataViewLength(data));
    const offset = typedArrayOffset(data);
    return arrayBufferSlice(typedArrayBuffer(data), offset, offset + typedArrayLength(data));
  }
  const blob = blobBytesOf(data);
  if (blob !== null) return arrayBufferSlice(typedArrayBuffer(blob), typedArrayOffset(blob), typedArrayOffset(blob) + typedArrayLength(blob));
  throw new TypeError('artifact data must be a Uint8Array (or another ArrayBuffer view), an ArrayBuffer, a Blob or a string');
}

/** The bytes of a sandbox Blob, or null for anything else (no Blob exists before the web platform loads). */
function blobBytesOf(value) {
  if (webPlatform === null || typeof value !== 'object' || value === null || !(value instanceof webPlatform.Blob)) return null;
  return webPlatform.bytesOf(value);
}

function utf8Encode(text) {
  const bytes = new Uint8Array(utf8Length(text));
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    let c = charCodeAt(text, i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = charCodeAt(text, i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) bytes[at++] = c;
    else if (c < 0x800) {
      bytes[at++] = 0xc0 | (c >> 6);
      bytes[at++] = 0x80 | (c & 63);
    } else if (c < 0x10000) {
      // A lone surrogate becomes U+FFFD, as TextEncoder does; it takes 3 bytes either way.
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      bytes[at++] = 0xe0 | (c >> 12);
      bytes[at++] = 0x80 | ((c >> 6) & 63);
      bytes[at++] = 0x80 | (c & 63);
    } else {
      bytes[at++] = 0xf0 | (c >> 18);
      bytes[at++] = 0x80 | ((c >> 12) & 63);
      bytes[at++] = 0x80 | ((c >> 6) & 63);
      bytes[at++] = 0x80 | (c & 63);
    }
  }
  return typedArrayBuffer(bytes);
}

/** Checks, charges and sends one artifact; returns its size in bytes. */
function attachArtifact(name, mimeType, data) {
  if (typeof name !== 'string' || !regexpTest(ARTIFACT_NAME, name)) {
    throw new TypeError('artifact name must be 1-128 characters of letters, digits, ".", "_" and "-", starting with a letter or digit');
  }
  if (typeof mimeType !== 'string' || !regexpTest(MEDIA_TYPE, mimeType)) throw new TypeError(`artifact ${name}: mimeType must be a media type like "image/png"`);
  if (artifactNames[name] === true) throw new TypeError(`artifact ${name} was already attached in this run`);
  if (artifactCount >= MAX_ARTIFACTS) throw new RangeError(`at most ${MAX_ARTIFACTS} artifacts per run`);
  const bytes = artifactBytes(data);
  const size = arrayBufferByteLength(bytes);
  if (artifactUsed + size > artifactLimit) {
    throw new RangeError(`artifact ${name} (${size} bytes) is over this run's artifact limit of ${artifactLimit} bytes (${artifactLimit - artifactUsed} left)`);
  }
  artifactUsed += size;
  artifactNames[name] = true;
  artifactCount++;
  // Lines printed before it reach the host before it does; a replay sends nothing.
  if (streaming) {
    flushConsole(false);
    hostOutput('artifact', name, toLowerCase(mimeType), bytes);
  }
  return size;
}

// The name a completion value's artifact gets: `result` with the usual extension of its type.
const RESULT_EXTENSIONS = {
  __proto__: null,
  'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp', 'image/svg+xml': 'svg',
  'application/json': 'json', 'application/pdf': 'pdf', 'text/csv': 'csv', 'text/plain': 'txt', 'text/html': 'html',
  'text/markdown': 'md', 'application/octet-stream': 'bin',
};

/**
 * A completion value that is a file: a Blob (its `type`, or application/octet-stream), or a plain
 * object of exactly `{ mimeType, data }`. It is attached as `result.<ext>`, and the step's result
 * describes it. Anything else: null, and the value is the result as usual.
 */
function completionArtifact(value) {
  const file = fileOf(value);
  if (file === null) return null;
  const mimeType = toLowerCase(file.mimeType);
  const extension = RESULT_EXTENSIONS[mimeType];
  const name = extension === undefined ? 'result' : `result.${extension}`;
  const size = attachArtifact(name, mimeType, file.data);
  return { __proto__: null, name, mimeType, size };
}

/** `{ mimeType, data }` of a completion value that is a file; null for anything else, whatever traps it has. */
function fileOf(value) {
  try {
    if (blobBytesOf(value) !== null) return { __proto__: null, mimeType: value.type || 'application/octet-stream', data: value };
    if (typeof value !== 'object' || value === null || getPrototypeOf(value) !== ObjectPrototype || ownKeys(value).length !== 2) return null;
    const typeDesc = getOwnPropertyDescriptor(value, 'mimeType');
    const dataDesc = getOwnPropertyDescriptor(value, 'data');
    if (typeDesc === undefined || dataDesc === undefined || !('value' in typeDesc) || !('value' in dataDesc) || typeof typeDesc.value !== 'string') return null;
    return { __proto__: null, mimeType: typeDesc.value, data: dataDesc.value };
  } catch {
    return null;
  }
}

function installArtifacts(global) {
  Object.defineProperty(global, 'artifact', {
    value: function artifact(name, mimeType, data) {
      if (arguments.length < 3) throw new TypeError(`artifact(name, mimeType, data): 3 arguments required, but only ${arguments.length} present`);
      attachArtifact(name, mimeType, data);
    },
    writable: true,
    configurable: true,
  });
}
