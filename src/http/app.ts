import Koa from 'koa';
import { bodyParser } from '@koa/bodyparser';
import type { Logger } from 'pino';
import { errorAnswers } from './errors.ts';
import { requestLog } from '../observability/index.ts';
import { healthRoutes, type Readiness } from './health.ts';
import type { AuthGate } from './guard.ts';

/** Content types whose body is a raw script (MCP-V8: `curl --data-binary @script.js`). */
export const SCRIPT_TYPES = ['text/plain', 'application/javascript', 'text/javascript', 'application/typescript', 'text/typescript'];

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
}

/**
 * The Koa app of a node: request ids and logs, one error answerer, a capped body parser (JSON, or a
 * raw script as text), health, then the product's routes.
 */
export function createApp(opts: AppOptions): Koa {
  const app = new Koa({ proxy: false });
  app.silent = true; // errors are answered and logged by errorAnswers, not printed by Koa
  app.use(requestLog(opts.log));
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
