import type Koa from 'koa';

/** Who a request acts for: the domain gets `subject` (ownership), the MCP SDK gets all of it as `AuthInfo`. */
export interface Principal {
  subject: string;
  scopes: string[];
  clientId: string | null;
}

/** A bearer token that checked out, with its expiry (epoch seconds) so callers never cache it longer. */
export interface VerifiedToken extends Principal {
  expiresAt: number;
}

/** Turns a bearer token into a principal, or throws `TokenRejected`. Built-in JWTs and external providers both implement it. */
export interface TokenVerifier {
  verify(token: string): Promise<VerifiedToken>;
}

/** What the HTTP surface mounts: the public OAuth routes, and a guard per protected route. */
export interface AuthGate {
  /** `/.well-known/*` and (built-in server) `/oauth/*`. */
  routes(): Koa.Middleware;
  /** Sets `ctx.state.principal`, or answers 400/401/403 with `WWW-Authenticate`. */
  requireBearer(scope: string): Koa.Middleware;
  /** Stops background work (expiry pruning). */
  close(): void;
  /**
   * How a browser page of this node (the status page) signs a user in at an external provider: its
   * endpoints and the public client registered there for the page. Absent with the built-in server
   * (the page registers itself) and with a provider for which no such client is configured.
   */
  browserSignIn?: BrowserSignIn;
}

export interface BrowserSignIn {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  clientId: string;
}

/** Counted by the node's metrics: a token issued or refreshed at /oauth/token, a bearer token refused, a revocation. */
export type TokenOutcome = 'issued' | 'refreshed' | 'rejected' | 'revoked';
export type TokenObserver = (outcome: TokenOutcome) => void;

/** JWS algorithms accepted for tokens and assertions signed by others: asymmetric only, so no shared secret can forge one. */
export const ASYMMETRIC_JWS_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** RFC 7523 §2.1: an access token for a JWT the client presents; here an enterprise IdP's ID-JAG (identity-assertion-grant.ts). */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export const SCOPES = { run: 'raftbox:run', read: 'raftbox:read' } as const;
export const SUPPORTED_SCOPES: readonly string[] = [SCOPES.run, SCOPES.read];

/** A token that is not acceptable; the message is safe to show the caller (it never contains the token). */
export class TokenRejected extends Error {
  override readonly name = 'TokenRejected';
}
