// Child-process KV servers (test/raft/kv-server.ts) on loopback, for process tests and the benchmark.
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { RaftNodeOptions, RaftStatus } from '../../src/raft/index.ts';
import { CLUSTER_SECRET, freePort, startChild, stopChild, tempDir, waitFor } from '../support/index.ts';

const serverPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kv-server.ts');

export interface ProcNode {
  id: string;
  port: number;
  url: string;
  dataDir: string;
  child: ChildProcess | null;
}

export async function spawnNode(
  n: ProcNode,
  peers: Record<string, string>,
  opts: { join?: boolean; raft?: Partial<RaftNodeOptions> } = {},
): Promise<void> {
  const cfg = JSON.stringify({ id: n.id, port: n.port, dataDir: n.dataDir, peers, secret: CLUSTER_SECRET, ...opts });
  const started = startChild([serverPath, cfg]);
  n.child = started.child;
  await waitFor(`${n.id} to start`, () => {
    if (started.child.exitCode !== null) throw new Error(`${n.id} exited with ${started.child.exitCode}: ${started.output()}`);
    return started.output().includes('ready\n');
  }, 30_000);
}

/** A fresh kv-server node (not started) on a free port with its own data dir. */
export async function procNode(id: string): Promise<ProcNode> {
  const port = await freePort();
  return { id, port, url: `http://127.0.0.1:${port}`, dataDir: await tempDir('raft-proc-'), child: null };
}

export function kill(n: ProcNode, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const c = n.child;
  n.child = null;
  return stopChild(c, signal);
}

export async function call(url: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await request(url + p, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    headersTimeout: 15_000,
    bodyTimeout: 15_000,
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? (JSON.parse(text) as unknown) : null };
}

export async function status(n: ProcNode): Promise<RaftStatus | null> {
  try {
    const r = await call(n.url, '/status');
    return r.status === 200 ? (r.json as RaftStatus) : null;
  } catch {
    return null;
  }
}
