import type Koa from 'koa';
import type { OAuthProtectedResourceMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';
import { SUPPORTED_SCOPES } from './types.ts';

const WELL_KNOWN = '/.well-known/oauth-protected-resource';
/** The protected parts of the surface; each also gets the RFC 9728 §3.1 path-specific metadata document. */
const PROTECTED_PATHS = ['/mcp', '/api'] as const;

/**
 * RFC 9728 protected-resource metadata. `resource` is the canonical resource URI (an origin, no
 * trailing slash): the audience of every token this server accepts.
 */
export class ProtectedResource {
  readonly resource: string;
  private readonly authorizationServer: string;
  constructor(
    resource: string,
    authorizationServer: string,
  ) {
    this.resource = resource;
    this.authorizationServer = authorizationServer;
  }

  /** Where a 401 for `requestPath` sends the client (RFC 9728 §5.1). */
  metadataUrl(requestPath: string): string {
    const sub = PROTECTED_PATHS.find((p) => requestPath === p || requestPath.startsWith(`${p}/`));
    return `${this.resource}${WELL_KNOWN}${sub ?? ''}`;
  }

  /** Resource identifiers a client may name in `resource` (RFC 8707): ours, or one of our protected paths. */
  accepts(requested: string): boolean {
    return requested === this.resource || PROTECTED_PATHS.some((p) => requested === `${this.resource}${p}`);
  }

  document(sub = ''): OAuthProtectedResourceMetadata {
    return {
      resource: `${this.resource}${sub}`,
      authorization_servers: [this.authorizationServer],
      scopes_supported: [...SUPPORTED_SCOPES],
      bearer_methods_supported: ['header'],
      resource_name: 'raftbox',
    };
  }

  routes(): Koa.Middleware {
    const docs = new Map<string, OAuthProtectedResourceMetadata>([[WELL_KNOWN, this.document()]]);
    for (const p of PROTECTED_PATHS) docs.set(`${WELL_KNOWN}${p}`, this.document(p));
    return async (ctx, next) => {
      const doc = ctx.method === 'GET' || ctx.method === 'HEAD' ? docs.get(ctx.path) : undefined;
      if (!doc) return next();
      ctx.set('Access-Control-Allow-Origin', '*'); // browser-based MCP clients discover cross-origin
      ctx.set('Cache-Control', 'public, max-age=300');
      ctx.body = doc;
    };
  }
}

/** Normalises a configured base URL to the canonical form: origin only, no trailing slash. */
export function canonicalOrigin(url: string, what: string): string {
  const parsed = new URL(url);
  if ((parsed.pathname !== '/' && parsed.pathname !== '') || parsed.search || parsed.hash) {
    throw new Error(`${what} must be an origin such as https://raftbox.example.com (got ${url})`);
  }
  return parsed.origin;
}

/**
 * Why `requested` is not this server's resource. `localhost` and `127.0.0.1` reach the same node but
 * are different origins (and token audiences), the commonest way to get this wrong, so that case is named.
 */
export function wrongResource(requested: string, expected: string): string {
  const alias = URL.canParse(requested) && new URL(requested).port === new URL(expected).port && [requested, expected].every((u) => /^(localhost|127\.0\.0\.1|\[::1\])$/.test(new URL(u).hostname));
  return `resource must be ${expected}, this server's origin (oauth.resource)${alias ? `; ${requested} reaches the same server but is another origin: use ${expected}` : ''}`;
}
