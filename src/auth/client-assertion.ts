import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import type { Json } from '../store/index.ts';
import { InvalidClientError, InvalidClientMetadataError } from './oauth-errors.ts';
import { ASYMMETRIC_JWS_ALGS } from './types.ts';

/**
 * Client authentication with a signed JWT (RFC 7523 §2.2, OpenID's `private_key_jwt`): the client
 * proves itself with an assertion signed by a key whose public half it registered (`jwks`), so no
 * shared secret exists. SEP-1046's client-credentials extension and confidential metadata-document
 * clients use it.
 */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** An assertion may live this long at most: its jti is remembered (replicated) until its exp. */
const MAX_LIFETIME_SECS = 600;
const CLOCK_SKEW_SECS = 30;
const MAX_KEYS = 10;
// Members only a private or symmetric key has.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

/** The client id an assertion names (its `iss`), read before verifying it: which client's keys to verify with. */
export function assertedClientId(assertion: string): string {
  let iss: unknown;
  try {
    iss = decodeJwt(assertion).iss;
  } catch {
    throw new InvalidClientError('client_assertion is not a JWT');
  }
  if (typeof iss !== 'string' || !iss) throw new InvalidClientError('client_assertion has no iss (the client id)');
  return iss;
}

/**
 * Verifies an assertion for `clientId` with its registered keys: signature, `iss` = `sub` = the client,
 * `aud` one of `audiences` (the issuer or the endpoint), `exp` within MAX_LIFETIME_SECS, a `jti`.
 * Answers what to spend so it cannot be presented again.
 */
export async function verifyClientAssertion(
  assertion: string,
  client: { clientId: string; jwks: { keys: Json[] } },
  audiences: string[],
  nowSecs: number,
): Promise<{ jti: string; exp: number }> {
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, createLocalJWKSet(client.jwks as unknown as JSONWebKeySet), {
      issuer: client.clientId,
      subject: client.clientId,
      audience: audiences,
      algorithms: ASYMMETRIC_JWS_ALGS,
      requiredClaims: ['exp', 'jti'],
      currentDate: new Date(nowSecs * 1000),
      clockTolerance: CLOCK_SKEW_SECS,
    }));
  } catch (err) {
    // jose's messages name the check that failed ('"aud" claim check failed', 'signature verification failed') and never the token.
    const why = err instanceof Error ? err.message : 'invalid';
    throw new InvalidClientError(`client_assertion is not acceptable (${why}): it must be signed with a registered key, iss and sub the client id, aud ${audiences.join(' or ')}`);
  }
  const exp = payload.exp!;
  if (exp - nowSecs > MAX_LIFETIME_SECS) throw new InvalidClientError(`client_assertion lives too long: exp at most ${MAX_LIFETIME_SECS} s ahead`);
  if (typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 256) throw new InvalidClientError('client_assertion needs a jti of 1-256 characters');
  return { jti: payload.jti, exp };
}

/** Registration (RFC 7591 `jwks`): 1-10 public signing keys, no private members, no symmetric keys. */
export function checkJwks(jwks: unknown): { keys: Json[] } {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_KEYS) {
    throw new InvalidClientMetadataError(`private_key_jwt needs jwks with 1 to ${MAX_KEYS} public keys (jwks_uri is not supported)`);
  }
  for (const key of keys) {
    if (typeof key !== 'object' || key === null || !['EC', 'RSA', 'OKP'].includes((key as { kty?: unknown }).kty as string)) {
      throw new InvalidClientMetadataError('jwks keys must be EC, RSA or OKP public keys');
    }
    if (PRIVATE_MEMBERS.some((m) => m in key)) throw new InvalidClientMetadataError('jwks must hold public keys only');
  }
  return { keys: keys as Json[] };
}
