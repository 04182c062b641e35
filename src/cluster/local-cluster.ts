// `raftbox cluster`: a local cluster of `serve` child processes on consecutive loopback ports, each with
// its own data dir, plus a round-robin nginx where nginx is installed. Ctrl-C / SIGTERM stops them all;
// the nodes also end when the supervisor dies any other way (they watch the stdin pipe it holds).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { describeBalance, LB_BALANCES, prepareNginxRunDir, type LbBalance } from '../../cluster/nginx-site.ts';
import { ConfigError } from '../config/index.ts';

/** Not the single node's `./data`: a cluster's n1..nN next to a node's own files would be a mess. */
export const DEFAULT_CLUSTER_DATA_DIR = './cluster-data';
const READY_WITHIN_MS = 60_000;
/** A node restarted this many times within RESTART_WINDOW_MS is left down: it is not going to come up. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
const RESTART_DELAY_MS = 1_000;

export const CLUSTER_HELP = `Usage: raftbox cluster [options] [serve options]

A local cluster: nodes n1..nN on consecutive ports as child processes, each with its data in
<data-dir>/n1.., and nginx on --lb-port where nginx is installed. Ctrl-C stops them all at once,
quietly (no node tries to hand leadership to the others); if this supervisor dies any other way,
the nodes end with it.
It exits non-zero when the nodes cannot start.

Options:
  --nodes <n>                  nodes, 1 to 9 (default 3)
  --base-port <port>           port of n1; n2 gets the next one, and so on (default 7101)
  --host <address>             address the nodes listen on (default 127.0.0.1)
  --data-dir <dir>             where the nodes keep their data (default ${DEFAULT_CLUSTER_DATA_DIR})
  --lb-port <port>             start nginx there, in front of the nodes (when nginx is installed)
  --lb-balance session|request|connection
                               how nginx spreads requests: session (default) sends a request naming a
                               session (Raftbox-Session header or ?session=) to the node it hashes to
                               and spreads the rest; request is plain round robin; connection keeps
                               each client connection on one node
  --restart                    restart a node that dies (at most ${MAX_RESTARTS} times a minute)
  --cluster-secret-file <path> the secret the nodes authenticate each other with; default: made once and
                               kept in <data-dir>/cluster-secret

Any other option is passed to every node's \`raftbox serve\` (see \`raftbox serve --help\`), e.g.
--max-concurrent 4 or --oauth; --node-id, --peers, --port and --join are set per node.
`;

export interface LocalClusterOptions {
  nodes: number;
  basePort: number;
  lbPort: number | null;
  /** How nginx spreads requests: per request (default) or per client connection. */
  lbBalance: LbBalance;
  dataDir: string;
  host: string;
  restart: boolean;
  /** Flags passed on to every node's `serve` (e.g. --max-concurrent 4). */
  serveArgs: string[];
}

const OURS = ['nodes', 'base-port', 'lb-port', 'lb-balance', 'data-dir', 'host', 'restart'];

