// The three-node promise with real processes: any node continues any session, nothing acknowledged is
// lost, executions answer everywhere, and a node cut off from the quorum serves nothing stale.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { replays, stepAcknowledged, TestCluster, type Answer } from './harness.ts';

let c: TestCluster;
beforeAll(async () => {
  c = await TestCluster.start();
}, 60_000);
afterAll(() => c?.close());

const IDS = ['n1', 'n2', 'n3'];

/** The session as a node answers it right now (ReadIndex behind it). */
const session = (id: string, name: string) => c.get(id, `/api/sessions/${name}?steps_limit=1000`);

describe('a three-node cluster', { timeout: 60_000 }, () => {
  it('continues one session across all three nodes in turn, with exact state', async () => {
    expect((await c.step('n1', 'walk', 'let xs = []; xs.length')).json).toMatchObject({ status: 'completed', result: 0, node: 'n1' });
    for (let i = 1; i <= 9; i++) {
      const id = IDS[i % 3]!;
      const r = await c.step(id, 'walk', `xs.push(${i}); xs.join(',')`);
      expect(r.json).toMatchObject({ status: 'completed', node: id, step: i + 1 });
      expect(r.json.result).toBe(Array.from({ length: i }, (_, k) => k + 1).join(','));
    }
    for (const id of IDS) expect((await session(id, 'walk')).json).toMatchObject({ steps: 10 });
  });

  it('keeps a session warm and current on a node that served it while another node steps it (a warm standby)', async () => {
    await c.step('n1', 'standby', 'let m = 1; m');
    expect((await c.step('n2', 'standby', 'm += 1; m')).json).toMatchObject({ result: 2, node: 'n2' }); // n2 now holds it warm
    const [standbyBefore, requestBefore] = [await replays(c, 'n2', 'standby'), await replays(c, 'n2', 'request')];
    for (let i = 3; i <= 5; i++) expect((await c.step('n1', 'standby', 'm += 1; m')).json).toMatchObject({ result: i, node: 'n1' });
    // With no request of its own, n2 replays n1's steps into its isolate.
    await waitFor('n2 to replay the steps n1 ran', async () => (await replays(c, 'n2', 'standby')) > standbyBefore);
    expect((await session('n2', 'standby')).json).toMatchObject({ steps: 5 }); // n2 has applied the last head, so its catch-up covers it
    expect((await c.step('n2', 'standby', 'm += 1; m')).json).toMatchObject({ result: 6, node: 'n2' });
    expect(await replays(c, 'n2', 'request')).toBe(requestBefore); // the step found its isolate current: nothing replayed on its path
  });

  it('rebuilds the recently stepped sessions in the background when a node restarts, so its first step there replays nothing', async () => {
    for (let i = 1; i <= 3; i++) await c.step('n1', 'recent', `globalThis.r = ${i}; r`);
    expect((await session('n3', 'recent')).json).toMatchObject({ steps: 3 }); // on n3's disk before it goes
    await c.kill('n3');
    await c.restart('n3');
    await waitFor('n3 to rebuild its recent sessions', async () => (await replays(c, 'n3', 'standby')) > 0);
    expect((await c.step('n3', 'recent', 'r * 2')).json).toMatchObject({ result: 6, node: 'n3' });
    expect(await replays(c, 'n3', 'request')).toBe(0); // a fresh process: no step of it has replayed anything
  });

  it('serializes concurrent steps on one session sent to two nodes: no fork, exact results', async () => {
    await c.step('n1', 'race', 'let log = []; 0');
    for (let round = 0; round < 5; round++) {
      const [a, b] = await Promise.all([c.step('n1', 'race', `log.push('a${round}'); log.length`), c.step('n2', 'race', `log.push('b${round}'); log.length`)]);
      for (const r of [a, b]) expect([200, 409]).toContain(r.status);
      const won = [a, b].filter((r) => r.status === 200);
      expect(won.length).toBeGreaterThan(0);
      // The winners ran one after the other, each on the state the other left.
      const lengths = won.map((r) => r.json.result as number).sort((x, y) => x - y);
      const before = (await c.step('n3', 'race', 'log.length')).json.result - won.length;
      expect(lengths).toEqual(won.length === 2 ? [before + 1, before + 2] : [before + 1]);
    }
    const all = (await c.step('n3', 'race', 'log.join()')).json.result as string;
    const journal = (await session('n2', 'race')).json;
    // Every acknowledged push is in the state exactly once; the journal has one step per acknowledged call.
    expect(new Set(all.split(',')).size).toBe(all.split(',').length);
    expect(journal.steps).toBe(1 + all.split(',').length + 5 + 1);
  });

  it('answers an execution submitted on one node on every other, and long-polls it there', async () => {
    const submitted = await c.post('n1', '/api/exec', { code: 'let s = 0; for (let i = 0; i < 2e7; i++) s += i % 7; s', language: 'js' });
    expect(submitted.status).toBe(202);
    const id = submitted.json.execution_id as string;
    expect((await c.get('n3', `/api/executions/${id}`)).json).toMatchObject({ execution_id: id, node: 'n1' });
    const polled = await c.get('n2', `/api/executions/${id}?wait=20000`);
    expect(polled.json).toMatchObject({ status: 'completed', node: 'n1' });
    expect(typeof polled.json.result).toBe('number');
    const list = await c.get('n3', '/api/executions?limit=500');
    expect(list.json.executions.map((e: { execution_id: string }) => e.execution_id)).toContain(id);
  });

  it('cancels from another node an execution its owner is running', async () => {
    const submitted = await c.post('n1', '/api/exec', { code: 'while (true) {}', language: 'js', execution_timeout_secs: 60 });
    const id = submitted.json.execution_id as string;
    await waitFor('the run to start', async () => (await c.get('n1', `/api/executions/${id}`)).json.status === 'running');
    const cancelled = await c.post('n3', `/api/executions/${id}/cancel`);
    expect(cancelled.json).toMatchObject({ status: 'cancelled', node: 'n1' });
    expect((await c.get('n2', `/api/executions/${id}`)).json.status).toBe('cancelled');
  });

  it('ends the running execution of a killed node as failed "node lost" on the survivors', async () => {
    const submitted = await c.post('n3', '/api/exec', { code: 'while (true) {}', language: 'js', execution_timeout_secs: 120 });
    const id = submitted.json.execution_id as string;
    await waitFor('the run to start', async () => (await c.get('n3', `/api/executions/${id}`)).json.status === 'running');
    await c.kill('n3');
    try {
      // Its record may still read queued or running here (the start transition is fire-and-forget): wait for the end.
      const finished = new Set(['completed', 'failed', 'timeout', 'memory_limit', 'cancelled']);
      await waitFor('node lost', async () => finished.has((await c.get('n1', `/api/executions/${id}`)).json.status), 30_000);
      const lost = await c.get('n2', `/api/executions/${id}`);
      expect(lost.json).toMatchObject({ status: 'failed', node: 'n3', error: { message: 'node lost' } });
    } finally {
      await c.restart('n3');
      await c.waitReady();
    }
  });

  it('loses nothing acknowledged when the node that served the last step is killed; the node restarts and catches up', async () => {
    await c.step('n1', 'survive', 'let total = 0; total');
    for (const [k, id] of ['n2', 'n3', 'n1', 'n2'].entries()) expect((await c.step(id, 'survive', `total += ${k + 1}; total`)).json.result).toBe([1, 3, 6, 10][k]);
    // n2 served the last step; it dies (it may be the leader: the others elect, a retry under one key rides that out).
    await c.kill('n2');
    const next = await stepAcknowledged(c, 'n3', 'survive', 'total += 100; total');
    expect(next.json).toMatchObject({ status: 'completed', result: 110, step: 6 });
    expect((await stepAcknowledged(c, 'n1', 'survive', 'total += 1000; total')).json.result).toBe(1110);
    await c.restart('n2');
    await c.waitReady();
    // Caught up from its data dir plus the log: it answers the whole journal and continues the session.
    expect((await session('n2', 'survive')).json).toMatchObject({ steps: 7 });
    expect((await c.step('n2', 'survive', 'total')).json).toMatchObject({ result: 1110, node: 'n2' });
  });

  it('a node cut off from the others refuses writes with 503 and serves no stale session, then heals', async () => {
    await stepAcknowledged(c, 'n1', 'split', 'let v = "before"; v');
    const cut = (await c.leader()) === 'n2' ? 'n3' : 'n2'; // either works; cutting a follower keeps the test short
    c.partition(cut);
    const majority = IDS.find((id) => id !== cut && id !== 'n1') ?? 'n1';
    expect((await stepAcknowledged(c, majority, 'split', 'v = "after"; v')).json.result).toBe('after');

    const write = await c.step(cut, 'split', 'v = "forked"; v');
    expect(write.status).toBe(503);
    expect(write.json.error).toBe('unavailable');
    expect(write.json.message).toMatch(/quorum|leader/);
    expect(write.retryAfter).not.toBeNull();
    const read = await session(cut, 'split');
    expect(read.status).toBe(503);
    expect(JSON.stringify(read.json)).not.toMatch(/"steps":1\b/);
    await waitFor('the cut node to report not ready', async () => (await c.get(cut, '/readyz')).status === 503);
    expect((await c.get(cut, '/healthz')).status).toBe(200);

    c.partition(cut, false);
    await c.waitReady();
    expect((await stepAcknowledged(c, cut, 'split', 'v')).json).toMatchObject({ result: 'after', node: cut });
    expect((await session('n1', 'split')).json.steps).toBe(3);
  });

  it('a step reads its head without asking the leader: on a node behind, the answer is still from the newest head; cut off, the step is refused', async () => {
    await c.waitReady();
    const node = (await c.leader()) === 'n2' ? 'n3' : 'n2';
    const other = IDS.find((id) => id !== node)!;
    expect((await stepAcknowledged(c, node, 'own', 'let w = 1; w')).json).toMatchObject({ result: 1, node });
    c.partition(node);
    expect((await stepAcknowledged(c, other, 'own', 'w += 1; w')).json.result).toBe(2);
    // Healed, it may still be behind when the next step comes: whatever ran on its old state (refused
    // for want of a leader, or a lost compare-and-set) is not kept, and the answer is from the newest head.
    c.partition(node, false);
    expect((await stepAcknowledged(c, node, 'own', 'w += 100; w')).json).toMatchObject({ result: 102, node });

    c.partition(node);
    const write = await c.step(node, 'own', 'w += 10; w');
    expect(write.status).toBe(503);
    expect(write.json.message).toMatch(/quorum|leader/);
    c.partition(node, false);
    await c.waitReady();
    expect((await stepAcknowledged(c, other, 'own', 'w')).json.result).toBe(102);
    expect((await session(other, 'own')).json).toMatchObject({ steps: 4 });
  });

  it('a run that finishes while its node is cut off is recorded once the node can commit again, not left running', async () => {
    await c.waitReady();
    const leader = await c.leader();
    const node = IDS.find((id) => id !== leader)!;
    // Real CPU time (the sandbox's timers are virtual), so the run ends while the node is cut off.
    // The partition must stay well under the leader's "node lost" verdict (4 election timeouts, 2 s
    // here), or the run is rightly failed as lost instead: so a short run, and a short cut.
    const submitted = await c.post(node, '/api/exec', { code: 'let x = 0; for (let i = 0; i < 3e7; i++) x += i % 7; x', language: 'js' });
    expect(submitted.status).toBe(202);
    const id = submitted.json.execution_id as string;
    c.partition(node);
    expect((await c.get(node, `/api/executions/${id}`)).json.status).toBe('running'); // it ends cut off
    // While its record is not replicated its own node answers from the run it holds; it cannot read
    // the cluster's (503).
    await waitFor('the run to end on its node', async () => {
      const r = await c.get(node, `/api/executions/${id}`);
      return r.status === 503 || r.json.status === 'completed';
    }, 20_000);
    // Its final record was proposed when the run ended; those proposals cannot commit meanwhile.
    await new Promise((r) => setTimeout(r, 300));
    c.partition(node, false);
    await c.waitReady();
    const other = IDS.find((n) => n !== node)!;
    await waitFor('the final record on another node', async () => (await c.get(other, `/api/executions/${id}`)).json.status === 'completed', 20_000);
    expect((await c.get(other, `/api/executions/${id}`)).json).toMatchObject({ status: 'completed', result: expect.any(Number), node });
  });

  it('reports the cluster in /cluster/status without the secret', async () => {
    const leader = await c.leader();
    const s = await c.get(leader, '/cluster/status');
    expect(s.json).toMatchObject({ node: leader, role: 'leader', leader: { id: leader } });
    expect(s.json.members.map((m: { id: string }) => m.id).sort()).toEqual(IDS);
    expect(s.json.appliedIndex).toBeGreaterThan(0);
    expect(JSON.stringify(s.json)).not.toContain('test-cluster-secret');
    // A follower that misses heartbeats on a loaded machine is briefly a pre-candidate with no leader
    // (a pre-vote the others refuse, no new term): its report is checked once it hears one again.
    const follower = IDS.find((id) => id !== leader)!;
    let report: any;
    await waitFor('the follower to hear from the leader', async () => {
      report = (await c.get(follower, '/cluster/status')).json;
      return report.role === 'follower';
    }, 10_000);
    expect(report).toMatchObject({ role: 'follower', leader: { id: await c.leader() } });
  });

  it('a step sent to a follower right after the leader is SIGKILLed waits out the election and commits', async () => {
    await c.waitReady();
    const leader = await c.leader();
    const followers = IDS.filter((id) => id !== leader);
    for (const id of followers) expect((await stepAcknowledged(c, id, `failover-${id}`, 'let n = 1; n')).json.result).toBe(1);
    await c.kill(leader);
    // No retry: each step must be answered by the cluster's next leader, not refused during the election.
    const steps = await Promise.all(followers.map((id) => c.step(id, `failover-${id}`, 'n += 1; n')));
    expect(steps.map((r) => [r.status, r.json.result])).toEqual(followers.map(() => [200, 2]));
    await c.restart(leader);
    await c.waitReady();
    for (const id of followers) expect((await session(leader, `failover-${id}`)).json.steps).toBe(2);
  });

  it('a step whose commit left for a leader that was then SIGKILLed is committed once, by the next leader', async () => {
    await c.waitReady();
    const leader = await c.leader();
    const follower = IDS.find((id) => id !== leader)!;
    expect((await stepAcknowledged(c, follower, 'in-flight', 'let n = 1; n')).json.result).toBe(1);
    // A stopped process's kernel still takes the bytes sent to it: the follower's commit leaves, and
    // no answer comes. Killed then, the leader breaks the link with the commit's outcome unknown to the
    // follower (it may have been appended), so the follower must ask again rather than answer 503.
    c.node(leader).child!.kill('SIGSTOP');
    const stepping = c.step(follower, 'in-flight', 'n += 1; n');
    await new Promise((r) => setTimeout(r, 300)); // the warm step runs in well under a millisecond
    await c.kill(leader);
    const r = await stepping;
    expect([r.status, r.json.result, r.json.node]).toEqual([200, 2, follower]);
    await c.restart(leader);
    await c.waitReady();
    expect((await session(leader, 'in-flight')).json.steps).toBe(2); // once: the second copy changed nothing
  });

  it('a run whose record was in flight to a leader that was then SIGKILLed is created once, by the next leader', async () => {
    await c.waitReady();
    const leader = await c.leader();
    const follower = IDS.find((id) => id !== leader)!;
    // A run with an idempotency key, and one submitted without waiting, commit their record before
    // they start: the same unknown outcome as the step above.
    c.node(leader).child!.kill('SIGSTOP');
    const keyed = c.post(follower, '/api/exec?wait=30000', { code: '6 * 7', language: 'js' }, { 'idempotency-key': 'in-flight-key' });
    const submitted = c.post(follower, '/api/exec', { code: '6 * 8', language: 'js' });
    await new Promise((r) => setTimeout(r, 300));
    await c.kill(leader);
    const [k, s] = await Promise.all([keyed, submitted]);
    expect([k.status, k.json.result, s.status]).toEqual([200, 42, 202]);
    expect((await c.get(follower, `/api/executions/${s.json.execution_id}?wait=20000`)).json).toMatchObject({ status: 'completed', result: 48 });
    await c.restart(leader);
    await c.waitReady();
    const again = await c.post(leader, '/api/exec?wait=30000', { code: '6 * 7', language: 'js' }, { 'idempotency-key': 'in-flight-key' });
    expect([again.status, again.json.execution_id]).toEqual([200, k.json.execution_id]); // the first run, not a second
  });
});

// The worst requests the caps allow, sent to the leader and to a follower while a session is stepped
// round-robin across the three nodes: Raft heartbeats must keep flowing (no election: the term and
// the leader stay), and the session must lose and double nothing.
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
    await c.waitReady();
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
