import { readFileSync } from 'node:fs';
import { EgressRuleError, matchesUrl, parseUrlPattern, type UrlPattern } from './rules.ts';

/**
 * Credential injection: `<url pattern> <Header-Name>: <value>` adds that header to every request
 * the pattern matches (a redirect hop is matched again, so a credential never follows a redirect to
 * another origin its rule does not name). The value may hold `{env:NAME}` (read once at start) and
 * `{file:/path}` (read at use, at most every 30 s, so a rotated token is picked up). The values stay
 * on the host: they are not in anything the isolate receives, not in the journal (a record notes
 * the header's name only) and not in logs or error messages.
 */
export interface Injection {
  pattern: UrlPattern;
  header: string;
  value(): string;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FILE_CACHE_MS = 30_000;

export function parseInjection(text: string, env: NodeJS.ProcessEnv): Injection {
  const m = /^\s*(\S+)\s+([^:\s]+):\s*(.*)$/s.exec(text);
  if (!m) throw new EgressRuleError('egress.inject entry must be "<url pattern> <Header-Name>: <value>" (the value is not shown here)');
  const pattern = parseUrlPattern(m[1]!);
  const header = m[2]!;
  if (!HEADER_NAME.test(header)) throw new EgressRuleError(`egress.inject for ${pattern.source}: "${header}" is not a header name`);
  const parts = template(m[3]!, env, `egress.inject for ${pattern.source} (${header})`);
  return { pattern, header: header.toLowerCase(), value: () => parts.map((p) => p()).join('') };
}

function template(text: string, env: NodeJS.ProcessEnv, where: string): Array<() => string> {
  const parts: Array<() => string> = [];
  let rest = text;
  for (let m = /\{(env|file):([^}]+)\}/.exec(rest); m !== null; m = /\{(env|file):([^}]+)\}/.exec(rest)) {
    const literal = rest.slice(0, m.index);
    parts.push(() => literal);
    const [, source, name] = m as unknown as [string, 'env' | 'file', string];
    if (source === 'env') {
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
export function injectedHeaders(injections: readonly Injection[], url: URL): Map<string, string> {
  const headers = new Map<string, string>();
  for (const i of injections) if (matchesUrl(i.pattern, url)) headers.set(i.header, i.value());
  return headers;
}
