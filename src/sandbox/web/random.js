// The step's cryptographically strong generator: ChaCha20 (from @noble/ciphers) keyed with the step's
// 256-bit secret (derived by the host from the journal's seed), read as a keystream. Seeing outputs
// does not reveal the key, so one output does not predict the next, and replay reads the same bytes.
// Bundled into the runtime eagerly: Math.random draws from it.
import { chacha20 } from '@noble/ciphers/chacha.js';

// A step that draws a few values (one Math.random) should not pay for a kilobyte of keystream: the
// first refill after seeding makes one 64-byte block, each next one twice as much, up to 1 kB.
const MAX_BUFFER_BYTES = 1024;
const key = new Uint8Array(32);
const nonce = new Uint8Array(12);
const zeros = new Uint8Array(MAX_BUFFER_BYTES);
let buffer = new Uint8Array(0);
let offset = 0;
let block = 0;
let nextRefillBytes = 64;

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
  buffer = new Uint8Array(0);
  offset = 0;
  nextRefillBytes = 64;
}

function refill() {
  const size = nextRefillBytes;
  buffer = chacha20(key, nonce, zeros.subarray(0, size), new Uint8Array(size), block);
  block += size / 64;
  offset = 0;
  nextRefillBytes = Math.min(size * 2, MAX_BUFFER_BYTES);
}

export function fill(bytes) {
  for (let i = 0; i < bytes.length; i++) {
    if (offset === buffer.length) refill();
    bytes[i] = buffer[offset++];
  }
  return bytes;
}

export function uint32() {
  // Up to three bytes an odd-sized fill() left are skipped: the same ones on every replay.
  if (offset + 4 > buffer.length) refill();
  const b = buffer;
  const o = offset;
  offset += 4;
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}
