import { decodeJwt, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Json } from '../store/index.ts';
import { fetchableUrl, type FetchPolicy } from './guarded-fetch.ts';
import { InvalidClientError, InvalidClientMetadataError } from './oauth-errors.ts';
import { ASYMMETRIC_JWS_ALGS } from './types.ts';

/**
 * Client authentication with a signed JWT (RFC 7523 §2.2, OpenID's `private_key_jwt`): the client
 * proves itself with an assertion signed by a key whose public half it registered (`jwks`, or at a
 * `jwks_uri`: remote-key-sets.ts), so no shared secret exists. SEP-1046's client-credentials extension,
 * confidential metadata-document clients and operator-configured machine clients use it.
 */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** An assertion may live this long at most: its jti is remembered (replicated) until its exp. */
const MAX_LIFETIME_SECS = 600;
const CLOCK_SKEW_SECS = 30;
/** Keys a client may register inline. */
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
  clientId: string,
  keys: JWTVerifyGetKey,
  audiences: string[],
  nowSecs: number,
): Promise<{ jti: string; exp: number }> {
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, keys, {
      issuer: clientId,
      subject: clientId,
      audience: audiences,
      algorithms: ASYMMETRIC_JWS_ALGS,
      requiredClaims: ['exp', 'jti'],
      currentDate: new Date(nowSecs * 1000),
      clockTolerance: CLOCK_SKEW_SECS,
    }));
  } catch (err) {
    // jose's messages name the check that failed ('unexpected "aud" claim value', 'signature verification failed') and never
    // the token; a key set that could not be fetched says why (guarded-fetch.ts).
    const why = err instanceof Error ? err.message : 'invalid';
    throw new InvalidClientError(`client_assertion is not acceptable (${why}): it must be signed with a registered key, iss and sub the client id, aud ${audiences.join(' or ')}`);
  }
  const exp = payload.exp!;
  if (exp - nowSecs > MAX_LIFETIME_SECS) throw new InvalidClientError(`client_assertion lives too long: exp at most ${MAX_LIFETIME_SECS} s ahead`);
  if (typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 256) throw new InvalidClientError('client_assertion needs a jti of 1-256 characters');
  return { jti: payload.jti, exp };
}

/**
 * Registration (RFC 7591 §2): a private_key_jwt client's public keys, inline (`jwks`) or at a `jwks_uri`
 * the policy lets this server fetch (checked here, fetched when an assertion arrives); never both.
 */
export function clientKeys(meta: { jwks?: unknown; jwks_uri?: string | undefined }, policy: FetchPolicy): { jwks: { keys: Json[] } } | { jwksUri: string } {
  if (meta.jwks !== undefined && meta.jwks_uri !== undefined) throw new InvalidClientMetadataError('give jwks or jwks_uri, not both');
  if (meta.jwks_uri !== undefined) {
    try {
      fetchableUrl(meta.jwks_uri, policy, 'jwks_uri');
    } catch (err) {
      throw new InvalidClientMetadataError((err as Error).message);
    }
    return { jwksUri: meta.jwks_uri };
  }
  const problem = keySetProblem(meta.jwks, MAX_KEYS);
  if (problem) throw new InvalidClientMetadataError(meta.jwks === undefined ? 'private_key_jwt needs the client\'s public keys: jwks or jwks_uri' : `jwks ${problem}`);
  return { jwks: meta.jwks as { keys: Json[] } };
}

/** Why `jwks` is not a set of 1 to `maxKeys` public signing keys (no private members, no symmetric keys); null when it is. */
export function keySetProblem(jwks: unknown, maxKeys: number): string | null {
  const keys = (jwks as { keys?: unknown } | null | undefined)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > maxKeys) return `must hold 1 to ${maxKeys} public keys`;
  for (const key of keys) {
    if (typeof key !== 'object' || key === null || !['EC', 'RSA', 'OKP'].includes((key as { kty?: unknown }).kty as string)) {
      return 'must hold EC, RSA or OKP public keys only';
    }
    if (PRIVATE_MEMBERS.some((m) => m in key)) return 'must hold public keys only';
  }
  return null;
}
