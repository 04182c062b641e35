import type Koa from 'koa';
import { InvalidRequestError } from './oauth-errors.ts';
import { requestBody } from './request-body.ts';

/** An OAuth request's parameters, each given once. */
export type Form = Record<string, string>;

/** The request body's parameters as single strings; a repeated parameter is malformed (RFC 6749 §3.1). */
export async function formOf(ctx: Koa.Context, malformed: (message: string) => Error = (m) => new InvalidRequestError(m)): Promise<Form> {
  return singleValued(await requestBody(ctx), malformed);
}

/** The same rule for a query string (or any parsed parameters). */
export function singleValued(input: unknown, malformed: (message: string) => Error): Form {
  const out: Form = {};
  if (!input || typeof input !== 'object') return out;
  for (const [k, v] of Object.entries(input)) {
    if (typeof v !== 'string') throw malformed(`parameter ${k} must be given once`);
    out[k] = v;
  }
  return out;
}
