// raftbox's REST API as a typed client: the types are generated from the OpenAPI document by
// openapi-typescript (src/schema.ts, `npm run client` in the repository), the requests are made by
// openapi-fetch, so every path, parameter and answer is checked by the compiler.
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema.ts';

export type { components, paths } from './schema.ts';
type Schemas = components['schemas'];
export type Execution = Schemas['Execution'];
export type ExecutionList = Schemas['ExecutionList'];
export type ExecutionOutput = Schemas['ExecutionOutput'];
export type RunRequest = Schemas['RunRequest'];
export type Session = Schemas['Session'];
export type SessionDetail = Schemas['SessionDetail'];
export type SessionList = Schemas['SessionList'];
export type ApiError = Schemas['Error'];

export type RaftboxApi = Client<paths>;

export interface RaftboxClientOptions {
  /** The node or load balancer, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** A bearer token, or a function answering one per request (so a caller can refresh it); none when OAuth is off. */
  token?: string | (() => string | undefined | Promise<string | undefined>);
  /** A fetch of your own (tests, proxies); default the global one. */
  fetch?: typeof globalThis.fetch;
}

/** An error answer of the API: its HTTP status and the `{error, message}` body. */
export class RaftboxError extends Error {
  override name = 'RaftboxError';
  readonly status: number;
  readonly code: string;
  constructor(status: number, body: ApiError | undefined) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error ?? 'http_error';
  }
}

/** The openapi-fetch client of one raftbox cluster, with the bearer token added to every request. */
export function createRaftboxClient(opts: RaftboxClientOptions): RaftboxApi {
  const client = createClient<paths>({ baseUrl: opts.baseUrl.replace(/\/+$/, ''), ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  const { token } = opts;
  if (token !== undefined) {
    const bearer: Middleware = {
      async onRequest({ request }) {
        const value = typeof token === 'function' ? await token() : token;
        if (value) request.headers.set('authorization', `Bearer ${value}`);
        return request;
      },
    };
    client.use(bearer);
  }
  return client;
}

/** The data of an openapi-fetch answer, or its error thrown as a RaftboxError. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (error !== undefined || data === undefined) throw new RaftboxError(response.status, error as ApiError | undefined);
  return data;
}

const FINISHED = new Set(['completed', 'failed', 'timeout', 'memory_limit', 'cancelled']);

/** Whether an execution has ended (any status but `queued` and `running`). */
export const isFinished = (e: Pick<Execution, 'status'>) => FINISHED.has(e.status);

/**
 * Runs code and answers the finished execution: submits it, then long-polls `GET /api/executions/{id}`
 * (each poll waits up to `pollMs` on the server) until it ends. `onProgress` sees each unfinished record.
 */
export async function run(
  api: RaftboxApi,
  request: RunRequest,
  opts: { pollMs?: number; idempotencyKey?: string; onProgress?: (e: Execution) => void; signal?: AbortSignal } = {},
): Promise<Execution> {
  const pollMs = opts.pollMs ?? 10_000;
  const headers = opts.idempotencyKey ? { 'Idempotency-Key': opts.idempotencyKey } : undefined;
  // A load balancer in session mode keeps a session's steps (and the polls of their runs) on one node, where it is warm.
  const hint = request.session ? { headers: { 'Raftbox-Session': request.session } } : {};
  const signal = opts.signal ? { signal: opts.signal } : {};
  let e = await ok(api.POST('/api/exec', { body: request, params: { query: { wait: pollMs }, ...(headers ? { header: headers } : {}) }, ...hint, ...signal }));
  while (!isFinished(e)) {
    opts.onProgress?.(e);
    e = await ok(api.GET('/api/executions/{execution_id}', { params: { path: { execution_id: e.execution_id }, query: { wait: pollMs } }, ...hint, ...signal }));
  }
  return e;
}