export function parseClusterArgs(argv: readonly string[]): LocalClusterOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        nodes: { type: 'string', default: '3' },
        'base-port': { type: 'string', default: '7101' },
        'lb-port': { type: 'string' },
        'lb-balance': { type: 'string', default: 'session' },
        'data-dir': { type: 'string', default: DEFAULT_CLUSTER_DATA_DIR },
        host: { type: 'string', default: '127.0.0.1' },
        restart: { type: 'boolean', default: false },
      },
      strict: false,
      tokens: true,
    });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const int = (name: string, raw: string, min: number, max: number) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${name} expects an integer from ${min} to ${max}, got "${raw}"`);
    return n;
  };
  const v = parsed.values as Record<string, string | boolean | undefined>;
  // Everything that is not one of ours goes to each node's `serve`, which validates it.
  const ours = new Set(OURS);
  const serveArgs: string[] = [];
  for (const t of parsed.tokens ?? []) {
    if (t.kind === 'option' && !ours.has(t.name)) serveArgs.push(t.rawName, ...(t.value !== undefined ? [t.value] : []));
    if (t.kind === 'positional') serveArgs.push(t.value);
  }
  for (const forbidden of ['--node-id', '--peers', '--port', '--join', '--exit-with-stdin']) {
    if (serveArgs.includes(forbidden)) throw new ConfigError(`${forbidden} is set per node by \`raftbox cluster\``);
  }
  const lbBalance = v['lb-balance'] as LbBalance;
  if (!LB_BALANCES.includes(lbBalance)) throw new ConfigError(`--lb-balance expects ${LB_BALANCES.join(', ')}, got "${lbBalance}"`);
  return {
    nodes: int('nodes', v.nodes as string, 1, 9),
    basePort: int('base-port', v['base-port'] as string, 1, 65535),
    lbPort: v['lb-port'] === undefined ? null : int('lb-port', v['lb-port'] as string, 1, 65535),
    lbBalance,
    dataDir: resolve(v['data-dir'] as string),
    host: v.host as string,
    restart: v.restart === true,
    serveArgs,
  };
}

/**
 * How the nodes get the cluster secret, never in argv (argv is visible to every user in `ps`): a
 * secret given as a file (or in RAFTBOX_CLUSTER_SECRET*) is passed on as it came; a `--cluster-secret`
 * moves into the children's environment; with none, one is made once and kept in the data dir.
 */
