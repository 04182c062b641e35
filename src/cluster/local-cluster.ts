// `raftbox cluster`: a local cluster of `serve` child processes on consecutive loopback ports, each with
// its own data dir, plus a round-robin nginx where nginx is installed. Ctrl-C / SIGTERM stops them all.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { prepareNginxRunDir, type LbBalance } from '../../cluster/nginx-site.ts';
import { ConfigError } from '../config/index.ts';

export interface LocalClusterOptions {
  nodes: number;
  basePort: number;
  lbPort: number | null;
  /** How nginx spreads requests: per request (default) or per client connection. */
  lbBalance: LbBalance;
  dataDir: string;
  host: string;
  /** Flags passed on to every node's `serve` (e.g. --max-concurrent 4). */
  serveArgs: string[];
}

export function parseClusterArgs(argv: readonly string[]): LocalClusterOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        nodes: { type: 'string', default: '3' },
        'base-port': { type: 'string', default: '7101' },
        'lb-port': { type: 'string' },
        'lb-balance': { type: 'string', default: 'request' },
        'data-dir': { type: 'string', default: './data' },
        host: { type: 'string', default: '127.0.0.1' },
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
  const v = parsed.values as Record<string, string | undefined>;
  // Everything that is not one of ours goes to each node's `serve`, which validates it.
  const ours = new Set(['nodes', 'base-port', 'lb-port', 'lb-balance', 'data-dir', 'host']);
  const serveArgs: string[] = [];
  for (const t of parsed.tokens ?? []) {
    if (t.kind === 'option' && !ours.has(t.name)) serveArgs.push(t.rawName, ...(t.value !== undefined ? [t.value] : []));
    if (t.kind === 'positional') serveArgs.push(t.value);
  }
  for (const forbidden of ['--node-id', '--peers', '--port', '--data-dir', '--join']) {
    if (serveArgs.includes(forbidden)) throw new ConfigError(`${forbidden} is set per node by \`raftbox cluster\``);
  }
  const lbBalance = v['lb-balance']!;
  if (lbBalance !== 'request' && lbBalance !== 'connection') throw new ConfigError(`--lb-balance expects request or connection, got "${lbBalance}"`);
  return {
    nodes: int('nodes', v.nodes!, 1, 9),
    basePort: int('base-port', v['base-port']!, 1, 65535),
    lbPort: v['lb-port'] === undefined ? null : int('lb-port', v['lb-port'], 1, 65535),
    lbBalance,
    dataDir: resolve(v['data-dir']!),
    host: v.host!,
    serveArgs,
  };
}

/** The cluster secret: given (flag or RAFTBOX_CLUSTER_SECRET), else made once and kept in the data dir. */
function clusterSecret(opts: LocalClusterOptions, env: NodeJS.ProcessEnv): { secret: string; file: string | null } {
  const i = opts.serveArgs.indexOf('--cluster-secret');
  if (i >= 0 && opts.serveArgs[i + 1]) return { secret: opts.serveArgs.splice(i, 2)[1]!, file: null };
  if (env.RAFTBOX_CLUSTER_SECRET) return { secret: env.RAFTBOX_CLUSTER_SECRET, file: null };
  const file = join(opts.dataDir, 'cluster-secret');
  if (!existsSync(file)) {
    mkdirSync(opts.dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  }
  return { secret: readFileSync(file, 'utf8').trim(), file };
}

export async function runLocalCluster(opts: LocalClusterOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { secret, file } = clusterSecret(opts, env);
  const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
  const urlOf = (i: number) => `http://${opts.host}:${opts.basePort + i}`;
  const peers = ids.map((id, i) => `${id}=${urlOf(i)}`).join(',');
  const children = new Map<string, ChildProcess>();
  let stopping = false;

  const say = (line: string) => process.stdout.write(`[cluster] ${line}\n`);
  const forward = (name: string, child: ChildProcess) => {
    for (const [stream, out] of [
      [child.stdout, process.stdout],
      [child.stderr, process.stderr],
    ] as const) {
      if (stream) createInterface({ input: stream }).on('line', (line) => out.write(`[${name}] ${line}\n`));
    }
  };

  ids.forEach((id, i) => {
    const dataDir = join(opts.dataDir, id);
    // The secret travels in the environment, not argv: argv is visible to every user in `ps`.
    const child = spawn(
      process.execPath,
      [...process.execArgv, process.argv[1]!, 'serve', '--node-id', id, '--peers', peers, '--port', String(opts.basePort + i), '--host', opts.host, '--data-dir', dataDir, ...opts.serveArgs],
      // Own process group: a terminal's Ctrl-C reaches only us, and we stop the nodes once, gracefully.
      { env: { ...env, RAFTBOX_CLUSTER_SECRET: secret }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    children.set(id, child);
    forward(id, child);
    child.on('exit', (code, signal) => {
      children.delete(id);
      if (!stopping) say(`${id} exited (${signal ?? `code ${code}`}); the others keep serving`);
    });
  });

  let nginx: ChildProcess | null = null;
  if (opts.lbPort !== null) {
    if (spawnSync('nginx', ['-v']).error) say('nginx is not installed (apt-get install nginx-light): no load balancer');
    else {
      const args = prepareNginxRunDir(join(opts.dataDir, 'nginx'), {
        nodes: ids.map((_, i) => `${opts.host}:${opts.basePort + i}`),
        listen: `${opts.host}:${opts.lbPort}`,
        balance: opts.lbBalance,
      });
      nginx = spawn('nginx', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      forward('nginx', nginx);
      nginx.on('exit', (code) => !stopping && say(`nginx exited (code ${code})`));
    }
  }

  say(`secret: ${file ? `kept in ${file}` : 'as given'}; data under ${opts.dataDir}`);
  for (const [i, id] of ids.entries()) say(`${id}: ${urlOf(i)}  (MCP ${urlOf(i)}/mcp, REST ${urlOf(i)}/api, status ${urlOf(i)}/cluster/status)`);
  const spread = opts.lbBalance === 'connection' ? 'each client connection kept to one node' : 'round-robin over the nodes';
  if (nginx) say(`load balancer: http://${opts.host}:${opts.lbPort} (${spread})`);
  void waitReady(ids.map((_, i) => urlOf(i))).then((ok) => ok && !stopping && say('all nodes ready'));

  await untilSignal();
  stopping = true;
  say('stopping');
  const exits = [...children.values(), ...(nginx ? [nginx] : [])].map(
    (c) => new Promise<void>((done) => (c.exitCode !== null || c.signalCode !== null ? done() : c.once('exit', () => done()))),
  );
  for (const c of children.values()) c.kill('SIGTERM');
  nginx?.kill('SIGQUIT'); // nginx's graceful stop
  await Promise.all(exits);
  return 0;
}

async function waitReady(urls: string[]): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const ready = await Promise.all(urls.map((u) => fetch(`${u}/readyz`).then((r) => r.ok, () => false)));
    if (ready.every(Boolean)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
