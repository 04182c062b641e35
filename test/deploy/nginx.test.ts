// The load balancer config: static checks always; `nginx -t` and a real nginx in front of three fake nodes
// where nginx is on PATH (`npm run setup:e2e` installs Debian's nginx-light; without it these tests are skipped, and fail under .ci/run).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { prepareNginxRunDir, renderNginxSite, type LbBalance } from '../../cluster/nginx-site.ts';
import { freePort } from '../support/index.ts';
import { missingPrerequisite, onPath } from './prerequisites.ts';

const clusterDir = new URL('../../cluster/', import.meta.url).pathname;
const read = (file: string) => readFileSync(join(clusterDir, file), 'utf8');
const noNginx = missingPrerequisite('nginx-light', onPath('nginx'));

describe('cluster/nginx.conf (static)', () => {
  it('the local site file is renderNginxSite() for 127.0.0.1:7101-7103 behind 127.0.0.1:8080', () => {
    const site = renderNginxSite({ nodes: ['127.0.0.1:7101', '127.0.0.1:7102', '127.0.0.1:7103'], listen: '127.0.0.1:8080' });
    expect(read('raftbox-site.conf').endsWith(site)).toBe(true);
    expect(site).toContain('server 127.0.0.1:7102 max_fails=3 fail_timeout=2s;');
    expect(site).toContain('keepalive 64;');
  });

  it('keeps every runtime path relative to the -p prefix and leaves `daemon` to the command line', () => {
    const main = read('nginx.conf');
    expect(main).toMatch(/^pid nginx\.pid;$/m);
    expect(main).toMatch(/^error_log stderr/m);
    expect(main).not.toMatch(/^\s*daemon /m);
    for (const temp of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) expect(main).toContain(`${temp}_temp_path ${temp}_temp;`);
  });

  it('never lets nginx replay a POST that reached a node, buffers no SSE, forwards X-Request-Id', () => {
    const proxy = read('raftbox-proxy.conf');
    expect(proxy).toMatch(/^proxy_next_upstream error timeout http_502 http_503 http_504;$/m);
    expect(proxy).not.toMatch(/^proxy_next_upstream .*non_idempotent/m);
    // Only the read-only MCP lane may be replayed; both MCP lanes stream.
    expect(proxy.match(/non_idempotent;/g)).toHaveLength(1);
    expect(proxy).toMatch(/location \/_mcp\/read \{[^}]*non_idempotent;/);
    for (const lane of ['read', 'call']) expect(proxy).toMatch(new RegExp(`location /_mcp/${lane} \\{[^}]*internal;[^}]*proxy_buffering off;`));
    expect(proxy).toContain('proxy_set_header X-Request-Id $raftbox_request_id;');
    expect(read('nginx.conf')).toMatch(/client_max_body_size 16m;/);
  });
});

/** A fake raftbox node: answers 200 (or what `answer` says) and records what reached it. */
interface FakeNode {
  port: number;
  seen: Array<{ method: string; url: string; requestId: string | undefined; bodyBytes: number }>;
  answer: (req: IncomingMessage, res: ServerResponse) => boolean; // true when it answered
  server: Server;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function fakeNode(): Promise<FakeNode> {
  const node = { seen: [], answer: () => false } as unknown as FakeNode;
  node.server = createServer((req, res) => {
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
    req.on('end', () => {
      node.seen.push({ method: req.method!, url: req.url!, requestId: req.headers['x-request-id'] as string | undefined, bodyBytes });
      if (node.answer(req, res)) return;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ node: node.port }));
    });
  });
  node.port = await listen(node.server);
  return node;
}

interface Balancer {
  url: string;
  nodes: FakeNode[];
  nginx: ChildProcess;
}
const running: Balancer[] = [];

