import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { machineToken, revoke, sample, startOAuthNode } from './oauth-node.ts';

type Started = Awaited<ReturnType<typeof startOAuthNode>>;
let a: Started;
let b: Started;
beforeAll(async () => {
  // Two nodes in one process: each must have a registry of its own.
  [a, b] = await Promise.all([startOAuthNode(), startOAuthNode({ metricsPublic: false })]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

const scrape = async (url: string, token?: string) => {
  const res = await fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
};

const run = (url: string, token: string, body: object) =>
  fetch(`${url}/api/exec?wait=20000`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });

const listRunning = async (url: string, token: string) => {
  const res = await fetch(`${url}/api/executions?status=running`, { headers: { authorization: `Bearer ${token}` } });
  return ((await res.json()) as { executions: unknown[] }).executions.length;
};

describe('GET /metrics', () => {
  it('counts runs by outcome, their durations, replays, rejections and token outcomes, per node', async () => {
    const token = await machineToken(a.node.url);
    expect((await run(a.node.url, token, { code: '1 + 1', language: 'js' })).status).toBe(200);
    expect((await run(a.node.url, token, { code: 'throw new Error("no")', language: 'js' })).status).toBe(200);
    expect((await run(a.node.url, token, { code: 'let x = 1; x', language: 'js', session: 'm' })).status).toBe(200);
    // A fork from the first step's state rebuilds it in a fresh isolate: a replay.
    const first = (await (await run(a.node.url, token, { code: 'x + 1', language: 'js', session: 'm' })).json()) as { heap: string };
    const fork = await run(a.node.url, token, { code: "x", language: "js", heap: first.heap });
    expect(await fork.json()).toMatchObject({ status: "completed", result: 1 });
    // One slot, no queue: a second run while one holds the slot is refused.
    const busy = run(a.node.url, token, { code: 'while (true) {}', language: 'js', execution_timeout_secs: 1 });
    await waitFor('the busy run to hold the slot', async () => (await listRunning(a.node.url, token)) === 1);
    expect((await run(a.node.url, token, { code: '2', language: 'js' })).status).toBe(429);
    expect(((await (await busy).json()) as { status: string }).status).toBe('timeout');
    expect((await fetch(`${a.node.url}/api/executions`, { headers: { authorization: 'Bearer not-a-token' } })).status).toBe(401);
    await revoke(a.node.url, token);

    const m = await scrape(a.node.url);
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(m.text, 'raftbox_executions_total{status="completed"}')).toBe(4);
    expect(sample(m.text, 'raftbox_executions_total{status="failed"}')).toBe(1);
    expect(sample(m.text, 'raftbox_executions_total{status="timeout"}')).toBe(1);
    expect(sample(m.text, 'raftbox_execution_duration_seconds_count')).toBe(6);
    expect(sample(m.text, 'raftbox_admission_rejections_total')).toBe(1);
    expect(sample(m.text, 'raftbox_session_replay_seconds_count{path="request"}')).toBeGreaterThanOrEqual(1);
    expect(sample(m.text, 'raftbox_oauth_tokens_total{outcome="issued"}')).toBe(1);
    expect(sample(m.text, 'raftbox_oauth_tokens_total{outcome="rejected"}')).toBe(1);
    expect(sample(m.text, 'raftbox_oauth_tokens_total{outcome="revoked"}')).toBe(1);
    expect(sample(m.text, 'raftbox_raft_role{role="leader"}')).toBe(1);
    expect(sample(m.text, 'raftbox_raft_term')).toBeGreaterThanOrEqual(1);
    expect(sample(m.text, 'raftbox_raft_applied_index')).toBe(sample(m.text, 'raftbox_raft_commit_index'));
    expect(sample(m.text, 'raftbox_raft_proposal_seconds_count{outcome="ok"}')).toBeGreaterThan(5);
    expect(sample(m.text, 'raftbox_admission_queue_depth')).toBe(0);
    expect(sample(m.text, 'raftbox_pool_isolates')).toBeGreaterThanOrEqual(0); // the timed-out run's isolate was discarded
    expect(sample(m.text, 'raftbox_live_sessions')).toBeGreaterThanOrEqual(1);
    expect(sample(m.text, 'raftbox_raft_snapshots_total{kind="taken"}')).toBe(0);
    expect(m.text).toMatch(/^process_cpu_seconds_total /m);

    // The other node in this process counted none of it.
    const other = await scrape(b.node.url, await machineToken(b.node.url));
    expect(sample(other.text, 'raftbox_executions_total{status="completed"}')).toBe(0);
    expect(sample(other.text, 'raftbox_oauth_tokens_total{outcome="issued"}')).toBe(1);
  });

  it('is public on a loopback node by default, and needs a raftbox:read token with metricsPublic false', async () => {
    expect((await scrape(a.node.url)).status).toBe(200);
    const refused = await fetch(`${b.node.url}/metrics`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer .*scope="raftbox:read"/);
    expect((await scrape(b.node.url, await machineToken(b.node.url))).status).toBe(200);
  });
});
