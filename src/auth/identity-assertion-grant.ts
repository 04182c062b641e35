import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Json } from '../store/index.ts';
import type { AccessTokenGrant } from './access-tokens.ts';
import { keySetProblem } from './client-assertion.ts';
import type { Client } from './client-registry.ts';
import { FetchRefused, fetchableUrl } from './guarded-fetch.ts';
import { InvalidGrantError, InvalidRequestError, InvalidScopeError, TemporarilyUnavailableError, UnauthorizedClientError } from './oauth-errors.ts';
import type { OAuthStore } from './oauth-state.ts';
import type { ProtectedResource } from './protected-resource.ts';
import type { RemoteKeySets } from './remote-key-sets.ts';
import { narrowScope } from './scopes.ts';
import { sha256 } from './secrets.ts';
import { ASYMMETRIC_JWS_ALGS, SUPPORTED_SCOPES } from './types.ts';

/**
 * MCP's enterprise-managed authorization extension (draft-ietf-oauth-identity-assertion-authz-grant):
 * a client signed in at an enterprise IdP trades the user's identity assertion there for an ID-JAG
 * (RFC 8693 token exchange, not our business), and presents it here with the jwt-bearer grant (RFC 7523
 * §2.1). We issue an access token for the user the IdP names, with no sign-in or consent page of ours:
 * the IdP's policy decided.
 *
 * An IdP is trusted only when the operator names it, with its keys and the clients that may present
 * its ID-JAGs. Its users' subjects are its `sub` behind a prefix (by default its issuer and `#`), so
 * two IdPs, or an IdP and a local user, can never share an owner id.
 */
export type EnterpriseIdp = {
  /** Its issuer identifier, exactly as the ID-JAG's `iss` carries it. */
  issuer: string;
  /** Client ids whose ID-JAGs from this IdP are honoured; `*`: any client that authenticates. */
  clients: string[];
  /** The most a token from this IdP may carry; default all of this server's scopes. */
  scopes?: string[];
  /** Put before the IdP's `sub` to make the subject of its users; default `<issuer>#`. */
  subjectPrefix?: string;
} & ({ jwks: { keys: Json[] } } | { jwksUri: string });

const ID_JAG_TYP = 'oauth-id-jag+jwt';
/** An ID-JAG may live this long at most (the draft's example: an hour); its jti is remembered (replicated) until its exp. */
const MAX_LIFETIME_SECS = 3_600;
const CLOCK_SKEW_SECS = 30;
const MAX_IDP_KEYS = 100;
const MAX_SUB_CHARS = 255;

interface TrustedIdp {
  issuer: string;
  keys: JWTVerifyGetKey;
  clients: Set<string>;
  scopes: string[];
  subjectPrefix: string;
}

export interface IdentityAssertionSettings {
  /** Our issuer: the only `aud` an ID-JAG may carry. */
  issuer: string;
  resource: ProtectedResource;
  store: OAuthStore;
  keySets: RemoteKeySets;
  nowSecs: () => number;
}

export class IdentityAssertionGrant {
  readonly #idps = new Map<string, TrustedIdp>();
  readonly #p: IdentityAssertionSettings;

