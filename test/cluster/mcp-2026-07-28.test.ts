// MCP 2026-07-28 across a three-node cluster of real processes, each request to the next node in turn
// (what a round-robin balancer does): no handshake and no session id, so any node answers any request,
// and a run_js session continues from node to node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modernPost } from '../mcp/modern-wire.ts';
import { TestCluster } from './harness.ts';

let c: TestCluster;
let turn = 0;
/** The next node's base URL, round-robin. */
const next = () => c.nodes[turn++ % c.nodes.length]!.url;

beforeAll(async () => {
  c = await TestCluster.start();
  await c.leader();
}, 60_000);
afterAll(() => c?.close());

describe('MCP 2026-07-28 on a round-robin three-node cluster', { timeout: 60_000 }, () => {
  it('answers server/discover and a cached tools/list the same on every node', async () => {
    const discovered = await Promise.all(c.nodes.map(() => modernPost(next(), 'server/discover')));
    for (const d of discovered) expect(d.json.result).toEqual(discovered[0]!.json.result);
    expect(discovered[0]!.json.result.supportedVersions[0]).toBe('2026-07-28');
    const lists = await Promise.all(c.nodes.map(() => modernPost(next(), 'tools/list')));
    for (const l of lists) {
      expect(l.json.result).toMatchObject({ ttlMs: 300_000, cacheScope: 'public' });
      expect(l.json.result.tools).toEqual(lists[0]!.json.result.tools);
    }
  });

  it('continues one session across the nodes with tools/call and routing headers, no handshake', async () => {
    const first = await modernPost(next(), 'tools/call', { name: 'run_js', arguments: { code: 'let seen = []; seen.length', session: 'rr' } });
    expect(first.json.result.structuredContent).toMatchObject({ status: 'completed', result: 0 });
    const nodes = new Set([first.json.result.structuredContent.node]);
    for (let i = 1; i <= 5; i++) {
      const r = await modernPost(next(), 'tools/call', { name: 'run_js', arguments: { code: `seen.push(${i}); seen.join(',')`, session: 'rr' } });
      expect(r.status).toBe(200);
      expect(r.json.result).toMatchObject({ resultType: 'complete', structuredContent: { status: 'completed', step: i + 1 } });
      expect(r.json.result.structuredContent.result).toBe(Array.from({ length: i }, (_, k) => k + 1).join(','));
      nodes.add(r.json.result.structuredContent.node);
    }
    expect(nodes.size).toBe(3);
  });

  it('refuses a mismatched Mcp-Method on every node, before anything runs', async () => {
    for (const n of c.nodes) {
      const r = await modernPost(n.url, 'tools/call', { name: 'run_js', arguments: { code: 'globalThis.ran = 1', session: 'never' } }, { 'mcp-method': 'tools/list' });
      expect([r.status, r.json.error.code]).toEqual([400, -32020]);
    }
    expect((await c.get('n1', '/api/sessions/never')).status).toBe(404);
  });
});
