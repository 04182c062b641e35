import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** A fresh unguessable value (codes, refresh tokens, client secrets, CSRF tokens): 256 bits, base64url. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** The verifier we store for a high-entropy secret: a plain SHA-256 is enough when the secret is random. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

/** Compares secrets without leaking where they differ (or their length: both sides are hashed first). */
export function constantTimeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

// scrypt parameters for operator-chosen secrets (passwords, static client secrets): N=2^15 costs ~0.1 s
// and 32 MiB, so a stolen config is slow to brute-force, while sign-ins stay quick.
const SCRYPT = { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const KEY_LEN = 32;

function scryptAsync(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEY_LEN, opts, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/**
 * Hashes a password (or an operator-chosen client secret) for the config file:
 * `scrypt$N$r$p$salt$hash`. This is what `raftbox hash-password` prints.
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/**
 * Checks a secret against a stored verifier: `scrypt$…` (operator-chosen) or `sha256$…` (secrets we
 * generated). A malformed verifier never matches.
 */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts[0] === 'sha256' && parts.length === 2) return constantTimeEqual(sha256(secret), parts[1]!);
  if (parts[0] !== 'scrypt' || parts.length !== 6) return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every(Number.isSafeInteger) || N > 2 ** 20 || r > 32 || p > 16) return false;
  const key = await scryptAsync(secret, Buffer.from(parts[4]!, 'base64url'), { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  const expected = Buffer.from(parts[5]!, 'base64url');
  return expected.length === key.length && timingSafeEqual(key, expected);
}

/** The stored form of a secret we generated ourselves. */
export function hashGeneratedSecret(secret: string): string {
  return `sha256$${sha256(secret)}`;
}

// Unknown usernames still cost one scrypt, so response time does not tell which users exist.
const DUMMY_HASH = hashPassword(randomToken());
export async function burnPasswordCheck(password: string): Promise<void> {
  await verifySecret(password, await DUMMY_HASH);
}