  /** A misconfigured IdP (bad keys, unknown scope, no clients, named twice) stops the node at start, naming it. */
  constructor(idps: EnterpriseIdp[], p: IdentityAssertionSettings) {
    this.#p = p;
    for (const idp of idps) {
      const fail = (why: string) => new Error(`oauth.enterpriseIdps ${idp.issuer}: ${why}`);
      if (this.#idps.has(idp.issuer)) throw fail('is named twice');
      if (idp.clients.length === 0) throw fail('names no clients (use "*" for any client that authenticates)');
      const unknown = (idp.scopes ?? []).filter((s) => !SUPPORTED_SCOPES.includes(s));
      if (unknown.length) throw fail(`unknown scopes ${unknown.join(', ')} (this server's: ${SUPPORTED_SCOPES.join(', ')})`);
      let keys: JWTVerifyGetKey;
      if ('jwksUri' in idp) {
        try {
          fetchableUrl(idp.jwksUri, 'configured', 'jwksUri');
        } catch (err) {
          throw fail((err as Error).message);
        }
        keys = p.keySets.resolver(idp.jwksUri, 'configured');
      } else {
        const problem = keySetProblem(idp.jwks, MAX_IDP_KEYS);
        if (problem) throw fail(`jwks ${problem}`);
        keys = createLocalJWKSet(idp.jwks as unknown as JSONWebKeySet);
      }
      this.#idps.set(idp.issuer, {
        issuer: idp.issuer,
        keys,
        clients: new Set(idp.clients),
        scopes: idp.scopes ?? [...SUPPORTED_SCOPES],
        subjectPrefix: idp.subjectPrefix ?? `${idp.issuer}#`,
      });
    }
  }

  /**
   * The grant an ID-JAG gives `client` (already authenticated): checked as the extension's §5.1 and RFC
   * 7521 §5.2 say, then its jti spent through Raft, so it is honoured once across the cluster.
   */
  async redeem(assertion: string | undefined, client: Client, requestedScope: string | undefined): Promise<AccessTokenGrant> {
    if (!assertion) throw new InvalidRequestError('assertion is required (the ID-JAG)');
    const idp = this.#trustedIssuer(assertion);
    if (!idp.clients.has('*') && !idp.clients.has(client.clientId)) {
      throw new UnauthorizedClientError(`client ${client.clientId} may not present ID-JAGs from ${idp.issuer}`);
    }
    const now = this.#p.nowSecs();
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, idp.keys, {
        typ: ID_JAG_TYP,
        issuer: idp.issuer,
        audience: this.#p.issuer,
        algorithms: ASYMMETRIC_JWS_ALGS,
        requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id', 'resource'],
        // Also refuses an iat in the future.
        maxTokenAge: MAX_LIFETIME_SECS,
        currentDate: new Date(now * 1000),
        clockTolerance: CLOCK_SKEW_SECS,
      }));
    } catch (err) {
      if (err instanceof FetchRefused) throw new TemporarilyUnavailableError(`the keys of ${idp.issuer} cannot be had: ${err.message}`);
      // jose's messages name the failed check ('unexpected "typ" JWT header value', 'unexpected "aud" claim value') and never the token.
      const why = err instanceof Error ? err.message : 'invalid';
      throw new InvalidGrantError(`the assertion is not an acceptable ID-JAG (${why}): typ ${ID_JAG_TYP}, signed by ${idp.issuer}, aud ${this.#p.issuer}`);
    }
    if (payload.exp! - now > MAX_LIFETIME_SECS) throw new InvalidGrantError(`the ID-JAG lives too long: exp at most ${MAX_LIFETIME_SECS} s ahead`);
    if (payload.client_id !== client.clientId) throw new InvalidGrantError('the ID-JAG was issued to another client (its client_id is not the authenticated client)');
    const resources = ([] as unknown[]).concat(payload.resource);
    if (!resources.every((r) => typeof r === 'string' && this.#p.resource.accepts(r))) {
      throw new InvalidGrantError(`the ID-JAG is for another resource: its resource must be ${this.#p.resource.resource}`);
    }
    const sub = payload.sub!;
    if (typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 256) throw new InvalidGrantError('the ID-JAG needs a jti of 1-256 characters');
    if (!sub || sub.length > MAX_SUB_CHARS) throw new InvalidGrantError(`the ID-JAG's sub must be 1-${MAX_SUB_CHARS} characters`);
    const scope = this.#scope(idp, client, payload.scope, requestedScope);
    // Replicated, so the ID-JAG replayed at another node is refused there too; keyed apart from client assertions' jtis.
    const spent = (await this.#p.store.propose({ type: 'oauth.spendAssertion', hash: sha256(JSON.stringify(['id-jag', idp.issuer, payload.jti])), expiresAt: payload.exp! })) as { ok: boolean };
    if (!spent.ok) throw new InvalidGrantError('the ID-JAG was already used (its jti)');
    return { subject: idp.subjectPrefix + sub, clientId: client.clientId, scope };
  }

  /** The configured IdP that issued `assertion` (its unverified `iss`: which keys to verify with). */
  #trustedIssuer(assertion: string): TrustedIdp {
    let iss: unknown;
    try {
      iss = decodeJwt(assertion).iss;
    } catch {
      throw new InvalidGrantError('the assertion is not a JWT');
    }
    const idp = typeof iss === 'string' ? this.#idps.get(iss) : undefined;
    if (!idp) throw new InvalidGrantError(`the assertion's issuer ${String(iss).slice(0, 200)} is not a trusted identity provider`);
    return idp;
  }

  /**
   * What the token may carry: within the IdP's scopes, the client's, and the ID-JAG's own `scope` (the
   * IdP's decision for this user). The request's `scope` may narrow that, never widen it.
   */
  #scope(idp: TrustedIdp, client: Client, granted: unknown, requested: string | undefined): string {
    const clientScopes = client.scope.split(' ');
    const asserted = typeof granted === 'string' ? granted.split(' ') : null;
    const ceiling = idp.scopes.filter((s) => clientScopes.includes(s) && (!asserted || asserted.includes(s)));
    if (requested !== undefined) return narrowScope(requested, ceiling.join(' '));
    if (ceiling.length === 0) throw new InvalidScopeError(`the ID-JAG grants none of the scopes this client may have from ${idp.issuer}`);
    return ceiling.join(' ');
  }
}
