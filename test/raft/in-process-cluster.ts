// A cluster of in-process RaftNodes with real LevelDB and real HTTP on loopback.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RaftNode, type RaftNodeOptions } from '../../src/raft/index.ts';
import { CLUSTER_SECRET, tempDir, waitFor } from '../support/index.ts';
import { KvStateMachine } from './kv-state-machine.ts';

export interface LiveNode {
  id: string;
  url: string;
  dataDir: string;
  server: http.Server;
  node: RaftNode | null;
  sm: KvStateMachine | null;
}

/** Starts an HTTP server first (so the URL is known), then the RaftNode behind it. */
export async function listen(): Promise<{ server: http.Server; url: string; setNode(n: RaftNode | null): void }> {
  let node: RaftNode | null = null;
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    if (node) node.accept(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url, setNode: (n) => (node = n) };
}

export class InProcessCluster {
  readonly nodes = new Map<string, LiveNode & { setNode(n: RaftNode | null): void }>();

  private readonly extra: Partial<RaftNodeOptions>;
  constructor(extra: Partial<RaftNodeOptions> = {}) {
    this.extra = extra;
  }

  async start(ids: string[]): Promise<void> {
    for (const id of ids) {
      const l = await listen();
      this.nodes.set(id, { id, url: l.url, server: l.server, setNode: l.setNode, dataDir: await tempDir('raft-'), node: null, sm: null });
    }
    await Promise.all(ids.map((id) => this.boot(id)));
  }

  peers(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [id, n] of this.nodes) out[id] = n.url;
    return out;
  }

  async boot(id: string, opts: Partial<RaftNodeOptions> = {}): Promise<RaftNode> {
    const n = this.nodes.get(id)!;
    n.sm = await KvStateMachine.open(n.dataDir);
    n.node = await RaftNode.start({
      id,
      peers: this.peers(),
      url: n.url,
      dataDir: n.dataDir,
      secret: CLUSTER_SECRET,
      stateMachine: n.sm,
      tickMs: 20,
      ...this.extra,
      ...opts,
    });
    n.setNode(n.node);
    return n.node;
  }

  async add(id: string, opts: Partial<RaftNodeOptions> = {}): Promise<RaftNode> {
    const l = await listen();
    this.nodes.set(id, { id, url: l.url, server: l.server, setNode: l.setNode, dataDir: await tempDir('raft-'), node: null, sm: null });
    return this.boot(id, { join: true, ...opts });
  }

  async halt(id: string): Promise<void> {
    const n = this.nodes.get(id)!;
    n.setNode(null);
    await n.node?.stop();
    await n.sm?.close();
    n.node = null;
    n.sm = null;
  }

  node(id: string): RaftNode {
    return this.nodes.get(id)!.node!;
  }

  sm(id: string): KvStateMachine {
    return this.nodes.get(id)!.sm!;
  }

  async leader(timeoutMs = 10_000): Promise<string> {
    return waitFor('a leader', () => {
      for (const [id, n] of this.nodes) if (n.node?.status().role === 'leader') return id;
      return undefined;
    }, timeoutMs);
  }

  async close(): Promise<void> {
    for (const id of this.nodes.keys()) await this.halt(id);
    for (const n of this.nodes.values()) await new Promise((r) => n.server.close(r));
  }
}
