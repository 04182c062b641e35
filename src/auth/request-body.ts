import type Koa from 'koa';
import { InvalidRequestError } from './oauth-errors.ts';

const LIMIT_BYTES = 32 * 1024;

/**
 * The parameters of an OAuth POST. Form bodies are read here because the app's own body parser only
 * knows JSON and scripts; a JSON body (client registration) it has already parsed is taken as is.
 */
export async function requestBody(ctx: Koa.Context): Promise<unknown> {
  const unread = !ctx.req.readableEnded;
  if (ctx.is('application/x-www-form-urlencoded') && unread) {
    const params = new URLSearchParams(await readText(ctx));
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of params) out[k] = k in out ? ([] as string[]).concat(out[k]!, v) : v;
    return out;
  }
  if (ctx.request.body !== undefined) return ctx.request.body;
  if (ctx.is('application/json') && unread) {
    try {
      return JSON.parse(await readText(ctx)) as unknown;
    } catch {
      throw new InvalidRequestError('malformed JSON body');
    }
  }
  return {};
}

async function readText(ctx: Koa.Context): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > LIMIT_BYTES) throw new InvalidRequestError('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
