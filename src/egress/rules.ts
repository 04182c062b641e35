import { BlockList, isIP } from 'node:net';

/**
 * Egress rules: which requests the sandbox's `fetch` may make. A rule is written
 *
 *   [subject=<s>]… [scope=<s>]… [METHOD[,METHOD…]] <scheme>://<host>[:<port>][<path prefix>]
 *
 * host: a name (`api.example.com`), `*.example.com` (any name below it, not itself), `*` (any name),
 * an IP address (`127.0.0.1`, `[::1]`) or a CIDR range (`10.0.0.0/8`, `[fd00::/8]`); port: a number,
 * `*` for any, or absent for the scheme's default; path: a prefix matched on segment boundaries
 * (`/v1` matches `/v1` and `/v1/x`, not `/v10`). Without methods any method matches; without subjects
 * or scopes the rule applies to every caller, with them only to callers that have one of them.
 */
export interface UrlPattern {
  source: string;
  scheme: 'http:' | 'https:';
  host: HostPattern;
  /** null: any port. */
  port: number | null;
  pathPrefix: string;
}

export type HostPattern =
  | { kind: 'any' }
  | { kind: 'name'; name: string }
  | { kind: 'suffix'; suffix: string }
  /** An IP address or range: the only rules that let a request reach a private or loopback address. */
  | { kind: 'address'; range: BlockList; text: string };

export interface EgressRule extends UrlPattern {
  methods: ReadonlySet<string> | null;
  subjects: ReadonlySet<string>;
  scopes: ReadonlySet<string>;
}

/** Who is calling: the rules with subjects or scopes apply only to callers that match. */
export interface EgressCaller {
  subject: string | null;
  scopes: readonly string[];
}

export class EgressRuleError extends Error {
  override readonly name = 'EgressRuleError';
}

const METHOD = /^[A-Za-z]+$/;

/**
 * A comma-separated flag or variable splits `GET,POST https://…` into `GET` and `POST https://…`: an
 * entry without a URL pattern is joined back (with its comma) to the entry after it.
 */
export function joinSplitRules(entries: readonly string[]): string[] {
  const out: string[] = [];
  let pending = '';
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    const joined = pending === '' ? entry : `${pending},${entry}`;
    if (entry.includes('://')) {
      out.push(joined);
      pending = '';
    } else {
      pending = joined;
    }
  }
  if (pending !== '') throw new EgressRuleError(`egress rule "${pending}" has no URL pattern (scheme://host[:port][/path])`);
  return out;
}

export function parseRule(text: string): EgressRule {
  const words = text.trim().split(/\s+/);
  const subjects = new Set<string>();
  const scopes = new Set<string>();
  let methods: Set<string> | null = null;
  let pattern: UrlPattern | null = null;
  for (const word of words) {
    if (pattern !== null) throw new EgressRuleError(`egress rule "${text}": nothing may follow the URL pattern (found "${word}")`);
    if (word.startsWith('subject=')) subjects.add(word.slice('subject='.length));
    else if (word.startsWith('scope=')) scopes.add(word.slice('scope='.length));
    else if (word.includes('://')) pattern = parseUrlPattern(word);
    else if (methods === null && word.split(',').every((m) => METHOD.test(m))) methods = new Set(word.split(',').map((m) => m.toUpperCase()));
    else throw new EgressRuleError(`egress rule "${text}": "${word}" is not a method list, subject=…, scope=… or URL pattern`);
  }
  if (pattern === null) throw new EgressRuleError(`egress rule "${text}" has no URL pattern (scheme://host[:port][/path])`);
  return { ...pattern, source: text.trim(), methods, subjects, scopes };
}

