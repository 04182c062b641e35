import type Koa from 'koa';
import { UserError } from '../errors.ts';

const LOOPBACK_HOSTNAMES = ['localhost', '127.0.0.1', '[::1]'];
const HOST_MEMO_ENTRIES = 256;

/** Whether a listen address only accepts connections from this machine. */
export function isLoopbackAddress(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host);
}

/**
 * DNS-rebinding and cross-site protection (MCP transports, "Security Warning": servers MUST validate
 * `Origin`). A web page can make a visitor's browser call a node two ways: by rebinding its own name to
 * the node's address (the request then carries the page's name in `Host`), or with a cross-site "simple"
 * request (a text/plain POST to /api/exec is a script; `Origin` names the other site). So:
 * - a node listening on loopback answers only requests addressed to a loopback name or to the
 *   configured public origin (a local load balancer passes the client's `Host` through);
 * - an `Origin`, when a browser sends one, must be the request's own origin, a loopback origin on a
 *   loopback node, the public origin, or one opened to CORS with `--cors-origins`.
 * A node listening beyond loopback is reached under names it cannot know, so only `Origin` is checked;
 * there OAuth is what keeps other sites out.
 */
export function originCheck(opts: { listenHost: string; publicOrigins: string[]; corsOrigins?: readonly string[] }): Koa.Middleware {
  const loopback = isLoopbackAddress(opts.listenHost);
  const allowed = new Set([...(loopback ? LOOPBACK_HOSTNAMES : []), ...opts.publicOrigins.map((o) => new URL(o).hostname)]);
  // Origins the operator opened to CORS (--cors-origins) may call it from their pages; `*` means any.
  const corsOrigins = new Set(opts.corsOrigins ?? []);
  const corsAllows = (origin: string) => corsOrigins.has('*') || corsOrigins.has(origin);
  const refuse = (what: string) => new UserError(403, 'forbidden', `${what} is not allowed to call this node (DNS rebinding / cross-site protection)`);
  // Parsing the Host as a URL on every request was ~6 µs of it (profiled), for the same few values. A
  // caller can send any Host, so the memo of verdicts is bounded and starts over when full.
  const hostVerdicts = new Map<string, boolean>();
  const hostAllowed = (host: string): boolean => {
    let ok = hostVerdicts.get(host);
    if (ok === undefined) {
      ok = allowed.has(hostnameOf(`http://${host}`));
      if (hostVerdicts.size >= HOST_MEMO_ENTRIES) hostVerdicts.clear();
      hostVerdicts.set(host, ok);
    }
    return ok;
  };
  return (ctx, next) => {
    const host = ctx.get('host');
    if (loopback && !hostAllowed(host)) throw refuse(`Host "${host}"`);
    const origin = ctx.get('origin');
    if (origin && !allowed.has(hostnameOf(origin)) && originHost(origin) !== host && !corsAllows(origin)) throw refuse(`Origin "${origin}"`);
    return next();
  };
}

/** '' for anything that is not a URL (e.g. the opaque `Origin: null`), which no allow-list contains. */
function hostnameOf(url: string): string {
  return URL.canParse(url) ? new URL(url).hostname : '';
}

function originHost(origin: string): string | null {
  return URL.canParse(origin) ? new URL(origin).host : null;
}
