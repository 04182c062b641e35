import { readFileSync } from 'node:fs';
import { closest, distance } from 'fastest-levenshtein';
import { z } from 'zod';
import { ConfigSchema, type Config } from './schema.ts';

/** A configuration a caller can fix: a bad flag, variable, file or value. The CLI prints it and exits 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Kind = 'string' | 'number' | 'boolean' | 'enum' | 'map' | 'list';

/** One settable value of the schema, with the names it goes by in each source. */
export interface Setting {
  path: string[];
  flag: string;
  env: string;
  kind: Kind;
  /** The allowed values of an enum setting. */
  choices?: string[];
  schema: z.ZodType;
  description: string;
  defaultValue: unknown;
  /** A secret that can also be read from a file: `--<flag>-file`, `<env>_FILE`. */
  secretFile: boolean;
}

export const ENV_PREFIX = 'RAFTBOX_';

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

/** The leaves of the schema, in declaration order. */
export const SETTINGS: readonly Setting[] = collect(ConfigSchema, []);

function collect(schema: z.ZodObject, prefix: string[]): Setting[] {
  const out: Setting[] = [];
  for (const [key, field] of Object.entries(schema.shape) as Array<[string, z.ZodType]>) {
    const path = [...prefix, key];
    const inner = unwrap(field);
    if (inner instanceof z.ZodObject) {
      out.push(...collect(inner, path));
      continue;
    }
    const meta = field.meta();
    const flag = (meta?.flag as string | undefined) ?? path.map(kebab).join('-');
    out.push({
      path,
      flag,
      env: ENV_PREFIX + path.map((p) => kebab(p).replaceAll('-', '_').toUpperCase()).join('_'),
      kind: kindOf(inner),
      choices: inner instanceof z.ZodEnum ? (inner.options as string[]) : undefined,
      schema: field,
      description: field.description ?? '',
      defaultValue: defaultOf(field),
      secretFile: meta?.secretFile === true,
    });
  }
  return out;
}

function unwrap(t: z.ZodType): z.ZodType {
  let cur = t;
  while (cur instanceof z.ZodDefault || cur instanceof z.ZodPrefault || cur instanceof z.ZodOptional) {
    cur = cur.def.innerType as z.ZodType;
  }
  return cur;
}

function kindOf(t: z.ZodType): Kind {
  if (t instanceof z.ZodNumber) return 'number';
  if (t instanceof z.ZodBoolean) return 'boolean';
  if (t instanceof z.ZodEnum) return 'enum';
  if (t instanceof z.ZodRecord) return 'map';
  if (t instanceof z.ZodArray) return 'list';
  return 'string';
}

function defaultOf(t: z.ZodType): unknown {
  const r = t.safeParse(undefined);
  return r.success ? r.data : undefined;
}

const byFlag = new Map(SETTINGS.map((s) => [s.flag, s]));
const byEnv = new Map(SETTINGS.map((s) => [s.env, s]));
const byFileFlag = new Map(SETTINGS.filter((s) => s.secretFile).map((s) => [`${s.flag}-file`, s]));
const byFileEnv = new Map(SETTINGS.filter((s) => s.secretFile).map((s) => [`${s.env}_FILE`, s]));

/** `, did you mean X?` when one candidate is a plausible typo of `word`, else ''. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  if (candidates.length === 0) return '';
  const best = closest(word, [...candidates]);
  return distance(word, best) <= Math.max(2, Math.floor(word.length / 4)) ? `; did you mean ${best}?` : '';
}

/** Read by the client commands (`raftbox run`, …), not by a node: a shell may set them for both. */
const CLIENT_VARIABLES: ReadonlySet<string> = new Set(['URL', 'TOKEN', 'CLIENT_ID', 'CLIENT_SECRET', 'CLIENT_SECRET_FILE'].map((n) => ENV_PREFIX + n));

/** Every flag name a command line may carry (without `--`), for "did you mean". */
const FLAG_NAMES: readonly string[] = ['config', ...byFlag.keys(), ...byFileFlag.keys()];
const ENV_NAMES: readonly string[] = [ENV_PREFIX + 'CONFIG', ...byEnv.keys(), ...byFileEnv.keys()];

/**
 * Kubernetes gives every pod of a namespace variables for each Service in it (the "service links"):
 * a Service named `raftbox` (or `raftbox-…`) makes `RAFTBOX_SERVICE_HOST=10.0.0.11`,
 * `RAFTBOX_SERVICE_PORT[_NAME]=3000`, `RAFTBOX_PORT=tcp://10.0.0.11:3000` and
 * `RAFTBOX_PORT_3000_TCP[_PROTO|_PORT|_ADDR]=…`. Only those exact name-and-value shapes are ignored;
 * anything else under `RAFTBOX_` stays an error (and `RAFTBOX_PORT=3000` is still the port).
 */
