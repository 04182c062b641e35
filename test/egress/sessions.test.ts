import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/index.ts';
import { Egress } from '../../src/egress/index.ts';
import { createDomain, type Domain } from '../../src/executions/index.ts';
import { startNode } from '../../src/server.ts';
import { Fixture } from '../sessions/fixture.ts';
import { startUpstream, type Upstream } from './upstream.ts';

let up: Upstream;
beforeAll(async () => {
  up = await startUpstream((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ n: up.seen.length, path: req.path }));
  });
});
afterAll(() => up.close());

const posts = (path: string) => up.seen.filter((r) => r.method === 'POST' && r.path === path).length;
const WAIT = { waitMs: 30_000 };

describe('a step with a POST on a session two nodes step at once', () => {
  let f: Fixture;
  let egress: Egress;
  let a: Domain;
  let b: Domain;
  beforeEach(async () => {
    f = await Fixture.open();
    egress = new Egress({ allow: [up.origin], inject: [], timeoutMs: 10_000, maxResponseBytes: 1 << 20, maxRecordedBytes: 8 << 20, maxConcurrent: 4, maxRequests: 16, peers: [] });
    // Two nodes' domains over one replicated state, as test/sessions/two-nodes.test.ts.
    a = await createDomain({ state: f.state, log: f.log, pool: f.pool, options: { nodeId: 'a' }, egress });
    b = await createDomain({ state: f.state, log: f.log, pool: f.pool, options: { nodeId: 'b' }, egress });
  });
  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
    await f.close();
    await egress.close();
  });

  it('never sends it twice: the upstream sees one POST per committed step', async () => {
    await a.executions.run({ code: 'let sent = []', session: 's' }, WAIT);
    // Each step reads the head, then spins long enough that both have read it before either calls
    // out: one of them runs on a head that is stale by the time it would send.
    const code = `for (let i = 0; i < 5e7; i++); sent.push((await (await fetch(${JSON.stringify(up.origin)} + '/post', { method: 'POST' })).json()).n); sent.length`;
    const results = await Promise.allSettled([a.executions.run({ code, session: 's' }, WAIT), b.executions.run({ code, session: 's' }, WAIT)]);
    const answered = results.flatMap((r) => (r.status === 'fulfilled' && r.value.status === 'completed' ? [r.value] : []));
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ status: 409 });
    const info = await a.sessions.get('s');
    expect(info.steps).toBe(1 + answered.length);
    expect(posts('/post')).toBe(answered.length);
    const final = await b.executions.run({ code: 'sent.length', session: 's' }, WAIT);
    expect(final.result).toBe(answered.length);
  });
});

describe('injected credentials on a real node', () => {
  it('reach the upstream, but not the step, its journal or the logs (debug level)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'raftbox-egress-'));
    const secret = `tok-${Math.random().toString(36).slice(2)}-do-not-log`;
    await writeFile(join(dir, 'token'), secret);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const config = ConfigSchema.parse({
      port: 0,
      dataDir: join(dir, 'data'),
      logLevel: 'trace',
      maxConcurrent: 2,
      egress: { allow: [up.origin], inject: [`${up.origin}/secret Authorization: Bearer {file:${join(dir, 'token')}}`] },
    });
    const node = await startNode(config, { log: pino({ level: 'trace' }, sink) });
    try {
      const before = up.seen.length;
      const exec = async (code: string) =>
        (await fetch(`${node.url}/api/exec?wait=30000`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code, session: 'cred', language: 'js' }) })).json();
      const first = await exec(`const r = await fetch(${JSON.stringify(up.origin)} + '/secret/x'); JSON.stringify({ r: [...r.headers], s: r.status, b: await r.text(), g: Object.keys(globalThis) })`);
      expect(first).toMatchObject({ status: 'completed' });
      expect(up.seen.slice(before).map((r) => r.headers.authorization)).toEqual([`Bearer ${secret}`]);
      const session = await (await fetch(`${node.url}/api/sessions/cred`)).text();
      expect(JSON.stringify(first)).not.toContain(secret);
      expect(session).not.toContain(secret);
      expect(lines.join('')).not.toContain(secret);
      expect(lines.length).toBeGreaterThan(0);
    } finally {
      await node.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
