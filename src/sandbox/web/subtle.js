// crypto.subtle (Web Cryptography API) in pure JavaScript inside the isolate, from the audited noble
// libraries: no call to the host, so a step's crypto costs its own CPU time and replays exactly.
// Randomness (generateKey) comes from the step's ChaCha20 stream; ECDSA signatures are deterministic
// (RFC 6979 nonces), which the standard allows. Algorithms: SHA-1/256/384/512, HMAC, AES-GCM/CBC/CTR,
// ECDSA and ECDH on P-256/P-384/P-521, Ed25519, PBKDF2, HKDF; formats raw and jwk.
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { hmac } from '@noble/hashes/hmac.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { gcm, cbc, ctr } from '@noble/ciphers/aes.js';
import { DOMException } from './dom-exception.js';
import { atob, btoa } from './base64.js';

const HASHES = { 'SHA-1': sha1, 'SHA-256': sha256, 'SHA-384': sha384, 'SHA-512': sha512 };
const CURVES = { 'P-256': p256, 'P-384': p384, 'P-521': p521 };
const NAMES = ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512', 'HMAC', 'AES-GCM', 'AES-CBC', 'AES-CTR', 'ECDSA', 'ECDH', 'Ed25519', 'PBKDF2', 'HKDF'];
const USAGES = ['encrypt', 'decrypt', 'sign', 'verify', 'deriveKey', 'deriveBits', 'wrapKey', 'unwrapKey'];

const fail = (name, message) => new DOMException(message, name);

function normalize(algorithm) {
  const a = typeof algorithm === 'string' ? { name: algorithm } : algorithm;
  if (typeof a !== 'object' || a === null || a.name === undefined) throw new TypeError('Algorithm: name is missing');
  const name = NAMES.find((n) => n.toLowerCase() === String(a.name).toLowerCase());
  if (name === undefined) throw fail('NotSupportedError', `Unrecognized algorithm name: ${String(a.name)}`);
  return { ...a, name };
}

function hashName(hash) {
  const { name } = normalize(hash);
  if (!(name in HASHES)) throw fail('NotSupportedError', `${name} is not a hash algorithm`);
  return name;
}

function bytes(data, what = 'data') {
  if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  throw new TypeError(`${what} is not of type '(ArrayBuffer or ArrayBufferView)'`);
}

