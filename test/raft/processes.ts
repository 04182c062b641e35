// Child-process KV servers (test/raft/kv-server.ts) on loopback, for process tests and the benchmark.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { RaftNodeOptions, RaftStatus } from '../../src/raft/index.ts';

const serverPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kv-server.ts');

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

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
  const cfg = JSON.stringify({ id: n.id, port: n.port, dataDir: n.dataDir, peers, ...opts });
  const child = spawn(process.execPath, [serverPath, cfg], { stdio: ['ignore', 'pipe', 'inherit'] });
  n.child = child;
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${n.id} exited with ${code}`)));
  });
}

export function kill(n: ProcNode, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const c = n.child;
  n.child = null;
  if (!c || c.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    c.once('exit', () => resolve());
    c.kill(signal);
  });
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