/** nginx from cluster/ (rendered exactly as `raftbox cluster` would) in front of three fresh fake nodes. */
async function startBalancer(balance: LbBalance = 'request'): Promise<Balancer> {
  const nodes = [await fakeNode(), await fakeNode(), await fakeNode()];
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'raftbox-nginx-'));
  const args = prepareNginxRunDir(dir, { nodes: nodes.map((n) => `127.0.0.1:${n.port}`), listen: `127.0.0.1:${port}`, balance });
  const nginx = spawn('nginx', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  nginx.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const balancer = { url: `http://127.0.0.1:${port}`, nodes, nginx };
  running.push(balancer);
  for (let attempt = 0; ; attempt++) {
    try {
      await fetch(`${balancer.url}/raft/ready`);
      break;
    } catch {
      if (attempt > 100 || nginx.exitCode !== null) throw new Error(`nginx did not start: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return balancer;
}

afterEach(async () => {
  for (const b of running.splice(0)) {
    const exited = new Promise((resolve) => b.nginx.once('exit', resolve));
    b.nginx.kill('SIGTERM');
    await exited;
    for (const node of b.nodes) node.server.closeAllConnections();
    await Promise.all(b.nodes.map((node) => new Promise((resolve) => node.server.close(resolve))));
  }
});

const answerWith = (status: number, method?: string) => (req: IncomingMessage, res: ServerResponse) => {
  if (method !== undefined && req.method !== method) return false;
  res.writeHead(status, { 'Content-Type': 'application/json' }).end('{"error":"unavailable","message":"no leader"}');
  return true;
};

describe.skipIf(noNginx !== null)('cluster/nginx.conf under a real nginx', () => {
  it('passes nginx -t as shipped, run from a prefix directory by a non-daemon nginx', () => {
    const prefix = mkdtempSync(join(tmpdir(), 'raftbox-nginx-t-'));
    execFileSync('nginx', ['-t', '-p', prefix, '-c', join(clusterDir, 'nginx.conf'), '-e', 'stderr'], { stdio: 'pipe' });
  });

  it('passes nginx -t in the compose layout (node names, which only compose resolves, swapped for loopback)', () => {
    const etc = mkdtempSync(join(tmpdir(), 'raftbox-nginx-compose-'));
    copyFileSync(join(clusterDir, 'nginx.conf'), join(etc, 'nginx.conf'));
    copyFileSync(join(clusterDir, 'raftbox-proxy.conf'), join(etc, 'raftbox-proxy.conf'));
    writeFileSync(join(etc, 'raftbox-site.conf'), read('compose/raftbox-site.conf').replace(/\bnode[123]:3000\b/g, '127.0.0.1:3000'));
    execFileSync('nginx', ['-t', '-p', etc, '-c', join(etc, 'nginx.conf'), '-e', 'stderr'], { stdio: 'pipe' });
  });

  it('spreads requests over all three nodes and keeps or mints X-Request-Id', async () => {
    const lb = await startBalancer();
    for (let i = 0; i < 12; i++) expect((await fetch(`${lb.url}/api/executions/e${i}`)).status).toBe(200);
    for (const node of lb.nodes) expect(node.seen.length).toBeGreaterThan(0);

    const given = await fetch(`${lb.url}/healthz`, { headers: { 'X-Request-Id': 'req-42' } });
    expect(given.headers.get('x-request-id')).toBe('req-42');
    const minted = await fetch(`${lb.url}/healthz`);
    const id = minted.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(lb.nodes.flatMap((n) => n.seen).map((s) => s.requestId)).toEqual(expect.arrayContaining(['req-42', id]));
  });

  it('with --lb-balance connection keeps each client connection on one node, and spreads connections', async () => {
    const lb = await startBalancer('connection');
    const nodeOf = (tag: string) => lb.nodes.findIndex((n) => n.seen.some((s) => s.url.endsWith(tag)));
    const used = new Set<number>();
    for (let c = 0; c < 12; c++) {
      const conn = new Client(lb.url, { pipelining: 1 });
      for (let i = 0; i < 5; i++) {
        const res = await conn.request({ path: `/api/executions/c${c}-${i}`, method: 'GET' });
        await res.body.dump();
        expect(res.statusCode).toBe(200);
      }
      await conn.close();
      const where = [0, 1, 2, 3, 4].map((i) => nodeOf(`/c${c}-${i}`));
      expect(new Set(where).size, `connection ${c} went to nodes ${where}`).toBe(1);
      used.add(where[0]!);
    }
    expect(used.size).toBeGreaterThan(1);
  });

  it('with session balancing (the default) sends the requests naming a session (header or query) to its node, and spreads the rest', async () => {
    const lb = await startBalancer('session');
    const nodeOf = (tag: string) => lb.nodes.findIndex((n) => n.seen.some((s) => s.url.includes(tag)));
    const used = new Set<number>();
    for (let s = 0; s < 12; s++) {
      for (let i = 0; i < 4; i++) {
        // A fresh connection each time: the session alone decides where a request goes.
        const res = await fetch(`${lb.url}/api/exec?tag=s${s}-${i}`, { method: 'POST', body: '{}', headers: { 'Raftbox-Session': `agent-${s}`, connection: 'close' } });
        expect(res.status).toBe(200);
      }
      const polled = await fetch(`${lb.url}/api/executions?session=agent-${s}&tag=s${s}-poll`, { headers: { connection: 'close' } });
      expect(polled.status).toBe(200);
      const where = [0, 1, 2, 3, 'poll'].map((i) => nodeOf(`tag=s${s}-${i}`));
      expect(new Set(where).size, `session ${s} went to nodes ${where}`).toBe(1);
      used.add(where[0]!);
    }
    expect(used.size).toBeGreaterThan(1);
    for (let i = 0; i < 60; i++) expect((await fetch(`${lb.url}/api/executions/free-${i}`, { headers: { connection: 'close' } })).status).toBe(200);
    for (const node of lb.nodes) expect(node.seen.filter((s) => s.url.includes('/free-')).length).toBeGreaterThan(0);
  });

  it('retries a GET on the next node when a node answers 503', async () => {
    const lb = await startBalancer();
    lb.nodes[0]!.answer = answerWith(503);
    for (let i = 0; i < 6; i++) expect((await fetch(`${lb.url}/api/executions/e${i}`)).status).toBe(200);
    expect(lb.nodes[0]!.seen.length).toBeGreaterThan(0);
  });

  it('never replays a POST that reached a node, even when it answered 503', async () => {
    const lb = await startBalancer();
    for (const node of lb.nodes) node.answer = answerWith(503, 'POST');
    const res = await fetch(`${lb.url}/api/exec`, { method: 'POST', body: '{"code":"1 + 1"}', headers: { 'Content-Type': 'application/json' } });
    expect(res.status).toBe(503);
    expect(lb.nodes.flatMap((n) => n.seen).filter((s) => s.method === 'POST')).toHaveLength(1);
  });

  it('moves a POST on when its node is down (nothing was sent), so a dead node is invisible to clients', async () => {
    const lb = await startBalancer();
    const dead = lb.nodes[1]!;
    await new Promise((resolve) => dead.server.close(resolve));
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${lb.url}/api/exec?wait=5000`, { method: 'POST', body: '{"code":"1 + 1"}', headers: { 'Content-Type': 'application/json' } });
      expect(res.status).toBe(200);
    }
    expect(lb.nodes[0]!.seen.length + lb.nodes[2]!.seen.length).toBe(6);
  });

  it('passes /mcp SSE events through as the node writes them', async () => {
    const lb = await startBalancer();
    let release: () => void = () => {};
    for (const node of lb.nodes) {
      node.answer = (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.write('event: message\ndata: {"first":true}\n\n');
        release = () => res.end('event: message\ndata: {"last":true}\n\n');
        return true;
      };
    }
    const res = await fetch(`${lb.url}/mcp`, { method: 'POST', body: '{}', headers: { Accept: 'application/json, text/event-stream' } });
    const reader = res.body!.getReader();
    const first = await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('first SSE event held back by nginx')), 2000)),
    ]);
    expect(new TextDecoder().decode(first.value)).toContain('"first":true');
    release();
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += new TextDecoder().decode(chunk.value);
    expect(rest).toContain('"last":true');
  });

  it('routes MCP 2026-07-28 on Mcp-Method: discover and tools/list move past a 503, tools/call and older revisions never', async () => {
    const lb = await startBalancer();
    const mcp = (method: string, version = '2026-07-28') =>
      fetch(`${lb.url}/mcp`, {
        method: 'POST',
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: {} }),
        headers: { 'Content-Type': 'application/json', 'MCP-Protocol-Version': version, 'Mcp-Method': method },
      });
    lb.nodes[0]!.answer = answerWith(503, 'POST');
    for (let i = 0; i < 6; i++) for (const method of ['server/discover', 'tools/list']) expect((await mcp(method)).status).toBe(200);
    expect(lb.nodes[0]!.seen.length).toBeGreaterThan(0);
    expect(lb.nodes.flatMap((n) => n.seen).every((s) => s.url === '/mcp')).toBe(true);

    for (const node of lb.nodes) node.answer = answerWith(503, 'POST');
    const posts = () => lb.nodes.flatMap((n) => n.seen).filter((s) => s.method === 'POST').length;
    for (const [method, version] of [['tools/call', '2026-07-28'], ['tools/list', '2025-11-25']] as const) {
      const before = posts();
      expect((await mcp(method, version)).status).toBe(503);
      expect(posts() - before, `${method} on ${version}`).toBe(1);
    }
    expect((await fetch(`${lb.url}/_mcp/read`, { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('lets large bodies through to the node, which owns the real cap', async () => {
    const lb = await startBalancer();
    const body = 'x'.repeat(8 * 1024 * 1024);
    expect((await fetch(`${lb.url}/api/exec`, { method: 'POST', body })).status).toBe(200);
    expect(lb.nodes.flatMap((n) => n.seen).find((s) => s.method === 'POST')!.bodyBytes).toBe(body.length);
  });

  it('keeps node-to-node /raft/ routes off the public endpoint', async () => {
    const lb = await startBalancer();
    expect((await fetch(`${lb.url}/raft/append`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect(lb.nodes.flatMap((n) => n.seen).filter((s) => s.url.startsWith('/raft/'))).toEqual([]);
  });
});
