/**
 * Node's built-in modules as the sandbox has them. Each provided one is a small entry file in
 * builtins/ over a well-kept browser implementation from npm, bundled like an approved package; the
 * absent ones are refused with what the sandbox lacks. Importable as `x` and `node:x`, and through
 * `require`.
 */
export const PROVIDED_BUILTINS: Readonly<Record<string, string>> = {
  assert: 'assert.cjs',
  'assert/strict': 'assert-strict.cjs',
  buffer: 'buffer.cjs',
  crypto: 'crypto.cjs',
  events: 'events.cjs',
  os: 'os.cjs',
  path: 'path.cjs',
  'path/posix': 'path-posix.cjs',
  process: 'process.cjs',
  punycode: 'punycode.cjs',
  querystring: 'querystring.cjs',
  stream: 'stream.cjs',
  'stream/promises': 'stream-promises.cjs',
  'stream/web': 'stream-web.cjs',
  string_decoder: 'string_decoder.cjs',
  timers: 'timers.cjs',
  'timers/promises': 'timers-promises.cjs',
  url: 'url.cjs',
  util: 'util.cjs',
  'util/types': 'util-types.cjs',
  zlib: 'zlib.cjs',
};

/**
 * Bundles that built-ins require on first use and nobody imports by name: kept out of the built-in's
 * own bundle when they are large, so that importing it stays cheap (`raftbox:` names, which the
 * in-isolate registry keeps for raftbox's own modules).
 */
export const INTERNAL_BUNDLES: Readonly<Record<string, string>> = {
  'raftbox:brotli': 'brotli.cjs',
};

const NO_FILES = 'the sandbox has no file system';
const NO_PROCESSES = 'the sandbox cannot start processes or threads';
const NO_NETWORK = 'the sandbox has no network';
const NO_HOST = 'the sandbox does not expose the host runtime';

/** Built-ins the sandbox refuses, with the reason a user reads. */
export const ABSENT_BUILTINS: Readonly<Record<string, string>> = {
  fs: NO_FILES,
  'fs/promises': NO_FILES,
  child_process: NO_PROCESSES,
  cluster: NO_PROCESSES,
  worker_threads: NO_PROCESSES,
  net: NO_NETWORK,
  http: NO_NETWORK,
  https: NO_NETWORK,
  http2: NO_NETWORK,
  tls: NO_NETWORK,
  dgram: NO_NETWORK,
  dns: NO_NETWORK,
  'dns/promises': NO_NETWORK,
  inspector: NO_HOST,
  module: NO_HOST,
  v8: NO_HOST,
  vm: NO_HOST,
  wasi: NO_HOST,
  async_hooks: NO_HOST,
  diagnostics_channel: NO_HOST,
  perf_hooks: NO_HOST,
  trace_events: NO_HOST,
  domain: NO_HOST,
  sqlite: NO_FILES,
  readline: NO_FILES,
  repl: NO_HOST,
  tty: NO_HOST,
  test: NO_HOST,
};

/** `node:x` and `x` name the same built-in; anything else is not one. */
export function builtinName(specifier: string): string | null {
  const name = specifier.startsWith('node:') ? specifier.slice('node:'.length) : specifier;
  return Object.hasOwn(PROVIDED_BUILTINS, name) || Object.hasOwn(ABSENT_BUILTINS, name) ? name : null;
}

export function absentBuiltinMessage(name: string): string {
  return `node:${name} is not available in the sandbox: ${ABSENT_BUILTINS[name]}`;
}
