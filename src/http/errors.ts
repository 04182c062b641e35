import type Koa from 'koa';
import type { Logger } from 'pino';
import { UserError, invalidParams, payloadTooLarge } from '../errors.ts';

/**
 * The one place that turns what a request threw into an answer: a UserError becomes its status and
 * `{ error, message }` (with Retry-After); the body parser's and router's own HTTP errors are mapped
 * the same way; anything else is a bug, logged with the request id and answered 500 without internals.
 */
export function errorAnswers(log: Logger, jsonRpcPaths: readonly string[] = []): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      // The router leaves unknown paths as a bare 404 and wrong methods as a bare 405 with Allow.
      if (ctx.body == null && ctx.status === 404) throw new UserError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
      if (ctx.body == null && ctx.status === 405) {
        throw new UserError(405, 'method_not_allowed', `${ctx.method} is not allowed on ${ctx.path} (allowed: ${ctx.response.get('allow')})`);
      }
    } catch (err) {
      const known = asUserError(err);
      if (known && !(err instanceof UserError) && jsonRpcPaths.includes(ctx.path)) {
        // The body parser refused a JSON-RPC request: answer as the MCP transport itself would.
        ctx.status = known.status;
        ctx.body = { jsonrpc: '2.0', error: { code: known.code === 'invalid_params' ? -32700 : -32000, message: jsonRpcMessage(known) }, id: null };
        return;
      }
      if (known) {
        ctx.status = known.status;
        ctx.body = { error: known.code, message: known.message };
        if (known.retryAfter !== undefined) ctx.set('Retry-After', String(known.retryAfter));
        return;
      }
      log.error({ err, requestId: ctx.state.requestId }, 'request failed');
      ctx.status = 500;
      ctx.body = { error: 'internal', message: `internal error (request id ${ctx.state.requestId})` };
    }
  };
}

function jsonRpcMessage(e: UserError): string {
  return e.code === 'invalid_params' ? `Parse error: ${e.message}` : e.message;
}

/** A UserError for anything a caller caused, including co-body's and the router's http-errors. */
export function asUserError(err: unknown): UserError | undefined {
  if (err instanceof UserError) return err;
  const e = err as { status?: number; expose?: boolean; type?: string; message?: string; limit?: number };
  if (typeof e?.status !== 'number' || e.status < 400 || e.status >= 500) return undefined;
  if (e.status === 413 || e.type === 'entity.too.large') {
    return payloadTooLarge(`request body is larger than ${e.limit ?? 'the server\'s limit of'} bytes`);
  }
  if (e.type === 'entity.parse.failed' || err instanceof SyntaxError) return invalidParams(`malformed JSON body: ${e.message}`);
  if (e.status === 415) return new UserError(415, 'unsupported_media_type', e.message ?? 'unsupported media type');
  return new UserError(e.status, e.status === 400 ? 'invalid_params' : 'bad_request', e.expose ? (e.message ?? '') : 'bad request');
}
