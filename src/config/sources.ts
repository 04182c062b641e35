import { readFileSync } from 'node:fs';
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
    const flag = (field.meta()?.flag as string | undefined) ?? path.map(kebab).join('-');
    out.push({
      path,
      flag,
      env: ENV_PREFIX + path.map((p) => kebab(p).replaceAll('-', '_').toUpperCase()).join('_'),
      kind: kindOf(inner),
      choices: inner instanceof z.ZodEnum ? (inner.options as string[]) : undefined,
      schema: field,
      description: field.description ?? '',
      defaultValue: defaultOf(field),
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

/** What the command line asked for: config values by schema path, and an optional config file. */
export interface FlagValues {
  values: Array<{ setting: Setting; raw: string | true }>;
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
    const setting = byFlag.get(name);
    if (name !== 'config' && !setting) throw new ConfigError(`unknown flag --${name} (see raftbox --help)`);
    if (raw === undefined) {
      const next = argv[i + 1];
      if (setting?.kind === 'boolean' && (next === undefined || next.startsWith('--'))) raw = true;
      else if (next === undefined || next.startsWith('--')) throw new ConfigError(`flag --${name} needs a value`);
      else raw = argv[++i]!;
    }
    if (!setting) {
      if (raw === true) throw new ConfigError('flag --config needs a path');
      out.configFile = raw;
    } else out.values.push({ setting, raw });
  }
  return out;
}

/**
 * The effective configuration: flags > `RAFTBOX_*` environment > JSON config file > defaults, with
 * `PORT` honoured just below `RAFTBOX_PORT`. Unknown flags, variables and file keys are errors.
 */
export function loadConfig(argv: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): Config {
  const flags = parseFlags(argv);
  const merged: Record<string, unknown> = {};
  const origin = new Map<string, string>();
  const set = (setting: Setting, raw: string | true, source: string) => {
    assign(merged, setting.path, coerce(setting, raw, source));
    origin.set(setting.path.join('.'), source);
  };

  const file = flags.configFile ?? env[ENV_PREFIX + 'CONFIG'];
  if (file) {
    const fromFile = readConfigFile(file);
    Object.assign(merged, fromFile);
    for (const s of SETTINGS) if (get(fromFile, s.path) !== undefined) origin.set(s.path.join('.'), `config file ${file}`);
  }
  if (env.PORT !== undefined && env.PORT !== '') set(byFlag.get('port')!, env.PORT, 'PORT');
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || name === ENV_PREFIX + 'CONFIG' || raw === undefined) continue;
    const setting = byEnv.get(name);
    if (!setting) throw new ConfigError(`unknown environment variable ${name} (see raftbox --help)`);
    set(setting, raw, name);
  }
  for (const { setting, raw } of flags.values) set(setting, raw, `--${setting.flag}`);

  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, origin));
  return parsed.data;
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
  const bad = (what: string) => new ConfigError(`${source} expects ${what}, got "${String(raw)}"`);
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
      for (const pair of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
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
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}${where} in the config file`;
    }
    const from = origin.get(key) ?? origin.get(issue.path.slice(0, -1).join('.'));
    return `${key}${from ? ` (from ${from})` : ''}: ${issue.message}`;
  });
  return `invalid configuration:\n  ${lines.join('\n  ')}`;
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
