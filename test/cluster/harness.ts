// Real raftbox nodes as child processes on loopback (`node --no-node-snapshot
// src/cli/main.ts serve`), each with its own temp data dir. Raft traffic from node a to node b goes
// through its own TCP proxy (a→b), so a test can cut one node off from the others (a partition)
// while clients still reach it directly.
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLUSTER_SECRET, freePort, startChild, stopChild, tempDir, waitFor } from '../support/index.ts';

export const repo = fileURLToPath(new URL('../..', import.meta.url));

export interface Answer {
  status: number;
  json: any; // test answers are checked field by field
  retryAfter: string | null;
}

/** A TCP proxy that can be cut (drops every connection and refuses new ones) and healed. */
export class CuttableProxy {
  private readonly sockets = new Set<net.Socket>();
  private cut = false;

  private readonly server: net.Server;
  readonly port: number;
  private constructor(
    server: net.Server,
    port: number,
  ) {
    this.server = server;
    this.port = port;
  }

  static async start(target: number): Promise<CuttableProxy> {
    const server = net.createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
    const proxy = new CuttableProxy(server, port);
    server.on('connection', (client) => proxy.accept(client, target));
    return proxy;
  }

  private accept(client: net.Socket, target: number): void {
    if (this.cut) return void client.destroy();
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  setCut(cut: boolean): void {
    this.cut = cut;
    if (cut) for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    this.setCut(true);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A `raftbox serve` child process of a TestCluster. */
export interface ClusterNode {
  id: string;
  port: number;
  url: string;
  dataDir: string;
  /** This node's view of the peers: its own URL, and a proxy per other node. */
  peers: Record<string, string>;
  child: ChildProcess | null;
  /** The tail of what it printed. */
  output: string;
}

export class TestCluster {
  private readonly proxies = new Map<string, CuttableProxy>(); // key `${from}>${to}`

  readonly nodes: ClusterNode[];
  private readonly root: string;
  private readonly extraArgs: string[];
  private readonly nodeArgs: string[];
  private readonly argsOf: (id: string) => string[];
  private constructor(
    nodes: ClusterNode[],
    root: string,
    extraArgs: string[],
    nodeArgs: string[],
    argsOf: (id: string) => string[],
  ) {
    this.nodes = nodes;
    this.root = root;
    this.extraArgs = extraArgs;
    this.nodeArgs = nodeArgs;
    this.argsOf = argsOf;
  }

  /**
   * `direct`: nodes talk to each other without the proxies (no partitions; for benchmarks).
   * `argsOf`: `serve` arguments of one node only (e.g. its own packages dir), after `args`.
   */
  static async start(
    opts: { size?: number; args?: string[]; direct?: boolean; nodeArgs?: string[]; argsOf?: (id: string) => string[] } = {},
  ): Promise<TestCluster> {
    const size = opts.size ?? 3;
    const root = await tempDir('raftbox-cluster-');
    const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
    const ports = await Promise.all(ids.map(() => freePort()));
    const nodes: ClusterNode[] = ids.map((id, i) => ({
      id,
      port: ports[i]!,
      url: `http://127.0.0.1:${ports[i]}`,
      dataDir: join(root, id),
      peers: {},
      child: null,
      output: '',
    }));
    const cluster = new TestCluster(nodes, root, opts.args ?? [], opts.nodeArgs ?? [], opts.argsOf ?? (() => []));
    for (const from of nodes) {
      for (const to of nodes) {
        if (from === to || opts.direct) {
          from.peers[to.id] = to.url;
          continue;
        }
        const proxy = await CuttableProxy.start(to.port);
        cluster.proxies.set(`${from.id}>${to.id}`, proxy);
        from.peers[to.id] = `http://127.0.0.1:${proxy.port}`;
      }
    }
    try {
      await Promise.all(nodes.map((n) => cluster.spawn(n)));
      await cluster.waitReady();
    } catch (err) {
      // A start that failed (a node too slow to listen on a loaded machine) must not leave the nodes
      // that did start running after the test file is gone.
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  node(id: string): ClusterNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Starts (or restarts, from its data dir) a node; resolves once it listens. */
  async spawn(n: ClusterNode, extra: string[] = []): Promise<void> {
    const peers = Object.entries(n.peers).map(([id, url]) => `${id}=${url}`).join(',');
    const args = ['--no-node-snapshot', ...this.nodeArgs, 'src/cli/main.ts', 'serve', '--node-id', n.id, '--port', String(n.port), '--data-dir', n.dataDir, '--peers', peers, '--log-level', 'warn', '--max-concurrent', '4', ...this.extraArgs, ...this.argsOf(n.id), ...extra];
    const started = startChild(args, { cwd: repo, env: { ...process.env, RAFTBOX_CLUSTER_SECRET: CLUSTER_SECRET } });
    const child = started.child;
    n.child = child;
    // `output` is read by tests while the node runs and after it died: keep the tail on the node.
    const collect = () => (n.output = started.output());
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    await waitFor(`${n.id} to listen`, async () => (await fetch(`${n.url}/healthz`).then((r) => r.ok, () => false)) || (child.exitCode !== null && fail(`${n.id} exited: ${started.output()}`)), 30_000);
  }

  /** A new node that starts outside the membership (`--join`) and waits to be added. */
  async addJoiner(id: string): Promise<ClusterNode> {
    const port = await freePort();
    const n: ClusterNode = { id, port, url: `http://127.0.0.1:${port}`, dataDir: join(this.root, id), peers: { ...this.nodes[0]!.peers }, child: null, output: '' };
    n.peers[id] = n.url;
    this.nodes.push(n);
    await this.spawn(n, ['--join']);
    return n;
  }

  kill(id: string): Promise<void> {
    const n = this.node(id);
    const c = n.child;
    n.child = null;
    return stopChild(c);
  }

  restart(id: string): Promise<void> {
    return this.spawn(this.node(id));
  }

  /** Cuts every Raft connection to and from `id` (clients still reach it), or heals them. */
  partition(id: string, cut = true): void {
    for (const [key, proxy] of this.proxies) {
      const [from, to] = key.split('>');
      if (from === id || to === id) proxy.setCut(cut);
    }
  }

  alive(): ClusterNode[] {
    return this.nodes.filter((n) => n.child !== null);
  }

  async waitReady(nodes: ClusterNode[] = this.alive()): Promise<void> {
    await waitFor('nodes ready', async () => (await Promise.all(nodes.map((n) => this.get(n.id, '/readyz').then((r) => r.status === 200, () => false)))).every(Boolean), 30_000);
  }

  async leader(): Promise<string> {
    let leader = '';
    await waitFor('a leader', async () => {
      for (const n of this.alive()) {
        const s = await this.get(n.id, '/cluster/status').catch(() => null);
        if (s?.json?.role === 'leader') leader = n.id;
      }
      return leader !== '';
    });
    return leader;
  }

  get(id: string, path: string): Promise<Answer> {
    return this.call(id, 'GET', path);
  }

  post(id: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    return this.call(id, 'POST', path, body, headers);
  }

  async call(id: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const res = await fetch(this.node(id).url + path, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null, retryAfter: res.headers.get('retry-after') };
  }

  /** A session step on node `id`, answered once committed. */
  step(id: string, session: string, code: string, extra: Record<string, unknown> = {}): Promise<Answer> {
    return this.post(id, '/api/exec?wait=30000', { code, session, language: 'js', ...extra });
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n.id)));
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    await rm(this.root, { recursive: true, force: true });
  }
}

function fail(message: string): never {
  throw new Error(message);
}

/** Replays of warm sessions node `id` has done, on steps' request paths or as a standby (its /metrics). */
export async function replays(c: TestCluster, id: string, path: 'request' | 'standby'): Promise<number> {
  const text = await (await fetch(`${c.node(id).url}/metrics`)).text();
  return Number(new RegExp(`^raftbox_session_replay_seconds_count\\{path="${path}"\\} (\\S+)`, 'm').exec(text)?.[1] ?? 0);
}

/**
 * A step retried while the cluster answers 503 (an election after a kill or a partition), under one
 * idempotency key: a retry of a step that did commit answers that first execution, never a second run.
 */
export async function stepAcknowledged(c: TestCluster, id: string, session: string, code: string, timeoutMs = 20_000): Promise<Answer> {
  const key = `step-${Math.random().toString(36).slice(2)}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await c.post(id, '/api/exec?wait=30000', { code, session, language: 'js' }, { 'idempotency-key': key });
    if (r.status !== 503 || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}
