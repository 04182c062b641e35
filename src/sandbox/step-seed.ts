import { randomFillSync } from 'node:crypto';

const SEED_BYTES = 32;
// Seeds are cut from a buffer refilled every 128 steps: one CSPRNG call per step cost ~3 µs here, a
// few percent of a stateless run (the same reason Node pools randomUUID). Each byte is used once.
const pool = Buffer.alloc(SEED_BYTES * 128);
let next = pool.length;

/**
 * A new step's seed: 256 random bits. The sandbox keys the step's ChaCha20 with sha256(seed), which
 * crypto.getRandomValues, randomUUID, subtle key generation and Math.random read, so whoever knows the
 * seed can predict all of them: the journal keeps it for replay and no API answers it.
 */
export function newStepSeed(): string {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  const seed = pool.toString('base64url', next, next + SEED_BYTES);
  next += SEED_BYTES;
  return seed;
}
