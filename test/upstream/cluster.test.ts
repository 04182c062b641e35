import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepAcknowledged, TestCluster } from '../cluster/harness.ts';
import { startHttpUpstream, type HttpUpstream } from './http-upstream.ts';

// Real nodes as child processes, each connected to the same upstream MCP server on loopback. Steps are
// retried under one idempotency key while the cluster answers 503 (an election on a loaded machine).
let upstream: HttpUpstream;
let c: TestCluster;
beforeAll(async () => {
  upstream = await startHttpUpstream();
  c = await TestCluster.start({ size: 3, args: ['--mcp-server', `web=${upstream.url}`] });
}, 90_000);
afterAll(async () => {
  await c?.close();
  await upstream?.close();
});

const called = (tool: string) => upstream.calls.get(tool) ?? 0;

describe('a session step that called an upstream tool continues on any node without calling it again', () => {
  it('the next steps on the other nodes see the answer; the upstream was called once', async () => {
    const before = called('add');
    const first = await stepAcknowledged(c, 'n1', 'tools-a', 'let got = await tools.web.add({ a: 40, b: 2 }); got.sum');
    expect(first.json).toMatchObject({ status: 'completed', step: 1, result: 42 });
    for (const node of ['n2', 'n3']) {
      const next = await stepAcknowledged(c, node, 'tools-a', 'got.sum + 1');
      expect(next.json).toMatchObject({ status: 'completed', node, result: 43 });
    }
    expect(called('add')).toBe(before + 1);
  });

  it('survives SIGKILL of the node right after its step committed: continuation elsewhere calls nothing again', async () => {
    const before = called('echo');
    const first = await stepAcknowledged(c, 'n3', 'tools-b', "let said = await mcp.callTool('web', 'echo', { text: 'once' }); said");
    expect(first.json).toMatchObject({ status: 'completed', node: 'n3', result: 'once\n(4 characters)' });
    await c.kill('n3');
    try {
      const next = await stepAcknowledged(c, 'n1', 'tools-b', 'said.length');
      expect(next.json).toMatchObject({ status: 'completed', result: 'once\n(4 characters)'.length, step: 2 });
      expect(called('echo')).toBe(before + 1);
    } finally {
      await c.restart('n3');
      await c.waitReady();
    }
  });
});
