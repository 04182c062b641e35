import type Koa from 'koa';
import { CustomOAuthError, OAuthError } from '@modelcontextprotocol/sdk/server/auth/errors.js';

export {
  AccessDeniedError,
  InvalidClientError,
  InvalidClientMetadataError,
  InvalidGrantError,
  InvalidRequestError,
  InvalidScopeError,
  InvalidTargetError,
  OAuthError,
  TemporarilyUnavailableError,
  UnauthorizedClientError,
  UnsupportedGrantTypeError,
  UnsupportedResponseTypeError,
  UnsupportedTokenTypeError,
} from '@modelcontextprotocol/sdk/server/auth/errors.js';

/** RFC 7591 §3.2.2; the SDK has no class for it. */
export class InvalidRedirectUriError extends CustomOAuthError {
  constructor(message: string) {
    super('invalid_redirect_uri', message);
  }
}

/** Too many failed attempts for this client: 429 with Retry-After (the code is RFC 8628's). */
export class SlowDownError extends CustomOAuthError {
  readonly retryAfterSecs: number;
  constructor(message: string, retryAfterSecs: number) {
    super('slow_down', message);
    this.retryAfterSecs = retryAfterSecs;
  }
}

const STATUS: Record<string, number> = { invalid_client: 401, slow_down: 429, server_error: 500, temporarily_unavailable: 503 };

/**
 * OAuth endpoints answer errors in RFC 6749 §5.2 form (`{ error, error_description }`), not the
 * product's `{ error, message }`, because OAuth client libraries parse them.
 */
export async function oauthErrors(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    ctx.status = STATUS[err.errorCode] ?? 400;
    if (err.errorCode === 'invalid_client' && /^Basic /i.test(ctx.get('authorization'))) {
      ctx.set('WWW-Authenticate', 'Basic realm="raftbox"');
    }
    if (err instanceof SlowDownError) ctx.set('Retry-After', String(err.retryAfterSecs));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = err.toResponseObject();
  }
}
