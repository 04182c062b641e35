// Three real Node processes on loopback, each with its own LevelDB: SIGKILL the leader under a
// steady stream of writes, restart it from disk; then grow to four (learner → voter) and shrink.
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { kill, procNode, spawnNode, call, status, type ProcNode } from './processes.ts';

const RAFT = { tickMs: 50, electionTicks: 10, snapshotEvery: 200, keepEntries: 50 };
const nodes: ProcNode[] = [];

afterAll(async () => {
  await Promise.all(nodes.map((n) => kill(n)));
});

async function leaderOf(candidates: ProcNode[]): Promise<ProcNode> {
  return waitFor('a leader', async () => {
    for (const n of candidates) {
      if (!n.child) continue;
      const s = await status(n);
      if (s?.role === 'leader') return n;
    }
    return undefined;
  }, 15_000);
}

/**
 * Writers that keep putting keys through random live nodes; records what was acknowledged. Keys
 * carry the set's name, so two sets never write the same key (one set's write would hide the loss
 * of the other's) and a missing key says which phase of the test wrote it.
 */
function writers(name: string, count: number) {
  const acked = new Map<string, string>();
  const inFlight = new Map<ProcNode, number>();
  let failures = 0;
  let running = true;
  let seq = 0;
  const loops = Array.from({ length: count }, async (_, w) => {
    while (running) {
      const live = nodes.filter((n) => n.child);
      if (live.length === 0) {
        // Every node down (a failed step of the test): wait rather than spin, or the test could not time out.
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const n = live[(seq + w) % live.length]!;
      const key = `${name}.w${w}-${++seq}`;
      inFlight.set(n, (inFlight.get(n) ?? 0) + 1);
      try {
        const r = await call(n.url, '/kv/put', { key, value: key });
        if (r.status === 200) acked.set(key, key);
        else failures++;
      } catch {
        failures++;
      } finally {
        inFlight.set(n, inFlight.get(n)! - 1);
      }
    }
  });
  return {
    acked,
    failures: () => failures,
    inFlightOn: (n: ProcNode) => inFlight.get(n) ?? 0,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/**
 * Node `n`'s whole state once it has applied every write acknowledged anywhere before the call: a
 * follower applies a commit a moment after the node that acknowledged it, so a dump without the
 * barrier may lack the latest acknowledged writes.
 */
async function dumpAfterBarrier(n: ProcNode): Promise<Record<string, string>> {
  expect((await call(n.url, '/kv/get?key=none')).status, `read barrier on ${n.id}`).toBe(200);
  return (await call(n.url, '/kv/dump')).json as Record<string, string>;
}

describe('real processes', () => {
  it('survive SIGKILL of the leader without losing acknowledged writes, and membership changes without downtime', async () => {
    for (const id of ['a', 'b', 'c']) nodes.push(await procNode(id));
    const peers = Object.fromEntries(nodes.map((n) => [n.id, n.url]));
    await Promise.all(nodes.map((n) => spawnNode(n, peers, { raft: RAFT })));
    const first = await leaderOf(nodes);

    const w = writers('kill', 4);
    await waitFor('200 writes', () => w.acked.size >= 200, 20_000);
    await kill(first); // SIGKILL under load
    const second = await leaderOf(nodes.filter((n) => n !== first)); // bounded: a few election timeouts
    expect(second).not.toBe(first);
    const before = w.acked.size;
    await waitFor('200 writes after the kill', () => w.acked.size >= before + 200, 20_000); // the cluster keeps committing
    await spawnNode(first, peers, { raft: RAFT }); // restart from its data dir
    await waitFor('200 writes after the restart', () => w.acked.size >= before + 400, 20_000);
    await w.stop();

    // The restarted node catches up, and every acknowledged write is on every node.
    const leaderStatus = (await status(await leaderOf(nodes)))!;
    await waitFor('the restarted node to catch up', async () => ((await status(first))?.applied ?? 0) >= leaderStatus.commit, 20_000);
    for (const n of nodes) {
      const dump = await dumpAfterBarrier(n);
      const missing = [...w.acked.keys()].filter((k) => dump[k] !== k);
      expect(missing, `missing on ${n.id}`).toEqual([]);
    }

    // Grow: d joins as a learner, catches up (via snapshot: the log was compacted), becomes a voter.
    const w2 = writers('grow', 2);
    const d = await procNode('d');
    await spawnNode(d, peers, { join: true, raft: RAFT });
    expect((await call(nodes[0]!.url, '/admin/addLearner', { id: 'd', url: d.url })).status).toBe(200);
    expect((await call(nodes[1]!.url, '/admin/promote', { id: 'd' })).status).toBe(200);
    await waitFor('d to be a voter', async () => (await status(d))?.voters.includes('d'), 20_000);
    nodes.push(d); // clients use it once it is a member

    // Shrink: remove a follower.
    const lead = await leaderOf(nodes);
    const victim = nodes.find((n) => n !== lead && n !== d)!;
    // As an operator would: drain it first (writers stop choosing it, writes already sent to it finish).
    // A write still waiting on it when it leaves could not finish: it no longer hears of commits.
    nodes.splice(nodes.indexOf(victim), 1);
    await waitFor('writes in flight on the leaving node', () => w2.inFlightOn(victim) === 0, 20_000);
    expect((await call(lead.url, '/admin/remove', { id: victim.id })).status).toBe(200);
    await kill(victim, 'SIGTERM');
    const after = w2.acked.size;
    await waitFor('50 writes after the removal', () => w2.acked.size >= after + 50, 20_000);
    await w2.stop();
    expect(w2.failures()).toBe(0); // no downtime while the membership changed
    const final = (await status(lead))!;
    expect(final.voters.sort()).toEqual(nodes.map((n) => n.id).sort());
    const dump = await dumpAfterBarrier(d);
    expect([...w.acked.keys(), ...w2.acked.keys()].filter((k) => dump[k] !== k), 'missing on d').toEqual([]);
  }, 120_000);
});
