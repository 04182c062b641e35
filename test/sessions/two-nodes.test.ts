import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDomain, type Domain, type RunRequest } from '../../src/executions/index.ts';
import { CommandLog, type Command, type Proposer } from '../../src/store/index.ts';
import { SessionService } from '../../src/sessions/index.ts';
import { Fixture } from './fixture.ts';

// Two nodes' services over one replicated state, each with its own warm isolates: what a cluster
// looks like to this layer once Raft has applied the same log on both.
let f: Fixture;
let a: Domain;
let b: Domain;
beforeEach(async () => {
  f = await Fixture.open();
  a = await f.node({ nodeId: 'a' });
  b = await f.node({ nodeId: 'b' });
});
afterEach(() => f.close());

const WAIT = { waitMs: 10_000 };

describe('any node continues any session', () => {
  it('replays only what a node has not seen: steps on A, then B, then A are exact', async () => {
    await a.executions.run({ code: 'let log = []; log.push("a1")', session: 's' }, WAIT);
    await b.executions.run({ code: 'log.push("b2")', session: 's' }, WAIT);
    await b.executions.run({ code: 'log.push("b3")', session: 's' }, WAIT);
    const last = await a.executions.run({ code: 'log.push("a4"); log.join()', session: 's' }, WAIT);
    expect(last).toMatchObject({ status: 'completed', result: 'a1,b2,b3,a4', step: 4, node: 'a' });
  });

  it('continues a session that uses Node 24-era built-ins on the other node, exactly', async () => {
    await a.executions.run({ code: 'let byParity = Object.groupBy([1, 2, 3, 4], (x) => x % 2); let seen = new Set([1]).union(new Set([2]))', session: 's' }, WAIT);
    const next = await b.executions.run({ code: 'seen = seen.union(new Set(Iterator.from(byParity[1]).map((x) => x * 10))); [[...seen], RegExp.escape("a.b"), Array.from(new Float16Array([0.5])), Promise.withResolvers().promise instanceof Promise]', session: 's' }, WAIT);
    expect(next).toMatchObject({ status: 'completed', node: 'b', step: 2, result: [[1, 2, 10, 30], '\\x61\\.b', [0.5], true] });
  });

  it('serializes concurrent steps from two nodes: every answered step is in the journal exactly once', async () => {
    await a.executions.run({ code: 'let n = 0; const order = []', session: 's' }, WAIT);
    const attempts = Array.from({ length: 12 }, (_, i) =>
      (i % 2 ? a : b).executions.run({ code: `n += 1; order.push(${i}); n`, session: 's' }, WAIT).then(
        (e) => ({ ok: true as const, e }),
        (err: unknown) => ({ ok: false as const, err }),
      ),
    );
    const results = await Promise.all(attempts);
    const answered = results.flatMap((r) => (r.ok ? [r.e] : []));
    for (const r of results) if (!r.ok) expect(r.err).toMatchObject({ status: 409, code: 'conflict' });
    expect(answered.length).toBeGreaterThan(0);
    // Each answered step saw a distinct count, and the session holds exactly those steps.
    expect(new Set(answered.map((e) => e.result)).size).toBe(answered.length);
    const info = await a.sessions.get('s');
    expect(info.steps).toBe(answered.length + 1);
    const final = await b.executions.run({ code: 'JSON.stringify({ n, len: order.length })', session: 's' }, WAIT);
    expect(JSON.parse(final.result as string)).toEqual({ n: answered.length, len: answered.length });
  });

  it('gives up with conflict after its bounded attempts, leaving the winner alone in the journal', async () => {
    const limits = { memoryMb: 64, cpuTimeoutMs: 5_000, wallTimeoutMs: 5_000, maxOutputBytes: 65_536 };
    const step = (code: string) => ({
      code,
      language: 'js' as const,
      session: 's',
      heap: null,
      subject: null,
      limits,
      memoryExplicit: false,
      idempotencyKey: null,
      execution: null,
    });
    const options = { liveSessions: { maxCount: 4, maxMemoryMb: 1024 }, maxStepAttempts: 1 };
    const x = new SessionService(f.state, f.log, options);
    const y = new SessionService(f.state, f.log, options);
    await x.step(step('let who = []'));
    // Each step reads the head first and then spins long enough that both have read it before
    // either commits, so exactly one compare-and-set can win.
    const spin = 'for (let i = 0; i < 1e8; i++);';
    const [first, second] = await Promise.allSettled([
      x.step(step(`${spin} who.push("x"); who.join()`)),
      y.step(step(`${spin} who.push("y"); who.join()`)),
    ]);
    const won = [first, second].filter((r) => r.status === 'fulfilled');
    const lost = [first, second].filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toMatchObject([{ reason: { status: 409, code: 'conflict' } }]);
    const journal = (await a.sessions.get('s')).journal;
    expect(journal).toHaveLength(2);
    expect((await y.step(step('who.join()'))).outcome.result).toBe(journal[1]!.code.includes('"x"') ? 'x' : 'y');
    x.close();
    y.close();
  });

  it('answers a poll on another node than the submit', async () => {
    const submitted = await a.executions.run({ code: 'await new Promise((r) => setTimeout(r, 50)); 7' }, { waitMs: 0 });
    expect(['queued', 'running']).toContain(submitted.status);
    const polled = await b.executions.get(submitted.id, { waitMs: 5_000 });
    expect(polled).toMatchObject({ id: submitted.id, status: 'completed', result: 7, node: 'a' });
  });
});