const SERVICE_LINKS: ReadonlyArray<[RegExp, RegExp]> = (() => {
  const svc = '(?:_[A-Z0-9_]+?)?'; // the service name after `raftbox`, if any (`raftbox-api` → `_API`)
  const ipv4 = '\\d{1,3}(?:\\.\\d{1,3}){3}';
  const ip = `(?:${ipv4}|[0-9a-fA-F:]+)`;
  const url = `^(?:tcp|udp|sctp)://(?:${ipv4}|\\[[0-9a-fA-F:]+\\]):\\d{1,5}$`;
  const port = '\\d{1,5}';
  const link = `${svc}_PORT_${port}_(?:TCP|UDP|SCTP)`;
  return [
    [new RegExp(`^${svc}_SERVICE_HOST$`), new RegExp(`^${ip}$`)],
    [new RegExp(`^${svc}_SERVICE_PORT(?:_[A-Z0-9_]+)?$`), new RegExp(`^${port}$`)],
    [new RegExp(`^${svc}_PORT$`), new RegExp(url)],
    [new RegExp(`^${link}$`), new RegExp(url)],
    [new RegExp(`^${link}_PROTO$`), /^(?:tcp|udp|sctp)$/],
    [new RegExp(`^${link}_PORT$`), new RegExp(`^${port}$`)],
    [new RegExp(`^${link}_ADDR$`), new RegExp(`^${ip}$`)],
  ];
})();

function isKubernetesServiceLink(name: string, value: string): boolean {
  if (!name.startsWith(ENV_PREFIX)) return false;
  const rest = name.slice(ENV_PREFIX.length - 1); // keeps the underscore: `_SERVICE_HOST`, `_API_SERVICE_HOST`
  return SERVICE_LINKS.some(([n, v]) => n.test(rest) && v.test(value));
}

/** What the command line asked for: config values by schema path, and an optional config file. */
export interface FlagValues {
  values: Array<{ setting: Setting; raw: string | true; source: string }>;
  configFile?: string;
}

/**
 * Reads `--name value`, `--name=value` and bare boolean flags. Anything that is not a known flag is an
 * error naming it, so a typo never silently falls back to a default.
 */
export function parseFlags(argv: readonly string[]): FlagValues {
  const out: FlagValues = { values: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    let raw: string | true | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    const fromFile = byFileFlag.get(name);
    const setting = byFlag.get(name) ?? fromFile;
    if (name !== 'config' && !setting) throw new ConfigError(`unknown flag --${name}${didYouMean(name, FLAG_NAMES).replace(/mean /, 'mean --')} (see raftbox --help)`);
    if (raw === undefined) {
      const next = argv[i + 1];
      if (setting?.kind === 'boolean' && !fromFile && (next === undefined || next.startsWith('--'))) raw = true;
      else if (next === undefined || next.startsWith('--')) throw new ConfigError(`flag --${name} needs a value`);
      else raw = argv[++i]!;
    }
    if (!setting) {
      if (raw === true) throw new ConfigError('flag --config needs a path');
      out.configFile = raw;
    } else if (fromFile) out.values.push({ setting, raw: readSecretFile(raw as string, `--${name}`), source: `--${name}` });
    else out.values.push({ setting, raw, source: `--${name}` });
  }
  return out;
}

/**
 * The effective configuration: flags > `RAFTBOX_*` environment > JSON config file > defaults, with
 * `PORT` honoured just below `RAFTBOX_PORT`. Unknown flags, variables and file keys are errors.
 */
