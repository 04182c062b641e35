import { readFileSync } from 'node:fs';
import { ClientCredentialsToken } from './client-credentials.ts';
import { EgressRuleError, matchesUrl, parseUrlPattern, type UrlPattern } from './rules.ts';

/**
 * Credential injection: `<url pattern> <Header-Name>: <value>` adds that header to every request
 * the pattern matches (a redirect hop is matched again, so a credential never follows a redirect to
 * another origin its rule does not name). The value may hold `{env:NAME}` (read once at start),
 * `{file:/path}` (read at use, at most every 30 s, so a rotated token is picked up) and `{oauth:NAME}`
 * (a client-credentials token of `egress.oauthClients.NAME`, fetched and renewed by the host). The values stay
 * on the host: they are not in anything the isolate receives, not in the journal (a record notes
 * the header's name only) and not in logs or error messages.
 */
export interface Injection {
  pattern: UrlPattern;
  header: string;
  value(): Promise<string>;
}

type Part = () => string | Promise<string>;

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FILE_CACHE_MS = 30_000;

/** The OAuth clients `{oauth:NAME}` can name, from `egress.oauthClients`. */
export function parseOAuthClients(specs: Record<string, string>, env: NodeJS.ProcessEnv): Map<string, ClientCredentialsToken> {
  const resolve = (text: string, where: string) => {
    const parts = template(text, env, where, new Map());
    return () => parts.map((p) => p() as string).join('');
  };
  return new Map(Object.entries(specs).map(([name, spec]) => [name, new ClientCredentialsToken(name, spec, resolve)]));
}

export function parseInjection(text: string, env: NodeJS.ProcessEnv, clients: ReadonlyMap<string, ClientCredentialsToken> = new Map()): Injection {
  const m = /^\s*(\S+)\s+([^:\s]+):\s*(.*)$/s.exec(text);
  if (!m) throw new EgressRuleError('egress.inject entry must be "<url pattern> <Header-Name>: <value>" (the value is not shown here)');
  const pattern = parseUrlPattern(m[1]!);
  const header = m[2]!;
  if (!HEADER_NAME.test(header)) throw new EgressRuleError(`egress.inject for ${pattern.source}: "${header}" is not a header name`);
  const parts = template(m[3]!, env, `egress.inject for ${pattern.source} (${header})`, clients);
  return { pattern, header: header.toLowerCase(), value: async () => (await Promise.all(parts.map((p) => p()))).join('') };
}

const PLACEHOLDER = /\{(env|file|oauth):([^}]+)\}/;

function template(text: string, env: NodeJS.ProcessEnv, where: string, clients: ReadonlyMap<string, ClientCredentialsToken>): Part[] {
  const parts: Part[] = [];
  let rest = text;
  for (let m = PLACEHOLDER.exec(rest); m !== null; m = PLACEHOLDER.exec(rest)) {
    const literal = rest.slice(0, m.index);
    parts.push(() => literal);
    const [, source, name] = m as unknown as [string, 'env' | 'file' | 'oauth', string];
    if (source === 'oauth') {
      const client = clients.get(name);
      if (client === undefined) throw new EgressRuleError(`${where}: no egress.oauthClients entry named ${name}`);
      parts.push(() => client.value());
    } else if (source === 'env') {
      const value = env[name];
      if (value === undefined || value === '') throw new EgressRuleError(`${where}: environment variable ${name} is not set`);
      parts.push(() => value);
    } else {
      parts.push(fileReader(name, where));
    }
    rest = rest.slice(m.index + m[0].length);
  }
  parts.push(() => rest);
  return parts;
}

function fileReader(path: string, where: string): () => string {
  let value = readSecretFile(path, where);
  let readAt = Date.now();
  return () => {
    if (Date.now() - readAt > FILE_CACHE_MS) {
      try {
        value = readSecretFile(path, where);
      } catch {
        // A file being rotated may be missing for a moment: the last value stays.
      }
      readAt = Date.now();
    }
    return value;
  };
}

function readSecretFile(path: string, where: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new EgressRuleError(`${where}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The headers to add to a request to `url`, by lower-case name; the last matching rule for a header wins. */
export async function injectedHeaders(injections: readonly Injection[], url: URL): Promise<Map<string, string>> {
  const headers = new Map<string, string>();
  for (const i of injections) if (matchesUrl(i.pattern, url)) headers.set(i.header, await i.value());
  return headers;
}
