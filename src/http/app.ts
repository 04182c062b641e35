import Koa from 'koa';
import { bodyParser } from '@koa/bodyparser';
import type { Logger } from 'pino';
import { errorAnswers } from './errors.ts';
import { requestLog } from '../observability/index.ts';
import { healthRoutes, type Readiness } from './health.ts';
import { corsPolicy } from './cors.ts';
import type { AuthGate } from './guard.ts';

/**
 * Content types whose body is a raw script (MCP-V8: `curl --data-binary @script.js`), and the language
 * each one names (text/plain names none: the `language` parameter, default ts, decides).
 */
export const SCRIPT_LANGUAGES: Readonly<Record<string, 'js' | 'ts' | undefined>> = {
  'text/plain': undefined,
  'application/javascript': 'js',
  'text/javascript': 'js',
  'application/typescript': 'ts',
  'text/typescript': 'ts',
  'text/x-typescript': 'ts',
};
export const SCRIPT_TYPES = Object.keys(SCRIPT_LANGUAGES);

export interface AppOptions {
  nodeId: string;
  log: Logger;
  maxBodyBytes: number;
  /** Whether this node should receive traffic; the cluster replaces the single-node answer. */
  readiness: () => Readiness;
  /** Route middleware mounted in order after health: REST, MCP, and later /cluster/*, /metrics, /. */
  routes: Koa.Middleware[];
  /** OAuth: its routes are mounted first; the guards of `routes` come from the same gate. */
  auth?: AuthGate;
  /** Paths that speak JSON-RPC (`/mcp`): a body the parser refuses is answered as a JSON-RPC error. */
  jsonRpcPaths?: readonly string[];
  /** Origins whose pages may call the node (CORS); none by default. */
  corsOrigins?: readonly string[];
}

/**
 * The Koa app of a node: request ids and logs, one error answerer, a capped body parser (JSON, or a
 * raw script as text), health, then the product's routes.
 */
export function createApp(opts: AppOptions): Koa {
  const app = new Koa({ proxy: false });
  app.silent = true; // errors are answered and logged by errorAnswers, not printed by Koa
  app.use(requestLog(opts.log));
  // Before the error answers: a refused request's answer carries the CORS headers too, so a page can read why.
  if (opts.corsOrigins?.length) app.use(corsPolicy(opts.corsOrigins));
  app.use(errorAnswers(opts.log, opts.jsonRpcPaths));
  app.use(
    bodyParser({
      enableTypes: ['json', 'text'],
      // The whole list: the parser merges it into its defaults index by index.
      extendTypes: { text: SCRIPT_TYPES },
      jsonLimit: opts.maxBodyBytes,
      textLimit: opts.maxBodyBytes,
      // MCP-V8 treats a body without Content-Type as JSON.
      detectJSON: (ctx) => !ctx.get('content-type'),
    }),
  );
  if (opts.auth) app.use(opts.auth.routes());
  app.use(healthRoutes(opts.nodeId, opts.readiness).routes());
  for (const routes of opts.routes) app.use(routes);
  return app;
}
