import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../cluster/harness.ts';
import { startUpstream, type Upstream } from './upstream.ts';

// Real nodes as child processes; the upstream is a real HTTP server on loopback, allowed by an IP rule.
let up: Upstream;
let c: TestCluster;
beforeAll(async () => {
  up = await startUpstream((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ n: up.seen.length, path: req.path, body: req.body.toString() }));
  });
  c = await TestCluster.start({ size: 3, args: ['--egress-allow', up.origin] });
}, 90_000);
afterAll(async () => {
  await c?.close();
  await up?.close();
});

const sent = (path: string) => up.seen.filter((r) => r.path === path).length;

describe('a session step that made requests continues on any node without sending them again', () => {
  it('the next step on another node sees the same answer; the upstream saw one request', async () => {
    const first = await c.step('n1', 'egress-a', `let got = await (await fetch(${JSON.stringify(up.origin)} + '/a', { method: 'POST', body: 'once' })).json(); got.n`);
    expect(first.status, JSON.stringify(first.json)).toBe(200);
    expect(first.json).toMatchObject({ status: 'completed', step: 1 });
    const n = first.json.result;
    for (const node of ['n2', 'n3']) {
      const next = await c.step(node, 'egress-a', 'JSON.stringify(got)');
      expect(next.json).toMatchObject({ status: 'completed', node, result: JSON.stringify({ n, path: '/a', body: 'once' }) });
    }
    expect(sent('/a')).toBe(1);
  });

  it('survives SIGKILL of the node right after its step committed: continuation elsewhere sends nothing again', async () => {
    const first = await c.step('n3', 'egress-b', `let b = await (await fetch(${JSON.stringify(up.origin)} + '/b', { method: 'POST' })).json(); b.n`);
    expect(first.json).toMatchObject({ status: 'completed', node: 'n3' });
    await c.kill('n3');
    try {
      const next = await c.step('n1', 'egress-b', 'b.n');
      expect(next.json).toMatchObject({ status: 'completed', result: first.json.result, step: 2 });
      expect(sent('/b')).toBe(1);
    } finally {
      await c.restart('n3');
      await c.waitReady();
    }
  });

  it('a retry with the same Idempotency-Key answers the recorded result without a second request', async () => {
    const body = { code: `await (await fetch(${JSON.stringify(up.origin)} + '/c', { method: 'POST' })).json()`, session: 'egress-c', language: 'js' };
    const headers = { 'idempotency-key': 'egress-retry-1' };
    const first = await c.post('n1', '/api/exec?wait=30000', body, headers);
    const retry = await c.post('n2', '/api/exec?wait=30000', body, headers);
    expect(first.json).toMatchObject({ status: 'completed' });
    expect(first.json.execution_id).toEqual(expect.any(String));
    expect(retry.json).toMatchObject({ execution_id: first.json.execution_id, status: 'completed', result: first.json.result });
    expect(sent('/c')).toBe(1);
  });
});
