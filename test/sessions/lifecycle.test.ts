import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { Domain } from '../../src/executions/index.ts';
import { queuedReleases, SESSION_MODULE, SessionSweeper } from '../../src/sessions/index.ts';
import { stateKey } from '../../src/sessions/session-state.ts';
import { Fixture } from './fixture.ts';

// Expiry and collection over a real single-node Raft log: which state objects go, which stay.
let f: Fixture;
let node: Domain;
beforeEach(async () => {
  f = await Fixture.open();
  // One finished record kept: older steps are held by their sessions only.
  node = await f.node({ maxExecutions: 1 });
});
afterEach(() => f.close());

const WAIT = { waitMs: 10_000 };
const sweeper = (ttlMs = 0, now?: () => number) => new SessionSweeper(f.state, f.log, { ttlMs, intervalMs: 3_600_000, isLeader: () => true, ...(now ? { now } : {}) });
const exists = async (heap: string) => (await f.state.getCold(SESSION_MODULE, stateKey(heap))) !== undefined;
const queued = () => queuedReleases(f.state, SESSION_MODULE);

async function steps(session: string, n: number): Promise<string[]> {
  const heaps: string[] = [];
  for (let i = 0; i < n; i++) heaps.push((await node.executions.run({ code: `globalThis.k = ${i}; k`, session }, WAIT)).heap!);
  return heaps;
}

/** Pushes every earlier record out of retention (one is kept). */
const churn = () => node.executions.run({ code: '1' }, WAIT);

it('deleting a session frees exactly its states; another session keeps going', async () => {
  const a = await steps('a', 3);
  const b = await steps('b', 2);
  await churn();
  const sweep = sweeper();
  await sweep.sweep(); // releases of moved heads: nothing collectable yet
  for (const h of [...a, ...b]) expect(await exists(h)).toBe(true);

  await node.sessions.delete('a');
  await sweep.sweep();
  for (const h of a) expect(await exists(h)).toBe(false);
  for (const h of b) expect(await exists(h)).toBe(true);
  expect(queued()).toBe(0);
  expect(await node.executions.run({ code: 'k + 1', session: 'b' }, WAIT)).toMatchObject({ status: 'completed', result: 2, step: 3 });
});

it('keeps a state a fork stands on, and one a retained record names, until neither does', async () => {
  const c = await steps('c', 2);
  const fork = await node.executions.run({ code: 'k * 10', heap: c[0] }, WAIT); // an unnamed chain from step 1
  expect(fork).toMatchObject({ status: 'completed', result: 0 });
  await node.sessions.delete('c');
  const sweep = sweeper();
  await sweep.sweep();
  // c's step 2 is gone; step 1 holds the fork; the fork is held by its record (the one kept).
  expect([await exists(c[1]!), await exists(c[0]!), await exists(fork.heap!)]).toEqual([false, true, true]);
  expect(await node.executions.run({ code: 'k', heap: fork.heap! }, WAIT)).toMatchObject({ result: 0 });

  await churn(); // the fork's records leave retention
  await churn();
  await sweep.sweep();
  expect([await exists(fork.heap!), await exists(c[0]!)]).toEqual([false, false]);
  await expect(node.executions.run({ code: 'k', heap: c[0] }, WAIT)).rejects.toMatchObject({ status: 404 });
});

it('expires sessions idle for longer than the TTL, and only those', async () => {
  const old = await steps('old', 2);
  await new Promise((r) => setTimeout(r, 20));
  const fresh = await steps('fresh', 1);
  await churn();
  // The sweeper's clock: one millisecond before the fresh session would expire.
  const ttlMs = 60_000;
  const freshAt = Date.parse((await node.sessions.get('fresh')).updatedAt);
  expect(Date.parse((await node.sessions.get('old')).updatedAt)).toBeLessThan(freshAt);
  await sweeper(ttlMs, () => freshAt + ttlMs - 1).sweep();
  expect((await node.sessions.list()).sessions.map((s) => s.name)).toEqual(['fresh']);
  for (const h of old) expect(await exists(h)).toBe(false);
  expect(await exists(fresh[0]!)).toBe(true);
  await sweeper(0).sweep(); // 0: forever
  expect((await node.sessions.list()).sessions.map((s) => s.name)).toEqual(['fresh']);
});

it('collects a long chain in bounded commands', async () => {
  const long = await steps('long', 300);
  await churn();
  await node.sessions.delete('long');
  await steps('idle', 1); // a session not due: expiry is looked for, and found nothing
  const looks = vi.spyOn(f.state, 'some');
  const proposed = await sweeper(60_000).sweep();
  expect(proposed).toBeGreaterThan(1); // 300 objects take more than one command of at most 256
  // Looking reads every session name: once a round, not again before each collect.
  expect(looks).toHaveBeenCalledTimes(1);
  for (const h of [long[0]!, long[150]!, long[299]!]) expect(await exists(h)).toBe(false);
  expect(queued()).toBe(0);
});

it('keeps the release queue on disk: a backlog costs no memory, survives a restart, and drains', async () => {
  const q = await steps('q', 40);
  await churn();
  await node.sessions.delete('q');
  // One release per moved head and one for the deletion (and the churned records' heaps), none drained.
  expect(queued()).toBeGreaterThanOrEqual(40);
  expect(f.state.scan(SESSION_MODULE, 'gc/')).toEqual([]);
  const onDisk = await f.state.scanCold(SESSION_MODULE, 'gc/', 1_000);
  expect(onDisk.length).toBe(queued());
  expect(onDisk.map(([key]) => key)).toEqual(onDisk.map(([key]) => key).sort());

  await f.restart();
  node = await f.node({ maxExecutions: 1 });
  expect(queued()).toBe(onDisk.length);
  expect(f.state.scan(SESSION_MODULE, 'gc/')).toEqual([]);
  await sweeper().sweep();
  for (const h of [q[0]!, q[20]!, q[39]!]) expect(await exists(h)).toBe(false);
  expect(queued()).toBe(0);
  expect(await f.state.scanCold(SESSION_MODULE, 'gc/', 1_000)).toEqual([]);
});