export function parseUrlPattern(text: string): UrlPattern {
  const fail = (why: string) => new EgressRuleError(`egress URL pattern "${text}": ${why}`);
  const m = /^([a-z]+):\/\/(\[[^\]]*\]|[^/:[\]]+(?:\/\d{1,3}(?=$|[:/]))?)(?::(\d{1,5}|\*))?(\/.*)?$/i.exec(text);
  if (!m) throw fail('expected scheme://host[:port][/path]');
  const scheme = `${m[1]!.toLowerCase()}:`;
  if (scheme !== 'http:' && scheme !== 'https:') throw fail('the scheme must be http or https');
  const host = parseHost(m[2]!, fail);
  const port = m[3] === '*' ? null : m[3] === undefined ? (scheme === 'https:' ? 443 : 80) : Number(m[3]);
  if (port !== null && (port < 1 || port > 65535)) throw fail('the port must be 1-65535 or *');
  let pathPrefix = m[4] ?? '/';
  try {
    // The same normalization requests get (percent-encoding, dot segments).
    pathPrefix = new URL(pathPrefix, 'http://x').pathname;
  } catch {
    throw fail('the path is not a URL path');
  }
  return { source: text, scheme, host, port, pathPrefix };
}

function parseHost(text: string, fail: (why: string) => Error): HostPattern {
  if (text === '*') return { kind: 'any' };
  const bracketed = text.startsWith('[');
  const inner = bracketed ? text.slice(1, -1) : text;
  const [address, length] = inner.split('/') as [string, string | undefined];
  const family = isIP(address);
  if (family !== 0) {
    if (bracketed !== (family === 6)) throw fail('an IPv6 address goes in brackets ([::1]), an IPv4 address does not');
    const type = family === 6 ? 'ipv6' : 'ipv4';
    const range = new BlockList();
    const prefix = length === undefined ? (family === 6 ? 128 : 32) : Number(length);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) throw fail(`the prefix length must be 0-${family === 6 ? 128 : 32}`);
    range.addSubnet(address, prefix, type);
    return { kind: 'address', range, text: inner };
  }
  if (bracketed || length !== undefined) throw fail(`"${text}" is not an IP address or range`);
  const wildcard = text.startsWith('*.');
  const name = wildcard ? text.slice(2) : text;
  if (name.includes('*')) throw fail('a wildcard is only allowed as the first label (*.example.com) or alone (*)');
  let normalized: string;
  try {
    normalized = new URL(`http://${name}/`).hostname;
  } catch {
    throw fail(`"${name}" is not a host name`);
  }
  return wildcard ? { kind: 'suffix', suffix: `.${normalized}` } : { kind: 'name', name: normalized };
}

/** The URL's host without IPv6 brackets, and its port (the scheme's default when absent). */
export function hostAndPort(url: URL): { host: string; port: number } {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port) };
}

export function matchesUrl(pattern: UrlPattern, url: URL): boolean {
  if (url.protocol !== pattern.scheme) return false;
  const { host, port } = hostAndPort(url);
  if (pattern.port !== null && pattern.port !== port) return false;
  if (!matchesHost(pattern.host, host)) return false;
  const prefix = pattern.pathPrefix;
  const path = url.pathname;
  return prefix === '/' || path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
}

function matchesHost(pattern: HostPattern, host: string): boolean {
  const family = isIP(host);
  switch (pattern.kind) {
    case 'any':
      return true;
    case 'name':
      return family === 0 && host === pattern.name;
    case 'suffix':
      return family === 0 && host.endsWith(pattern.suffix);
    case 'address':
      return family !== 0 && pattern.range.check(host, family === 6 ? 'ipv6' : 'ipv4');
  }
}

export function appliesTo(rule: EgressRule, caller: EgressCaller): boolean {
  if (rule.subjects.size === 0 && rule.scopes.size === 0) return true;
  if (caller.subject !== null && rule.subjects.has(caller.subject)) return true;
  return caller.scopes.some((s) => rule.scopes.has(s));
}

export function matchesRequest(rule: EgressRule, method: string, url: URL): boolean {
  return (rule.methods === null || rule.methods.has(method.toUpperCase())) && matchesUrl(rule, url);
}

/** Whether a rule names this very address (an IP or range covering it) for this scheme and port. */
export function namesAddress(rule: UrlPattern, scheme: string, address: string, port: number): boolean {
  if (rule.host.kind !== 'address' || rule.scheme !== scheme || (rule.port !== null && rule.port !== port)) return false;
  const family = isIP(address);
  return family !== 0 && rule.host.range.check(address, family === 6 ? 'ipv6' : 'ipv4');
}
