import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';
import { errorAnswer, type HostCallAnswer, type HostCallJson, type HostCallLimits, type HostCallPerformer, type HostCallRequest } from '../sandbox/index.ts';
import { CredentialError } from './client-credentials.ts';
import { injectedHeaders, parseInjection, parseOAuthClients, type Injection } from './credentials.ts';
import { appliesTo, hostAndPort, joinSplitRules, matchesRequest, namesAddress, parseRule, type EgressCaller, type EgressRule } from './rules.ts';
import { specialAddressKind } from './special-addresses.ts';

export interface EgressOptions {
  allow: readonly string[];
  inject: readonly string[];
  /** Client-credentials token sources `{oauth:NAME}` can name: NAME → `<token URL> <client id> <secret> [scope …]`. */
  oauthClients?: Record<string, string>;
  timeoutMs: number;
  maxResponseBytes: number;
  maxRecordedBytes: number;
  maxConcurrent: number;
  maxRequests: number;
  /** The cluster's own members (base URLs): refused like private addresses. */
  peers: readonly string[];
  observer?: EgressObserver;
  /** Resolves a host name to its addresses (default: the system resolver, as `getaddrinfo` answers). */
  lookup?: (host: string) => Promise<Array<{ address: string; family: number }>>;
  env?: NodeJS.ProcessEnv;
}

export type EgressOutcome = 'ok' | 'refused' | 'failed' | 'timeout' | 'too_large' | 'cancelled';

export interface EgressObserver {
  /** One `fetch` ended; `rule` is the allowing rule's text ('' when none matched). */
  egressRequest(outcome: EgressOutcome, rule: string, seconds: number, bytesSent: number, bytesReceived: number): void;
}

const MAX_REDIRECTS = 5;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
// Set by the connection itself; a caller's value would be ignored by undici or break the framing.
const DROPPED_HEADERS = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length', 'expect', 'proxy-connection', 'proxy-authorization']);
const SETTING_HINT = 'egress.allow (--egress-allow, RAFTBOX_EGRESS_ALLOW)';

/** Refused by the rules: the message says which request and why, and what setting would allow it. */
class EgressRefused extends Error {}

interface FetchDescription {
  method: string;
  url: string;
  headers: Array<[string, string]>;
  redirect: 'follow' | 'manual' | 'error';
}

/**
 * The sandbox's `fetch`, performed on the host with undici under the operator's rules: a request
 * goes out only when a rule matches its method and URL (each redirect hop again); the address it
 * connects to is resolved here and checked before the connection is made (private, loopback,
 * link-local, multicast and the cluster's own addresses only when an IP or CIDR rule names them),
 * and the connection goes to exactly that address, so DNS rebinding cannot pass the check.
 */
export class Egress {
  readonly #rules: EgressRule[];
  readonly #injections: Injection[];
  readonly #options: EgressOptions;
  readonly #limits: HostCallLimits;
  readonly #policies = new Map<string, CallerPolicy>();
  #peers: Promise<Set<string>> | null = null;

