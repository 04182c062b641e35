// Each quota refuses over HTTP with its own status and a message naming it and the current use;
// GET /api/usage and /metrics report the use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode } from './node.ts';

type Node = Awaited<ReturnType<typeof startTestNode>>;
const NONE = { liveSessions: 0, stepsPerSession: 0, storedMb: 0, concurrentRuns: 0, cpuSecsPerMinute: 0 };

/** A node of its own for the enclosing describe, with these quotas set (the others off). */
function nodeWith(quota: Partial<typeof NONE>): () => Node {
  let node: Node | undefined;
  beforeAll(async () => {
    node = await startTestNode({ quota: { ...NONE, ...quota } });
  });
  afterAll(() => node?.stop());
  return () => node!;
}

async function exec(node: Node, body: object): Promise<{ status: number; json: { error?: string; message?: string; result?: unknown }; retryAfter: string | null }> {
  const r = await fetch(`${node.url}/api/exec?wait=30000`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'js', ...body }) });
  return { status: r.status, json: (await r.json()) as { error?: string; message?: string }, retryAfter: r.headers.get('retry-after') };
}

describe('sizes: 403 naming the quota and its use', () => {
  const current = nodeWith({ liveSessions: 2, stepsPerSession: 3 });

  it('live sessions, then steps per session', async () => {
    const node = current();
    expect((await exec(node, { code: '1', session: 'a' })).status).toBe(200);
    expect((await exec(node, { code: '1', session: 'b' })).status).toBe(200);
    const third = await exec(node, { code: '1', session: 'c' });
    expect(third).toMatchObject({ status: 403, json: { error: 'quota_exceeded', message: expect.stringContaining('quota live_sessions: 2 of 2') } });
    expect((await exec(node, { code: '2', session: 'a' })).status).toBe(200);
    expect((await exec(node, { code: '3', session: 'a' })).status).toBe(200);
    const fourth = await exec(node, { code: '4', session: 'a' });
    expect(fourth).toMatchObject({ status: 403, json: { message: expect.stringContaining('quota steps_per_session: session a has 3 of 3 steps') } });
    expect((await exec(node, { code: '1 + 1' })).json.result).toBe(2); // stateless runs hold no session

    const usage = (await (await fetch(`${node.url}/api/usage`)).json()) as { stored_bytes: number };
    expect(usage).toMatchObject({ live_sessions: 2, limits: { live_sessions: 2, steps_per_session: 3, stored_mb: 0 } });
    expect(usage.stored_bytes).toBeGreaterThan(0);
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(metrics).toMatch(/^raftbox_quota_usage\{subject="",quota="live_sessions"\} 2$/m);
  });
});

describe('stored state: 403 once the subject holds its MB', () => {
  const current = nodeWith({ storedMb: 0.01 });

  it('refuses session steps past it, not stateless runs', async () => {
    const node = current();
    const big = `// ${'x'.repeat(12_000)}\n1`;
    expect((await exec(node, { code: big, session: 's' })).status).toBe(200);
    const next = await exec(node, { code: '2', session: 's' });
    expect(next).toMatchObject({ status: 403, json: { message: expect.stringMatching(/^quota stored_mb: 0\.0 of 0\.01 MB/) } });
    expect((await exec(node, { code: '3' })).status).toBe(200);
  });
});

describe('rates: 429 with Retry-After', () => {
  const current = nodeWith({ concurrentRuns: 1, cpuSecsPerMinute: 0.05 });

  it('concurrent runs, then CPU seconds per minute', async () => {
    const node = current();
    // Started without waiting: it is running (about a second of CPU) when the next call comes.
    const slow = await fetch(`${node.url}/api/exec?wait=0`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 'let x = 0; for (let i = 0; i < 6e7; i++) x += i % 3; x' }) });
    const { execution_id } = (await slow.json()) as { execution_id: string };
    const second = await exec(node, { code: '2' });
    expect(second).toMatchObject({ status: 429, retryAfter: '1', json: { message: expect.stringContaining('quota concurrent_runs: 1 of 1') } });
    const done = (await (await fetch(`${node.url}/api/executions/${execution_id}?wait=30000`)).json()) as { status: string };
    expect(done.status).toBe('completed');

    // It used far more than 50 ms of CPU: the next run waits for the minute to move on.
    const over = await exec(node, { code: '1' });
    expect(over).toMatchObject({ status: 429, json: { message: expect.stringMatching(/^quota cpu_secs_per_minute: [\d.]+ of 0\.05 CPU seconds used in the last minute/) } });
    expect(Number(over.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(over.retryAfter)).toBeLessThanOrEqual(60);
  });
});
