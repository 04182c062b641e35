// The worst requests the caps allow, sent to the leader and to a follower while a session is stepped
// round-robin across the three nodes: Raft heartbeats must keep flowing (no election: the term and
// the leader stay), and the session must lose and double nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepAcknowledged, TestCluster, type Answer } from './harness.ts';

let c: TestCluster;
beforeAll(async () => {
  c = await TestCluster.start();
}, 60_000);
afterAll(() => c?.close());

const IDS = ['n1', 'n2', 'n3'];
const STEPS = 30;

/** Each at a cap: error text, result in UTF-8, console, rejection floods, a compiler crash, the largest list. */
function worstRequests(id: string): Array<() => Promise<Answer>> {
  const run = (body: Record<string, unknown>) => () => c.post(id, '/api/exec?wait=30000', { language: 'js', ...body });
  return [
    run({ code: 'throw new Error("A".repeat(2e7))', heap_memory_max_mb: 256 }),
    run({ code: '"€".repeat(3e6)', heap_memory_max_mb: 128 }),
    run({ code: 'for (let i = 0; i < 2e4; i++) console.log("x".repeat(100))' }),
    run({
      code: 'for (let i = 0; i < 300; i++) { await new Promise((r) => setTimeout(r, 1)); Promise.reject(new Error("r" + i)) } (function spin() { Promise.resolve().then(spin) })()',
      execution_timeout_secs: 2,
    }),
    run({ code: `let x: number = ${'!'.repeat(300_000)}1`, language: 'ts' }),
    () => c.get(id, '/api/executions?limit=500'),
  ];
}

const status = async (id: string) => (await c.get(id, '/cluster/status')).json as { term: number; leader: { id: string } | null };

describe('worst allowed requests during a round-robin session', { timeout: 240_000 }, () => {
  it('cost no election and no lost or doubled step', async () => {
    await stepAcknowledged(c, 'n1', 'rr', 'let n = 0; n');
    const leader = await c.leader();
    const follower = IDS.find((id) => id !== leader)!;
    const before = await Promise.all(IDS.map(status));

    let stepping = true;
    const answers: Answer[] = [];
    const attack = (async () => {
      for (let round = 0; round < 3 && stepping; round++) {
        const requests = [...worstRequests(leader), ...worstRequests(follower)];
        answers.push(...(await Promise.all(requests.map((r) => r()))));
      }
    })();
    const results: unknown[] = [];
    for (let i = 1; i <= STEPS; i++) {
      const r = await stepAcknowledged(c, IDS[i % 3]!, 'rr', 'n += 1; n');
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      results.push(r.json.result);
    }
    stepping = false;
    await attack;

    expect(answers.length).toBeGreaterThanOrEqual(12);
    expect(results).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    for (const id of IDS) expect((await c.get(id, '/api/sessions/rr')).json).toMatchObject({ steps: STEPS + 1 });
    for (const a of answers) expect(a.status === 503 ? a.retryAfter : a.status < 500, JSON.stringify(a.json).slice(0, 300)).toBeTruthy();
    // The biggest error came back cut to the output budget, not 40 MB.
    const huge = answers.find((a) => a.json?.error?.message?.startsWith('AAAA'));
    expect(huge?.json.error.message).toMatch(/… \[error message truncated: output limit of 1048576 bytes\]$/);

    const after = await Promise.all(IDS.map(status));
    expect(after.map((s) => s.term)).toEqual(before.map((s) => s.term));
    expect(after.map((s) => s.leader?.id)).toEqual(IDS.map(() => leader));
  });
});