export function loadConfig(argv: readonly string[] = [], env: NodeJS.ProcessEnv = process.env, applies: Applicability = ALL): Config {
  const flags = parseFlags(argv);
  const merged: Record<string, unknown> = {};
  const origin = new Map<string, string>();
  const set = (setting: Setting, raw: string | true, source: string) => {
    const refusal = applies(setting);
    if (refusal) throw new ConfigError(`${source} ${refusal}`);
    assign(merged, setting.path, coerce(setting, raw, source));
    origin.set(setting.path.join('.'), source);
  };

  const file = flags.configFile ?? env[ENV_PREFIX + 'CONFIG'];
  if (file) {
    const fromFile = readConfigFile(file);
    Object.assign(merged, fromFile);
    for (const s of SETTINGS) {
      if (get(fromFile, s.path) === undefined) continue;
      const refusal = applies(s);
      if (refusal) throw new ConfigError(`key "${s.path.join('.')}" of config file ${file} ${refusal}`);
      origin.set(s.path.join('.'), `config file ${file}`);
    }
  }
  if (env.PORT !== undefined && env.PORT !== '') set(byFlag.get('port')!, env.PORT, 'PORT');
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || name === ENV_PREFIX + 'CONFIG' || raw === undefined || CLIENT_VARIABLES.has(name)) continue;
    // First: Kubernetes' `RAFTBOX_PORT=tcp://…` is a service link, not our port.
    if (isKubernetesServiceLink(name, raw)) continue;
    const fromFile = byFileEnv.get(name);
    const setting = byEnv.get(name) ?? fromFile;
    if (!setting) throw new ConfigError(`unknown environment variable ${name}${didYouMean(name, ENV_NAMES)} (see raftbox --help)`);
    set(setting, fromFile ? readSecretFile(raw, name) : raw, name);
  }
  // A list flag given more than once adds up (`--mcp-server a=… --mcp-server b=…`); anything else: the last wins.
  const listFlags = new Map<Setting, unknown[]>();
  for (const { setting, raw, source } of flags.values) {
    set(setting, raw, source);
    if (setting.kind !== 'list') continue;
    const items = [...(listFlags.get(setting) ?? []), ...(get(merged, setting.path) as unknown[])];
    listFlags.set(setting, items);
    assign(merged, setting.path, items);
  }

  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, origin));
  return parsed.data;
}

/**
 * Whether a setting can apply to the command at hand: null when it can, else why not (e.g. `raftbox stdio`
 * has no HTTP port, so OAuth or peers would silently do nothing there).
 */
export type Applicability = (setting: Setting) => string | null;
const ALL: Applicability = () => null;

/** A secret's file (`--cluster-secret-file`, `RAFTBOX_OAUTH_USERS_FILE`): its text without the final newline. */
export function readSecretFile(path: string, source: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${source}: cannot read ${path}: ${(err as Error).message}`);
  }
  return text.replace(/\r?\n$/, '');
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  return data as Record<string, unknown>;
}

function coerce(setting: Setting, raw: string | true, source: string): unknown {
  // A secret's value is never echoed: the message may end up in a log.
  const bad = (what: string) => new ConfigError(`${source} expects ${what}${setting.secretFile ? '' : `, got "${String(raw)}"`}`);
  if (raw === true) return true;
  switch (setting.kind) {
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw bad('a number');
      return n;
    }
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(raw)) return true;
      if (/^(false|0|no|off)$/i.test(raw)) return false;
      throw bad('true or false');
    case 'list':
      return raw.split(',').map((p) => p.trim()).filter(Boolean);
    case 'map': {
      const map: Record<string, string> = {};
      // Commas or newlines separate pairs: a users file holds one `name=hash` per line.
      const lines = raw.split('\n').filter((line) => !line.trim().startsWith('#'));
      for (const pair of lines.flatMap((line) => line.split(',')).map((p) => p.trim()).filter(Boolean)) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw bad('comma-separated id=value pairs');
        map[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      return map;
    }
    default:
      return raw;
  }
}

function describeIssues(error: z.ZodError, origin: Map<string, string>): string {
  const lines = error.issues.map((issue) => {
    const key = issue.path.join('.');
    if (issue.code === 'unrecognized_keys') {
      const where = key ? ` in "${key}"` : '';
      const keys = issue.keys.map((k) => `"${k}"${didYouMean(k, knownKeys(issue.path))}`);
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${keys.join(', ')}${where} in the config file`;
    }
    const from = origin.get(key) ?? origin.get(issue.path.slice(0, -1).join('.'));
    return `${key}${from ? ` (from ${from})` : ''}: ${issue.message}`;
  });
  return `invalid configuration:\n  ${lines.join('\n  ')}`;
}

/** The keys a config-file object at `path` may hold. */
function knownKeys(path: PropertyKey[]): string[] {
  const prefix = path.map(String).join('.');
  const keys = SETTINGS.map((s) => s.path).filter((p) => p.slice(0, path.length).join('.') === prefix && p.length > path.length);
  return [...new Set(keys.map((p) => p[path.length]!))];
}

function assign(target: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = target;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    cur = cur[key] = typeof next === 'object' && next !== null ? { ...(next as object) } : {};
  }
  cur[path.at(-1)!] = value;
}

function get(source: Record<string, unknown>, path: string[]): unknown {
  let cur: unknown = source;
  for (const key of path) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[key] : undefined;
  return cur;
}