const toBuffer = (u8) => u8.slice().buffer;
const b64url = (u8) => btoa(String.fromCharCode(...u8)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
function fromB64url(text, field) {
  if (typeof text !== 'string') throw fail('DataError', `JWK member ${field} is missing`);
  try {
    return Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  } catch {
    throw fail('DataError', `JWK member ${field} is not base64url`);
  }
}

const keyData = new WeakMap();
const constructing = Symbol('CryptoKey');

export class CryptoKey {
  #type;
  #extractable;
  #algorithm;
  #usages;
  constructor(key, type, extractable, algorithm, usages, material) {
    if (key !== constructing) throw new TypeError('Illegal constructor');
    this.#type = type;
    this.#extractable = extractable;
    this.#algorithm = Object.freeze(algorithm);
    this.#usages = Object.freeze([...usages]);
    keyData.set(this, material);
  }
  get type() { return this.#type; }
  get extractable() { return this.#extractable; }
  get algorithm() { return this.#algorithm; }
  get usages() { return this.#usages; }
}
Object.defineProperty(CryptoKey.prototype, Symbol.toStringTag, { value: 'CryptoKey', configurable: true });

function makeKey(type, extractable, algorithm, usages, material, allowed) {
  const list = [...usages].map(String);
  for (const u of list) {
    if (!USAGES.includes(u)) throw new TypeError(`'${u}' is not a valid KeyUsage`);
    if (!allowed.includes(u)) throw fail('SyntaxError', `Cannot create a key using the specified key usages (${u} with ${algorithm.name})`);
  }
  if (list.length === 0 && (type === 'secret' || type === 'private')) throw fail('SyntaxError', 'Usages cannot be empty when creating a key.');
  return new CryptoKey(constructing, type, Boolean(extractable), algorithm, [...new Set(list)], material);
}

function useKey(key, algorithm, usage) {
  if (!(key instanceof CryptoKey)) throw new TypeError("parameter is not of type 'CryptoKey'");
  if (key.algorithm.name !== algorithm.name) throw fail('InvalidAccessError', `The key is for ${key.algorithm.name}, not ${algorithm.name}`);
  if (!key.usages.includes(usage)) throw fail('InvalidAccessError', `The key does not allow '${usage}'`);
  return keyData.get(key);
}

const SECRET_USAGES = { HMAC: ['sign', 'verify'], 'AES-GCM': ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'], 'AES-CBC': ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'], 'AES-CTR': ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'], PBKDF2: ['deriveKey', 'deriveBits'], HKDF: ['deriveKey', 'deriveBits'] };
const PAIR_USAGES = { ECDSA: [['verify'], ['sign']], ECDH: [[], ['deriveKey', 'deriveBits']], Ed25519: [['verify'], ['sign']] };

function secretAlgorithm(alg, length) {
  if (alg.name === 'HMAC') return { name: 'HMAC', hash: { name: hashName(alg.hash) }, length };
  if (alg.name.startsWith('AES-')) {
    if (![128, 192, 256].includes(length)) throw fail('DataError', 'AES key data must be 128, 192 or 256 bits');
    return { name: alg.name, length };
  }
  return { name: alg.name };
}

function curveOf(alg) {
  if (alg.name === 'Ed25519') return null;
  const curve = CURVES[alg.namedCurve];
  if (curve === undefined) throw fail('NotSupportedError', `Unsupported namedCurve: ${String(alg.namedCurve)}`);
  return curve;
}

function pairAlgorithm(alg) {
  return alg.name === 'Ed25519' ? { name: 'Ed25519' } : { name: alg.name, namedCurve: alg.namedCurve };
}

export function createSubtle(randomBytes) {
  function generateSecret(alg, extractable, usages) {
    const length = alg.name === 'HMAC' ? (alg.length ?? HASHES[hashName(alg.hash)].blockLen * 8) : Number(alg.length);
    if (alg.name.startsWith('AES-') && ![128, 192, 256].includes(length)) throw fail('OperationError', 'AES key length must be 128, 192 or 256 bits');
    return makeKey('secret', extractable, secretAlgorithm(alg, length), usages, randomBytes(Math.ceil(length / 8)), SECRET_USAGES[alg.name]);
  }

  function pair(alg, extractable, usages, secret) {
    const curve = curveOf(alg);
    const publicKey = curve === null ? ed25519.getPublicKey(secret) : curve.getPublicKey(secret, false);
    const [pubUsages, privUsages] = PAIR_USAGES[alg.name];
    const list = [...usages].map(String);
    const algorithm = pairAlgorithm(alg);
    return {
      publicKey: makeKey('public', true, algorithm, list.filter((u) => pubUsages.includes(u)), { publicKey }, pubUsages),
      privateKey: makeKey('private', extractable, algorithm, list.filter((u) => privUsages.includes(u)), { secret, publicKey }, privUsages),
    };
  }

  function importJwk(jwk, alg, extractable, usages) {
    if (typeof jwk !== 'object' || jwk === null) throw new TypeError('keyData is not a JsonWebKey');
    if (alg.name in SECRET_USAGES) {
      if (jwk.kty !== 'oct') throw fail('DataError', "JWK kty must be 'oct'");
      const k = fromB64url(jwk.k, 'k');
      return makeKey('secret', extractable, secretAlgorithm(alg, k.length * 8), usages, k, SECRET_USAGES[alg.name]);
    }
    const curve = curveOf(alg);
    if (curve === null ? jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' : jwk.kty !== 'EC' || jwk.crv !== alg.namedCurve) {
      throw fail('DataError', `JWK kty/crv do not match ${alg.name}`);
    }
    const x = fromB64url(jwk.x, 'x');
    const publicKey = curve === null ? x : Uint8Array.of(4, ...x, ...fromB64url(jwk.y, 'y'));
    const [pubUsages, privUsages] = PAIR_USAGES[alg.name];
    if (jwk.d === undefined) return makeKey('public', extractable, pairAlgorithm(alg), usages, { publicKey: checkPoint(curve, publicKey) }, pubUsages);
    const secret = fromB64url(jwk.d, 'd');
    return makeKey('private', extractable, pairAlgorithm(alg), usages, { secret, publicKey }, privUsages);
  }

  function checkPoint(curve, publicKey) {
    try {
      if (curve === null) ed25519.Point.fromBytes(publicKey);
      else curve.Point.fromBytes(publicKey);
    } catch {
      throw fail('DataError', 'The public key is not a valid point on its curve');
    }
    return publicKey;
  }

  function exportJwk(key) {
    const material = keyData.get(key);
    const { name } = key.algorithm;
    if (key.type === 'secret') {
      const jwk = { kty: 'oct', k: b64url(material), ext: key.extractable, key_ops: [...key.usages] };
      if (name === 'HMAC') jwk.alg = `HS${key.algorithm.hash.name.slice(4)}`;
      else if (name.startsWith('AES-')) jwk.alg = `A${material.length * 8}${name.slice(4)}`;
      return jwk;
    }
    const jwk = name === 'Ed25519' ? { kty: 'OKP', crv: 'Ed25519', x: b64url(material.publicKey) } : (() => {
      const size = (material.publicKey.length - 1) / 2;
      return { kty: 'EC', crv: key.algorithm.namedCurve, x: b64url(material.publicKey.slice(1, 1 + size)), y: b64url(material.publicKey.slice(1 + size)) };
    })();
    if (key.type === 'private') jwk.d = b64url(material.secret);
    return { ...jwk, ext: key.extractable, key_ops: [...key.usages] };
  }

  function aes(alg, material, data, encrypting) {
    let cipher;
    if (alg.name === 'AES-GCM') {
      const tagLength = alg.tagLength ?? 128;
      if (tagLength !== 128) throw fail('NotSupportedError', 'Only 128-bit AES-GCM tags are supported here');
      cipher = gcm(material, bytes(alg.iv, 'iv'), alg.additionalData === undefined ? undefined : bytes(alg.additionalData, 'additionalData'));
    } else if (alg.name === 'AES-CBC') {
      const iv = bytes(alg.iv, 'iv');
      if (iv.length !== 16) throw fail('OperationError', 'AES-CBC iv must be 16 bytes');
      cipher = cbc(material, iv);
    } else {
      const counter = bytes(alg.counter, 'counter');
      if (counter.length !== 16 || !(alg.length >= 1 && alg.length <= 128)) throw fail('OperationError', 'AES-CTR counter must be 16 bytes and length 1..128');
      cipher = ctr(material, counter);
    }
    try {
      return toBuffer(encrypting ? cipher.encrypt(data) : cipher.decrypt(data));
    } catch {
      throw fail('OperationError', `The operation failed for an operation-specific reason (${alg.name} ${encrypting ? 'encrypt' : 'decrypt'})`);
    }
  }

  function deriveBits(alg, key, length) {
    const material = useKey(key, alg, 'deriveBits');
    if (length === null || length === undefined) {
      if (alg.name !== 'ECDH') throw fail('OperationError', `${alg.name} needs a length`);
    } else if (Number(length) % 8 !== 0) throw fail('OperationError', 'length must be a multiple of 8');
    const size = length === null || length === undefined ? undefined : Number(length) / 8;
    if (alg.name === 'PBKDF2') {
      if (!(alg.iterations > 0)) throw fail('OperationError', 'iterations must be positive');
      return toBuffer(pbkdf2(HASHES[hashName(alg.hash)], material, bytes(alg.salt, 'salt'), { c: alg.iterations, dkLen: size }));
    }
    if (alg.name === 'HKDF') {
      return toBuffer(hkdf(HASHES[hashName(alg.hash)], material, bytes(alg.salt, 'salt'), bytes(alg.info, 'info'), size));
    }
    if (alg.name === 'ECDH') {
      const peer = alg.public;
      if (!(peer instanceof CryptoKey) || peer.type !== 'public' || peer.algorithm.name !== 'ECDH') throw fail('InvalidAccessError', "ECDH 'public' must be an ECDH public key");
      if (peer.algorithm.namedCurve !== key.algorithm.namedCurve) throw fail('InvalidAccessError', 'The keys are on different curves');
      const shared = CURVES[key.algorithm.namedCurve].getSharedSecret(material.secret, keyData.get(peer).publicKey).slice(1);
      return toBuffer(size === undefined ? shared : shared.slice(0, size));
    }
    throw fail('NotSupportedError', `${alg.name} does not derive bits`);
  }

  const subtle = {
    async digest(algorithm, data) {
      return toBuffer(HASHES[hashName(algorithm)](bytes(data)));
    },
    async generateKey(algorithm, extractable, usages) {
      const alg = normalize(algorithm);
      if (alg.name in SECRET_USAGES && !['PBKDF2', 'HKDF'].includes(alg.name)) return generateSecret(alg, extractable, usages);
      if (alg.name in PAIR_USAGES) {
        const curve = curveOf(alg);
        return pair(alg, extractable, usages, curve === null ? randomBytes(32) : curve.utils.randomSecretKey(randomBytes(curve.lengths.seed)));
      }
      throw fail('NotSupportedError', `${alg.name} keys cannot be generated`);
    },
    async importKey(format, keyData_, algorithm, extractable, usages) {
      const alg = normalize(algorithm);
      if (format === 'jwk') return importJwk(keyData_, alg, extractable, usages);
      if (format !== 'raw') throw fail('NotSupportedError', `Key format '${format}' is not supported here (raw and jwk are)`);
      const raw = bytes(keyData_, 'keyData');
      if (alg.name in SECRET_USAGES) {
        if (alg.name === 'HMAC' && raw.length === 0) throw fail('DataError', 'HMAC key data must not be empty');
        return makeKey('secret', extractable, secretAlgorithm(alg, raw.length * 8), usages, raw, SECRET_USAGES[alg.name]);
      }
      if (alg.name in PAIR_USAGES) {
        const curve = curveOf(alg);
        let publicKey = checkPoint(curve, raw);
        if (curve !== null) publicKey = curve.Point.fromBytes(raw).toBytes(false);
        return makeKey('public', extractable, pairAlgorithm(alg), usages, { publicKey }, PAIR_USAGES[alg.name][0]);
      }
      throw fail('NotSupportedError', `${alg.name} keys cannot be imported`);
    },
    async exportKey(format, key) {
      if (!(key instanceof CryptoKey)) throw new TypeError("parameter 2 is not of type 'CryptoKey'");
      if (!key.extractable) throw fail('InvalidAccessError', 'The key is not extractable');
      if (format === 'jwk') return exportJwk(key);
      if (format !== 'raw') throw fail('NotSupportedError', `Key format '${format}' is not supported here (raw and jwk are)`);
      const material = keyData.get(key);
      if (key.type === 'secret') return toBuffer(material);
      if (key.type === 'public') return toBuffer(material.publicKey);
      throw fail('InvalidAccessError', 'A private key cannot be exported as raw');
    },
    async sign(algorithm, key, data) {
      const alg = normalize(algorithm);
      const material = useKey(key, alg, 'sign');
      const message = bytes(data);
      if (alg.name === 'HMAC') return toBuffer(hmac(HASHES[key.algorithm.hash.name], material, message));
      if (alg.name === 'Ed25519') return toBuffer(ed25519.sign(message, material.secret));
      if (alg.name === 'ECDSA') {
        const curve = CURVES[key.algorithm.namedCurve];
        return toBuffer(curve.sign(HASHES[hashName(alg.hash)](message), material.secret, { prehash: false, lowS: false }));
      }
      throw fail('NotSupportedError', `${alg.name} does not sign`);
    },
    async verify(algorithm, key, signature, data) {
      const alg = normalize(algorithm);
      const material = useKey(key, alg, 'verify');
      const sig = bytes(signature, 'signature');
      const message = bytes(data);
      if (alg.name === 'HMAC') {
        const expected = hmac(HASHES[key.algorithm.hash.name], material, message);
        let diff = expected.length ^ sig.length;
        for (let i = 0; i < expected.length; i++) diff |= expected[i] ^ (sig[i] ?? 0);
        return diff === 0;
      }
      try {
        if (alg.name === 'Ed25519') return ed25519.verify(sig, message, material.publicKey);
        if (alg.name === 'ECDSA') {
          const curve = CURVES[key.algorithm.namedCurve];
          return curve.verify(sig, HASHES[hashName(alg.hash)](message), material.publicKey, { prehash: false, lowS: false });
        }
      } catch {
        return false;
      }
      throw fail('NotSupportedError', `${alg.name} does not verify`);
    },
    async encrypt(algorithm, key, data) {
      const alg = normalize(algorithm);
      return aes(alg, useKey(key, alg, 'encrypt'), bytes(data), true);
    },
    async decrypt(algorithm, key, data) {
      const alg = normalize(algorithm);
      return aes(alg, useKey(key, alg, 'decrypt'), bytes(data), false);
    },
    async deriveBits(algorithm, key, length = null) {
      return deriveBits(normalize(algorithm), key, length);
    },
    async deriveKey(algorithm, key, derivedKeyType, extractable, usages) {
      const alg = normalize(algorithm);
      const target = normalize(derivedKeyType);
      const length = target.name === 'HMAC' ? (target.length ?? HASHES[hashName(target.hash)].blockLen * 8) : Number(target.length);
      useKey(key, alg, 'deriveKey');
      const bits = deriveBits(alg, new CryptoKey(constructing, key.type, false, key.algorithm, ['deriveBits'], keyData.get(key)), length);
      return subtle.importKey('raw', bits, target, extractable, usages);
    },
    async wrapKey() {
      throw fail('NotSupportedError', 'wrapKey is not supported here');
    },
    async unwrapKey() {
      throw fail('NotSupportedError', 'unwrapKey is not supported here');
    },
  };
  return subtle;
}
