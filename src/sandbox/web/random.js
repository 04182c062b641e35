// The step's cryptographically strong generator: ChaCha20 (from @noble/ciphers) keyed with the step's
// 256-bit secret (derived by the host from the journal's seed), read as a keystream. Seeing outputs
// does not reveal the key, so one output does not predict the next, and replay reads the same bytes.
// Bundled into the runtime eagerly: Math.random draws from it.
import { chacha20 } from '@noble/ciphers/chacha.js';

const BUFFER_BYTES = 1024;
const key = new Uint8Array(32);
const nonce = new Uint8Array(12);
const zeros = new Uint8Array(BUFFER_BYTES);
let buffer = new Uint8Array(BUFFER_BYTES);
let offset = BUFFER_BYTES;
let block = 0;

/** Keys the generator with eight 32-bit words (little-endian) and restarts its stream. */
export function seed(words) {
  for (let i = 0; i < 8; i++) {
    const w = words[i] >>> 0;
    key[4 * i] = w & 0xff;
    key[4 * i + 1] = (w >>> 8) & 0xff;
    key[4 * i + 2] = (w >>> 16) & 0xff;
    key[4 * i + 3] = w >>> 24;
  }
  block = 0;
  offset = BUFFER_BYTES;
}

function refill() {
  buffer = chacha20(key, nonce, zeros, new Uint8Array(BUFFER_BYTES), block);
  block += BUFFER_BYTES / 64;
  offset = 0;
}

export function fill(bytes) {
  for (let i = 0; i < bytes.length; i++) {
    if (offset === BUFFER_BYTES) refill();
    bytes[i] = buffer[offset++];
  }
  return bytes;
}

export function uint32() {
  if (offset + 4 > BUFFER_BYTES) refill();
  const b = buffer;
  const o = offset;
  offset += 4;
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}