function clusterSecret(opts: LocalClusterOptions, env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; file: string | null; how: string } {
  const i = opts.serveArgs.indexOf('--cluster-secret');
  if (i >= 0 && opts.serveArgs[i + 1]) return { env: { RAFTBOX_CLUSTER_SECRET: opts.serveArgs.splice(i, 2)[1]! }, file: null, how: 'as given' };
  const f = opts.serveArgs.indexOf('--cluster-secret-file');
  if (f >= 0 && opts.serveArgs[f + 1]) return { env: {}, file: resolve(opts.serveArgs.splice(f, 2)[1]!), how: 'from the given file' };
  if (env.RAFTBOX_CLUSTER_SECRET || env.RAFTBOX_CLUSTER_SECRET_FILE) return { env: {}, file: null, how: 'from the environment' };
  const file = join(opts.dataDir, 'cluster-secret');
  if (!existsSync(file)) {
    mkdirSync(opts.dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  }
  return { env: {}, file, how: `kept in ${file}` };
}

interface Member {
  id: string;
  url: string;
  args: string[];
  child: ChildProcess | null;
  restarts: number[];
}

export async function runLocalCluster(opts: LocalClusterOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const secret = clusterSecret(opts, env);
  const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
  const urlOf = (i: number) => `http://${opts.host}:${opts.basePort + i}`;
  const peers = ids.map((id, i) => `${id}=${urlOf(i)}`).join(',');
  const say = (line: string) => process.stdout.write(`[cluster] ${line}\n`);
  let stopping = false;
  let ready = false;
  let failed: string | null = null;
  let wake: () => void = () => {};

  const members: Member[] = ids.map((id, i) => ({
    id,
    url: urlOf(i),
    args: ['serve', '--node-id', id, '--peers', peers, '--port', String(opts.basePort + i), '--host', opts.host, '--data-dir', join(opts.dataDir, id), ...(secret.file ? ['--cluster-secret-file', secret.file] : []), ...opts.serveArgs],
    child: null,
    restarts: [],
  }));
  const byHand = (m: Member) => `npx raftbox ${m.args.map(shellWord).join(' ')}${secret.how === 'as given' ? ' (with RAFTBOX_CLUSTER_SECRET set)' : ''}`;

  const start = (m: Member) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...m.args, '--exit-with-stdin'], {
      env: { ...env, ...secret.env },
      // stdin: a pipe only we hold, so the node ends when we do (--exit-with-stdin), even on SIGKILL.
      // Own process group: a terminal's Ctrl-C reaches only us, and we stop the nodes once, together.
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    m.child = child;
    forward(m.id, child);
    child.on('exit', (code, signal) => {
      m.child = null;
      if (stopping) return;
      const how = signal ?? `code ${code}`;
      if (!ready) {
        failed ??= `${m.id} could not start (exited with ${how})`;
        return wake();
      }
      const now = Date.now();
      m.restarts = m.restarts.filter((t) => now - t < RESTART_WINDOW_MS);
      if (opts.restart && m.restarts.length < MAX_RESTARTS) {
        m.restarts.push(now);
        say(`${m.id} exited (${how}); restarting it`);
        setTimeout(() => !stopping && start(m), RESTART_DELAY_MS).unref();
        return;
      }
      say(`${m.id} exited (${how}); the others keep serving. Restart it by hand with:\n  ${byHand(m)}`);
      if (members.every((x) => x.child === null)) {
        failed = 'every node has exited';
        wake();
      }
    });
  };
  members.forEach(start);

  let nginx: ChildProcess | null = null;
  if (opts.lbPort !== null) {
    if (spawnSync('nginx', ['-v']).error) say('nginx is not installed (apt-get install nginx-light): no load balancer');
    else {
      const args = prepareNginxRunDir(join(opts.dataDir, 'nginx'), {
        nodes: members.map((m) => new URL(m.url).host),
        listen: `${opts.host}:${opts.lbPort}`,
        balance: opts.lbBalance,
      });
      nginx = spawn('nginx', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      forward('nginx', nginx);
      nginx.on('exit', (code) => !stopping && say(`nginx exited (code ${code})`));
    }
  }

  say(`secret: ${secret.how}; data under ${opts.dataDir}`);
  for (const m of members) say(`${m.id}: ${m.url}  (MCP ${m.url}/mcp, REST ${m.url}/api, status ${m.url}/)`);
  if (nginx) say(`load balancer: http://${opts.host}:${opts.lbPort} (${describeBalance(opts.lbBalance)})`);
  void waitReady(members.map((m) => m.url), () => stopping || failed !== null).then((ok) => {
    if (stopping || failed) return;
    if (!ok) {
      failed = `the nodes were not ready within ${READY_WITHIN_MS / 1000} s`;
      return wake();
    }
    ready = true;
    say(`all nodes ready${opts.restart ? ' (a node that dies is restarted)' : ''}`);
  });

  await Promise.race([untilSignal(), new Promise<void>((r) => (wake = r))]);
  stopping = true;
  if (failed) say(`${failed}; stopping`);
  else say('stopping');
  await stopAll(members);
  if (nginx && nginx.exitCode === null && nginx.signalCode === null) {
    const exited = new Promise((done) => nginx!.once('exit', done));
    nginx.kill('SIGQUIT'); // nginx's graceful stop
    await exited;
  }
  return failed ? 1 : 0;
}

/**
 * Stops every node at once by closing its stdin: each shuts down gracefully, as one of a whole cluster
 * stopping, so none tries to hand leadership to peers that are leaving too (that only times out).
 */
async function stopAll(members: Member[]): Promise<void> {
  await Promise.all(
    members.map((m) => {
      const child = m.child;
      if (!child) return;
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      child.stdin?.end();
      return exited;
    }),
  );
}

function forward(name: string, child: ChildProcess): void {
  for (const [stream, out] of [
    [child.stdout, process.stdout],
    [child.stderr, process.stderr],
  ] as const) {
    if (stream) createInterface({ input: stream }).on('line', (line) => out.write(`[${name}] ${line}\n`));
  }
}

async function waitReady(urls: string[], gaveUp: () => boolean): Promise<boolean> {
  const deadline = Date.now() + READY_WITHIN_MS;
  while (Date.now() < deadline && !gaveUp()) {
    const ready = await Promise.all(urls.map((u) => fetch(`${u}/readyz`).then((r) => r.ok, () => false)));
    if (ready.every(Boolean)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

const shellWord = (w: string) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`);

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
