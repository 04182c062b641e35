import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Field names whose values never reach a log line, wherever a caller puts them (top level or one
 * object deep): user code, credentials of every kind, the cluster secret. Censoring by name is the
 * safety net; the first rule is that nobody logs request bodies or headers at all.
 */
export const REDACTED_FIELDS = [
  'code',
  'authorization',
  'cookie',
  'set-cookie',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'code_verifier',
  'password',
  'client_secret',
  'clientSecret',
  'secret',
  'clusterSecret',
];

const REDACT_PATHS = [
  ...REDACTED_FIELDS.map((f) => (/^[A-Za-z_$][\w$]*$/.test(f) ? f : `["${f}"]`)),
  ...REDACTED_FIELDS.map((f) => (/^[A-Za-z_$][\w$]*$/.test(f) ? `*.${f}` : `*["${f}"]`)),
  'req.headers.authorization',
  'req.headers.cookie',
  'config.oauth.clientSecret',
];

export interface LoggerOptions {
  level: string;
  nodeId: string;
}

/** The JSON logger of a node: one object per line, stamped with the node id, secrets censored. */
export function createLogger(opts: LoggerOptions, destination: DestinationStream | 1 | 2 = 1): Logger {
  const dest = typeof destination === 'number' ? pino.destination({ fd: destination, sync: false }) : destination;
  return pino({ level: opts.level, base: { node: opts.nodeId }, serializers: { err: serializeError }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, dest);
}

/**
 * An error's own code (`ECONNREFUSED`, `unavailable`) is what an operator needs from a log line, but
 * `code` is censored everywhere (it names user code and authorization codes), so it travels as
 * `errorCode`.
 */
function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown;
  if (typeof out !== 'object' || out === null) return out;
  const { code, ...rest } = out as Record<string, unknown>;
  return typeof code === 'string' || typeof code === 'number' ? { ...rest, errorCode: code } : out;
}
