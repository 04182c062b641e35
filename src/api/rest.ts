import Router from '@koa/router';
import type Koa from 'koa';
import { z } from 'zod';
import { UserError } from '../errors.ts';
import { SCRIPT_LANGUAGES, SCRIPT_TYPES } from '../http/app.ts';
import { principalOf, type Guard } from '../http/guard.ts';
import { artifactRoutes } from './artifact-routes.ts';
import { isMultipart, readMultipartRun } from './multipart-run.ts';
import type { EdgeDomain } from './domain.ts';
import { OPERATIONS, parseArgs, type EdgeLimits, type Operation } from './operations.ts';
import { openApiDocument } from './openapi.ts';

export const OPENAPI_PATH = '/api/openapi.json';

/**
 * The REST face of the operations table: each operation is one route whose arguments are its path
 * parameters, query string and body (a JSON object, or a raw script as `code`), validated by the same
 * schema the MCP tool uses.
 */
export function restRouter(domain: EdgeDomain, opts: { guard: Guard; limits: EdgeLimits }): Router {
  const router = new Router();
  const doc = openApiDocument();
  router.get(OPENAPI_PATH, (ctx) => {
    ctx.body = doc;
  });
  for (const op of OPERATIONS) {
    router[op.method](op.path, opts.guard(op.scope), async (ctx) => {
      const query = textArgs(op, ctx.query);
      const form = 'files' in op.input.shape && isMultipart(ctx);
      const body = form ? await formArgs(ctx, op, opts.limits) : bodyArgs(ctx, op);
      if ('code' in op.input.shape && body.code === undefined && query.code === undefined && !form && isEmptyBody(ctx)) {
        throw new UserError(400, 'invalid_params', `empty body: send the code as the body (${SCRIPT_TYPES.join(', ')}) or as JSON {"code": "…"}`);
      }
      // The script's content type names its language; an explicit `language` parameter wins.
      const args = parseArgs(op, { ...scriptLanguage(ctx), ...query, ...body, ...ctx.params });
      const out = await op.call(
        domain,
        args,
        {
          edge: 'rest',
          subject: principalOf(ctx)?.subject,
          scopes: principalOf(ctx)?.scopes,
          signal: abortOnClose(ctx),
          idempotencyKey: ctx.get('idempotency-key') || undefined,
        },
        opts.limits,
      );
      ctx.status = op.restStatus?.(out) ?? 200;
      ctx.body = out;
    });
  }
  artifactRoutes(router, domain, opts.guard);
  return router;
}

export function restRoutes(domain: EdgeDomain, opts: { guard: Guard; limits: EdgeLimits }): Koa.Middleware {
  const router = restRouter(domain, opts);
  const routes = router.routes() as unknown as Koa.Middleware;
  const methods = router.allowedMethods() as unknown as Koa.Middleware;
  // allowedMethods runs after the routes so a known path with the wrong method answers 405, not 404.
  return (ctx, next) => routes(ctx, () => methods(ctx, next));
}

function bodyArgs(ctx: Koa.Context, op: Operation): Record<string, unknown> {
  const body: unknown = ctx.request.body;
  if (ctx.method === 'GET' || ctx.method === 'DELETE') return {};
  if (typeof body === 'string') return body !== '' && ctx.request.is(...SCRIPT_TYPES) ? { code: body } : {};
  if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
    throw new UserError(400, 'invalid_params', 'the JSON body must be an object');
  }
  if (ctx.request.length && !ctx.request.is('json') && !ctx.request.is(...SCRIPT_TYPES) && ctx.get('content-type')) {
    throw new UserError(415, 'unsupported_media_type', `send application/json${'files' in op.input.shape ? ', multipart/form-data' : ''} or a raw script as ${SCRIPT_TYPES.join(', ')}`);
  }
  return (body as Record<string, unknown>) ?? {};
}

function isEmptyBody(ctx: Koa.Context): boolean {
  const body: unknown = ctx.request.body;
  return body === undefined || body === '' || (typeof body === 'object' && body !== null && Object.keys(body).length === 0);
}

function scriptLanguage(ctx: Koa.Context): { language?: 'js' | 'ts' } {
  if (typeof ctx.request.body !== 'string') return {};
  const language = SCRIPT_LANGUAGES[ctx.request.type];
  return language ? { language } : {};
}

/**
 * Query strings and form fields are text: numbers and booleans are read as the operation's schema
 * expects; with `json`, objects (`tags`, `inputs` of a multipart run) are JSON text.
 */
function textArgs(op: Operation, values: Record<string, string | string[] | undefined>, opts: { json?: boolean } = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    const text = Array.isArray(value) ? value.at(-1) : value;
    if (text === undefined) continue;
    const field = op.input.shape[key] as z.ZodType | undefined;
    const inner = field instanceof z.ZodOptional ? (field.def.innerType as z.ZodType) : field;
    if (inner instanceof z.ZodNumber && text.trim() !== '' && Number.isFinite(Number(text))) out[key] = Number(text);
    else if (inner instanceof z.ZodBoolean && (text === 'true' || text === 'false')) out[key] = text === 'true';
    else if (opts.json && inner instanceof z.ZodRecord) out[key] = jsonField(key, text);
    else out[key] = text;
  }
  return out;
}

function jsonField(key: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UserError(400, 'invalid_params', `multipart field ${key} must be a JSON object`);
  }
}

/** A multipart run (multipart-run.ts): its fields read like a query string's, its file parts as `files`. */
async function formArgs(ctx: Koa.Context, op: Operation, limits: EdgeLimits): Promise<Record<string, unknown>> {
  const form = await readMultipartRun(ctx, limits.sandbox);
  const files = Object.keys(form.files).length > 0 ? { files: form.files } : {};
  return { ...textArgs(op, form.fields, { json: true }), ...files };
}

function abortOnClose(ctx: Koa.Context): AbortSignal {
  const ac = new AbortController();
  ctx.res.once('close', () => {
    if (!ctx.res.writableFinished) ac.abort();
  });
  return ac.signal;
}
