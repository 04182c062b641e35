// autocannon ships no types; this is the part bench/http.ts, bench/http-cpu.ts and the load-test runner (bench/runner/) use.
declare module 'autocannon' {
  interface Request {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
    /** Called as each request is built; returning null or undefined goes back to the first request. */
    setupRequest?: (request: Request, context: Record<string, unknown>) => Request | null | undefined;
    onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string>) => void;
  }
  interface Client {
    setRequests(requests: Request[]): void;
  }
  interface Options {
    url: string | string[];
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    connections?: number;
    duration?: number;
    /** Requests per second over all connections; each connection sends its share back to back each second. */
    overallRate?: number;
    /** Seconds before a request counts as timed out and its connection is reopened. */
    timeout?: number;
    /** Called once per connection as it is created. */
    setupClient?: (client: Client) => void;
  }
  interface Result {
    errors: number;
    timeouts: number;
    non2xx: number;
  }
  interface Instance extends PromiseLike<Result> {
    on(event: 'response', listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  }
  export default function autocannon(opts: Options): Instance;
}