  constructor(options: EgressOptions) {
    this.#options = options;
    this.#rules = joinSplitRules(options.allow).map(parseRule);
    const env = options.env ?? process.env;
    const clients = parseOAuthClients(options.oauthClients ?? {}, env);
    this.#injections = options.inject.map((text) => parseInjection(text, env, clients));
    this.#limits = {
      maxRecordedBytes: options.maxRecordedBytes,
      maxAnswerBytes: options.maxResponseBytes,
      maxConcurrent: options.maxConcurrent,
      maxCalls: options.maxRequests,
    };
  }

  /** The performer of one run's host calls for this caller. */
  performer(caller: EgressCaller): HostCallPerformer {
    const policy = this.#policy(caller);
    return {
      limits: this.#limits,
      perform: (request, signal) => this.#perform(policy, request, signal),
      sendsOut: (request) => {
        const d = readDescription(request.description);
        const url = d === null ? null : URL.parse(d.url);
        return request.kind === 'fetch' && d !== null && url !== null && policy.match(d.method, url) !== null;
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#policies.values()].map((p) => p.agent.close()));
    this.#policies.clear();
  }

  #policy(caller: EgressCaller): CallerPolicy {
    const rules = this.#rules.filter((r) => appliesTo(r, caller));
    const key = rules.map((r) => this.#rules.indexOf(r)).join(',');
    let policy = this.#policies.get(key);
    if (policy === undefined) {
      policy = new CallerPolicy(rules, (address, port) => this.#isPeer(address, port), this.#options.lookup ?? systemLookup);
      this.#policies.set(key, policy);
    }
    return policy;
  }

  async #isPeer(address: string, port: number): Promise<boolean> {
    this.#peers ??= resolvePeers(this.#options.peers, this.#options.lookup ?? systemLookup);
    return (await this.#peers).has(`${address} ${port}`);
  }

  async #perform(policy: CallerPolicy, request: HostCallRequest, signal: AbortSignal): Promise<HostCallAnswer> {
    const started = performance.now();
    const observe = (outcome: EgressOutcome, rule: string, received: number) =>
      this.#options.observer?.egressRequest(outcome, rule, (performance.now() - started) / 1000, request.bytes?.byteLength ?? 0, received);
    if (request.kind !== 'fetch') return errorAnswer('TypeError', `unknown host call ${request.kind}`);
    const description = readDescription(request.description);
    if (description === null) return errorAnswer('TypeError', 'fetch: malformed request description');
    if (this.#rules.length === 0) {
      observe('refused', '', 0);
      return errorAnswer('TypeError', `fetch ${description.method} ${description.url}: egress is not allowed on this node (no rule is configured; ${SETTING_HINT} allows it)`);
    }
    const timeout = AbortSignal.timeout(this.#options.timeoutMs);
    const combined = AbortSignal.any([signal, timeout]);
    let rule = '';
    try {
      const result = await this.#follow(policy, description, request.bytes, combined, (r) => (rule = r));
      observe(result.outcome, rule, result.received);
      return result.answer;
    } catch (err) {
      const label = `fetch ${description.method} ${description.url}`;
      if (err instanceof CredentialError) {
        observe('failed', rule, 0);
        return errorAnswer('TypeError', `${label}: ${err.message}`);
      }
      if (err instanceof EgressRefused || (err as { cause?: unknown })?.cause instanceof EgressRefused) {
        observe('refused', rule, 0);
        return errorAnswer('TypeError', `${label}: ${err instanceof EgressRefused ? err.message : (err as { cause: Error }).cause.message}`);
      }
      if (timeout.aborted) {
        observe('timeout', rule, 0);
        return errorAnswer('TypeError', `${label}: no complete answer within ${this.#options.timeoutMs / 1000} s (egress.timeoutSecs)`);
      }
      if (signal.aborted) {
        observe('cancelled', rule, 0);
        return errorAnswer('AbortError', `${label}: cancelled`);
      }
      observe('failed', rule, 0);
      return errorAnswer('TypeError', `${label}: fetch failed (${networkReason(err)})`);
    }
  }

  /** The request and each redirect hop, each checked against the rules. */
  async #follow(
    policy: CallerPolicy,
    d: FetchDescription,
    bytes: Uint8Array | null,
    signal: AbortSignal,
    matched: (rule: string) => void,
  ): Promise<{ answer: HostCallAnswer; outcome: EgressOutcome; received: number }> {
    let url = parseUrl(d.url);
    let method = d.method;
    let body = bytes;
    let headers = d.headers.filter(([name]) => !DROPPED_HEADERS.has(name.toLowerCase()));
    const injected = new Set<string>();
    for (let hop = 0; ; hop++) {
      const rule = policy.match(method, url);
      if (rule === null) {
        throw new EgressRefused(
          `${hop > 0 ? `the redirect to ${url.href} is refused: ` : ''}no egress rule allows ${method} ${url.origin}${url.pathname} (${SETTING_HINT})`,
        );
      }
      matched(rule.source);
      const extra = await injectedHeaders(this.#injections, url);
      for (const name of extra.keys()) injected.add(name);
      const sent = [...headers.filter(([name]) => !extra.has(name.toLowerCase())), ...extra];
      const response = await undiciFetch(url, {
        method,
        headers: sent,
        body: body === null ? undefined : body,
        redirect: 'manual',
        dispatcher: policy.agent,
        signal,
      });
      const location = response.headers.get('location');
      if (REDIRECT_STATUS.has(response.status) && location !== null && d.redirect !== 'manual') {
        await response.body?.cancel().catch(() => undefined);
        if (d.redirect === 'error') throw new EgressRefused(`redirected to ${location} while its redirect mode is 'error'`);
        if (hop >= MAX_REDIRECTS) throw new EgressRefused(`more than ${MAX_REDIRECTS} redirects`);
        const next = parseUrl(new URL(location, url).href);
        // Fetch §4.4: 303 (and 301/302 after a POST) goes on as a GET without a body.
        if (response.status === 303 ? method !== 'HEAD' : (response.status === 301 || response.status === 302) && method === 'POST') {
          method = 'GET';
          body = null;
          headers = headers.filter(([name]) => !/^content-/i.test(name));
        }
        // The caller's own credentials do not go to another origin.
        if (next.origin !== url.origin) headers = headers.filter(([name]) => !/^(authorization|cookie)$/i.test(name));
        url = next;
        continue;
      }
      const read = await readBody(response.body, this.#options.maxResponseBytes, signal);
      const note: HostCallJson = { rule: rule.source, ...(injected.size > 0 ? { injected: [...injected] } : {}) };
      if (read === 'too_large') {
        return {
          answer: { ...errorAnswer('RangeError', `fetch ${d.method} ${d.url}: the response body is over the limit of ${this.#options.maxResponseBytes} bytes (egress.maxResponseBytes)`), note },
          outcome: 'too_large',
          received: 0,
        };
      }
      const answer: HostCallJson = {
        status: response.status,
        statusText: response.statusText,
        headers: [...response.headers],
        url: url.href,
        redirected: hop > 0,
      };
      return { answer: { answer, bytes: method === 'HEAD' || response.body === null ? null : read, note }, outcome: 'ok', received: read.byteLength };
    }
  }
}

/** The rules that apply to one caller, with the connection pool whose connections they checked. */
class CallerPolicy {
  readonly agent: Agent;
  readonly #rules: EgressRule[];
  constructor(
    rules: EgressRule[],
    isPeer: (address: string, port: number) => Promise<boolean>,
    lookup: (host: string) => Promise<Array<{ address: string; family: number }>>,
  ) {
    this.#rules = rules;
    const connector = buildConnector({});
    this.agent = new Agent({
      connect: (opts, callback) => {
        const scheme = opts.protocol;
        const port = opts.port === '' || opts.port === undefined ? (scheme === 'https:' ? 443 : 80) : Number(opts.port);
        const host = opts.hostname.startsWith('[') ? opts.hostname.slice(1, -1) : opts.hostname;
        this.#pickAddress(scheme, host, port, isPeer, lookup).then(
          (address) => connector({ ...opts, hostname: address, servername: opts.servername ?? (isIP(host) ? undefined : host) }, callback),
          (err: Error) => callback(err, null),
        );
      },
    });
  }

  match(method: string, url: URL): EgressRule | null {
    return this.#rules.find((r) => matchesRequest(r, method, url)) ?? null;
  }

  /** The first address of `host` this caller may connect to; the connection is made to exactly that one. */
  async #pickAddress(
    scheme: string,
    host: string,
    port: number,
    isPeer: (address: string, port: number) => Promise<boolean>,
    lookup: (host: string) => Promise<Array<{ address: string; family: number }>>,
  ): Promise<string> {
    const addresses = isIP(host) !== 0 ? [host] : (await lookup(host)).map((a) => a.address);
    let refusal = `${host} has no address`;
    for (const address of addresses) {
      const kind = specialAddressKind(address) ?? ((await isPeer(address, port)) ? "this cluster's own node" : null);
      if (kind === null || this.#rules.some((r) => namesAddress(r, scheme, address, port))) return address;
      refusal = `${host === address ? address : `${host} resolves to ${address}`}, a ${kind} address, which no egress rule names (an IP or CIDR rule such as ${scheme}//${address.includes(':') ? `[${address}]` : address}:${port} would)`;
    }
    throw new EgressRefused(refusal);
  }
}

async function systemLookup(host: string): Promise<Array<{ address: string; family: number }>> {
  return dnsLookup(host, { all: true, verbatim: true });
}

async function resolvePeers(peers: readonly string[], lookup: (host: string) => Promise<Array<{ address: string; family: number }>>): Promise<Set<string>> {
  const out = new Set<string>();
  for (const peer of peers) {
    const { host, port } = hostAndPort(new URL(peer));
    const addresses = isIP(host) !== 0 ? [host] : await lookup(host).then((a) => a.map((x) => x.address), () => []);
    for (const address of addresses) out.add(`${address} ${port}`);
  }
  return out;
}

function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new EgressRefused(`${text} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new EgressRefused(`only http and https URLs can be fetched, not ${url.protocol}`);
  return url;
}

function readDescription(d: HostCallJson): FetchDescription | null {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return null;
  const { method, url, headers, redirect } = d;
  if (typeof method !== 'string' || typeof url !== 'string' || !Array.isArray(headers)) return null;
  if (redirect !== 'follow' && redirect !== 'manual' && redirect !== 'error') return null;
  const pairs: Array<[string, string]> = [];
  for (const h of headers) {
    if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') return null;
    pairs.push([h[0], h[1]]);
  }
  return { method, url, headers: pairs, redirect };
}

/** The body's bytes, or 'too_large' past `max` (reading stops there). */
async function readBody(body: ReadableStream<Uint8Array> | null, max: number, signal: AbortSignal): Promise<Uint8Array | 'too_large'> {
  if (body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      signal.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel().catch(() => undefined);
        return 'too_large';
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks, size);
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return err instanceof Error ? err.message : String(err);
}
