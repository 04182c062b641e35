import { randomBytes } from 'node:crypto';

/**
 * A new step's seed: 256 random bits. The sandbox keys the step's ChaCha20 with sha256(seed), which
 * crypto.getRandomValues, randomUUID, subtle key generation and Math.random read, so whoever knows the
 * seed can predict all of them: the journal keeps it for replay and no API answers it.
 */
export function newStepSeed(): string {
  return randomBytes(32).toString('base64url');
}