describe('a commit proposed again after an unknown outcome (a leader died mid-commit)', () => {
  /**
   * Runs `req` on node C, whose log lets the first copy of its next `type` command go through and
   * loses its answer; meanwhile node `other` steps the session; then the command is proposed again, as
   * RaftNode does for an idempotent proposal after an unknown outcome.
   */
  async function runRepeating(other: Domain, req: RunRequest, type = 'execution.step') {
    let meanwhile: (() => Promise<unknown>) | null = () => other.executions.run({ code: 'n += 10; n', session: 's' }, WAIT);
    const real = f.log;
    const proposer: Proposer = {
      async propose(data, opts) {
        const cmd = JSON.parse(new TextDecoder().decode(data)) as Command;
        if (cmd.type === type && meanwhile) {
          const then = meanwhile;
          meanwhile = null;
          await real.propose(cmd);
          await then();
          opts?.onRepeat?.();
        }
        return real.propose(cmd, opts);
      },
      linearizableRead: () => real.linearizableRead(),
      localRead: () => real.localRead(),
    };
    const c = await createDomain({ state: f.state, log: new CommandLog(proposer), pool: f.pool, options: { nodeId: 'c' } });
    try {
      return await c.executions.run(req, WAIT);
    } finally {
      await c.close();
    }
  }

  beforeEach(async () => {
    await a.executions.run({ code: 'let n = 0; n', session: 's' }, WAIT);
  });

  it('answers the step from its first copy, which is in the journal once, though the session moved on', async () => {
    expect(await runRepeating(b, { code: 'n += 1; n', session: 's' })).toMatchObject({ status: 'completed', result: 1, node: 'c' });
    expect((await a.sessions.get('s')).steps).toBe(3);
    expect((await a.executions.run({ code: 'n', session: 's' }, WAIT)).result).toBe(11);
  });

  it('is refused with 503, not run again, when its record was forgotten meanwhile (one record kept)', async () => {
    const forgetful = await f.node({ nodeId: 'forgetful', maxExecutions: 1 });
    await expect(runRepeating(forgetful, { code: 'n += 1; n', session: 's' })).rejects.toMatchObject({ status: 503, code: 'unavailable' });
    // The first copy is in the journal once, the other node's step after it; no second run.
    expect((await a.sessions.get('s')).steps).toBe(3);
    expect((await a.executions.run({ code: 'n', session: 's' }, WAIT)).result).toBe(11);
  });

  it('runs a keyed step whose record create was proposed again once, as its first copy made it', async () => {
    const first = await runRepeating(b, { code: 'n += 1; n', session: 's', idempotencyKey: 'k' }, 'execution.create');
    expect(first).toMatchObject({ status: 'completed', result: 11, node: 'c' });
    expect((await a.executions.run({ code: 'n += 1; n', session: 's', idempotencyKey: 'k' }, WAIT)).id).toBe(first.id);
    expect((await a.sessions.get('s')).steps).toBe(3);
  });
});
