import { createHash } from 'node:crypto';
import { InvalidRequestError } from './oauth-errors.ts';
import { constantTimeEqual } from './secrets.ts';

// RFC 7636 §4.1/§4.2: a verifier is 43–128 unreserved characters; an S256 challenge is 32 bytes of base64url.
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** Only S256: `plain` would hand the verifier to anyone who sees the authorization request. */
export function checkChallenge(challenge: string | undefined, method: string | undefined): string {
  if (!challenge) throw new InvalidRequestError('code_challenge is required (PKCE)');
  if (method !== 'S256') throw new InvalidRequestError('code_challenge_method must be S256');
  if (!S256_CHALLENGE.test(challenge)) throw new InvalidRequestError('code_challenge is not an S256 challenge');
  return challenge;
}

export function verifierMatches(verifier: string | undefined, challenge: string): boolean {
  if (!verifier || !VERIFIER.test(verifier)) return false;
  return constantTimeEqual(createHash('sha256').update(verifier).digest('base64url'), challenge);
}
