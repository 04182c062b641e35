import { errors, jwtVerify, SignJWT, type JWTHeaderParameters } from 'jose';
import { randomToken } from './secrets.ts';
import { SIGNING_ALG, type SigningKeys } from './signing-keys.ts';
import type { OAuthStore } from './oauth-state.ts';
import { TokenRejected, type TokenVerifier, type VerifiedToken } from './types.ts';

// RFC 9068 access-token type: keeps our other JWTs (consent tickets) from ever passing as access tokens.
const ACCESS_TOKEN_TYP = 'at+jwt';

export interface AccessTokenGrant {
  subject: string;
  clientId: string;
  scope: string;
}

export interface IssuedAccessToken {
  token: string;
  jti: string;
  exp: number;
  expiresIn: number;
}

/** Built-in ES256 JWT access tokens: issued here, verified on any node from the replicated keys and revocations. */
export class AccessTokens implements TokenVerifier {
  private readonly keys: SigningKeys;
  private readonly store: OAuthStore;
  private readonly opts: { issuer: string; resource: string; ttlSecs: number; nowSecs: () => number };
  constructor(
    keys: SigningKeys,
    store: OAuthStore,
    opts: { issuer: string; resource: string; ttlSecs: number; nowSecs: () => number },
  ) {
    this.keys = keys;
    this.store = store;
    this.opts = opts;
  }

  /** Claims are fixed here; `exp` and `jti` are returned so the caller can record them in the command log. */
  async issue(grant: AccessTokenGrant): Promise<IssuedAccessToken> {
    const { kid, key } = await this.keys.active();
    const iat = this.opts.nowSecs();
    const exp = iat + this.opts.ttlSecs;
    const jti = randomToken(16);
    const token = await new SignJWT({ scope: grant.scope, client_id: grant.clientId })
      .setProtectedHeader({ alg: SIGNING_ALG, typ: ACCESS_TOKEN_TYP, kid })
      .setIssuer(this.opts.issuer)
      .setAudience(this.opts.resource)
      .setSubject(grant.subject)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(key);
    return { token, jti, exp, expiresIn: this.opts.ttlSecs };
  }

  async verify(token: string): Promise<VerifiedToken> {
    const claims = await this.verifyClaims(token);
    if (this.store.isRevoked(claims.jti)) throw new TokenRejected('token has been revoked');
    return claims;
  }

  /** Signature, type, issuer, audience and lifetime; revocation is the caller's business (introspection reports it as inactive). */
  async verifyClaims(token: string): Promise<VerifiedToken & { jti: string }> {
    try {
      const { payload } = await jwtVerify(token, (header: JWTHeaderParameters) => this.keyFor(header), {
        algorithms: [SIGNING_ALG],
        typ: ACCESS_TOKEN_TYP,
        issuer: this.opts.issuer,
        audience: this.opts.resource,
        requiredClaims: ['exp', 'iat', 'jti', 'sub'],
        currentDate: new Date(this.opts.nowSecs() * 1000),
      });
      if (typeof payload.scope !== 'string' || typeof payload.client_id !== 'string') {
        throw new TokenRejected('token lacks scope or client_id');
      }
      return {
        subject: payload.sub!,
        scopes: payload.scope.split(' ').filter(Boolean),
        clientId: payload.client_id,
        expiresAt: payload.exp!,
        jti: payload.jti!,
      };
    } catch (err) {
      throw asRejection(err);
    }
  }

  private async keyFor(header: JWTHeaderParameters) {
    let key = header.kid ? await this.keys.verificationKey(header.kid) : undefined;
    if (!key && header.kid) {
      // A key installed by another node may not be applied here yet: catch up once before refusing.
      await this.store.sync();
      key = await this.keys.verificationKey(header.kid);
    }
    if (!key) throw new TokenRejected('token is signed by a key this server does not trust');
    return key;
  }
}

/** jose's errors become caller-safe messages; anything else (a bug, a store failure) is not a token problem. */
export function asRejection(err: unknown): Error {
  if (err instanceof TokenRejected) return err;
  if (err instanceof errors.JWTExpired) return new TokenRejected('token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) return new TokenRejected(`token ${err.claim} claim is not acceptable`);
  if (err instanceof errors.JOSEError) return new TokenRejected('token is malformed or its signature does not verify');
  return err as Error;
}
