// node:crypto for the sandbox: hashes and HMAC from @noble/hashes; randomness from the isolate's
// `crypto.getRandomValues`, which the runtime seeds per step (so a session replays the same bytes).
// `webcrypto`/`subtle` are the isolate's own `crypto` global.
const { Buffer } = require('buffer');
const { md5, sha1, ripemd160 } = require('@noble/hashes/legacy.js');
const { sha224, sha256, sha384, sha512, sha512_224, sha512_256 } = require('@noble/hashes/sha2.js');
const { sha3_224, sha3_256, sha3_384, sha3_512 } = require('@noble/hashes/sha3.js');
const { hmac } = require('@noble/hashes/hmac.js');

const HASHES = {
  md5,
  sha1,
  ripemd160,
  rmd160: ripemd160,
  sha224,
  sha256,
  sha384,
  sha512,
  'sha512-224': sha512_224,
  'sha512-256': sha512_256,
  'sha3-224': sha3_224,
  'sha3-256': sha3_256,
  'sha3-384': sha3_384,
  'sha3-512': sha3_512,
};

function hashOf(algorithm) {
  const name = typeof algorithm === 'string' ? algorithm.toLowerCase().replace(/^rsa-/, '') : '';
  const hash = Object.hasOwn(HASHES, name) ? HASHES[name] : undefined;
  if (hash === undefined) {
    throw new Error(`Digest method not supported: ${String(algorithm)} (available: ${Object.keys(HASHES).join(', ')})`);
  }
  return hash;
}

function bytesOf(data, encoding, what) {
  if (typeof data === 'string') return Buffer.from(data, encoding ?? 'utf8');
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError(`The "${what}" argument must be of type string or an instance of Buffer, TypedArray, or DataView`);
}

class Digest {
  #state;
  #done = false;
  constructor(state) {
    this.#state = state;
  }
  update(data, encoding) {
    if (this.#done) throw new Error('Digest already called');
    this.#state.update(bytesOf(data, encoding, 'data'));
    return this;
  }
  digest(encoding) {
    if (this.#done) throw new Error('Digest already called');
    this.#done = true;
    const out = Buffer.from(this.#state.digest());
    return encoding === undefined || encoding === 'buffer' ? out : out.toString(encoding);
  }
  copy() {
    if (this.#done) throw new Error('Digest already called');
    return new this.constructor(this.#state.clone());
  }
}

class Hash extends Digest {}
class Hmac extends Digest {}

const createHash = (algorithm) => new Hash(hashOf(algorithm).create());
const createHmac = (algorithm, key) => new Hmac(hmac.create(hashOf(algorithm), bytesOf(key, 'utf8', 'key')));
const hash = (algorithm, data, encoding = 'hex') => createHash(algorithm).update(data).digest(encoding);

const MAX_RANDOM_BYTES = 2 ** 31 - 1;

function randomFill(bytes) {
  for (let at = 0; at < bytes.length; at += 65536) globalThis.crypto.getRandomValues(bytes.subarray(at, at + 65536));
  return bytes;
}

function randomBytes(size, callback) {
  if (!Number.isInteger(size) || size < 0 || size > MAX_RANDOM_BYTES) {
    throw new RangeError(`The value of "size" is out of range. It must be >= 0 && <= ${MAX_RANDOM_BYTES}. Received ${size}`);
  }
  const bytes = randomFill(Buffer.alloc(size));
  if (typeof callback !== 'function') return bytes;
  setTimeout(() => callback(null, bytes), 0);
  return undefined;
}

function randomInt(min, max, callback) {
  if (max === undefined || typeof max === 'function') [min, max, callback] = [0, min, max];
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max <= min) {
    throw new RangeError(`The value of "max" is out of range. It must be greater than the value of "min" (${min}). Received ${max}`);
  }
  const range = max - min;
  const limit = 2 ** 48 - (2 ** 48 % range);
  let value;
  do {
    const b = randomFill(new Uint8Array(6));
    value = b[0] * 2 ** 40 + b[1] * 2 ** 32 + b[2] * 2 ** 24 + b[3] * 2 ** 16 + b[4] * 2 ** 8 + b[5];
  } while (value >= limit);
  const result = min + (value % range);
  if (typeof callback !== 'function') return result;
  setTimeout(() => callback(null, result), 0);
  return undefined;
}

function timingSafeEqual(a, b) {
  const x = bytesOf(a, undefined, 'buf1');
  const y = bytesOf(b, undefined, 'buf2');
  if (x.byteLength !== y.byteLength) throw new RangeError('Input buffers must have the same byte length');
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

module.exports = {
  createHash,
  createHmac,
  hash,
  getHashes: () => Object.keys(HASHES),
  randomBytes,
  randomInt,
  randomFillSync: (view) => (randomFill(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)), view),
  randomUUID: () => globalThis.crypto.randomUUID(),
  getRandomValues: (view) => globalThis.crypto.getRandomValues(view),
  timingSafeEqual,
  Hash,
  Hmac,
  get webcrypto() {
    return globalThis.crypto;
  },
  get subtle() {
    return globalThis.crypto.subtle;
  },
};
