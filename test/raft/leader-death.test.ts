// A leader's death costs clients latency, not errors: three real processes, SIGKILL the leader, and
// writes sent to the followers at once are held through the election and forwarded to the new leader
// (a put is idempotent: one that had left for the dead leader is asked again too, not failed).
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { call, kill, procNode, spawnNode, status, type ProcNode } from './processes.ts';

const RAFT = { tickMs: 50, electionTicks: 10 };
const nodes: ProcNode[] = [];

afterAll(async () => {
  await Promise.all(nodes.map((n) => kill(n)));
});

describe('a write that reaches a follower while the leader is dead', () => {
  it('waits for the election and succeeds on the new leader', async () => {
    for (const id of ['a', 'b', 'c']) nodes.push(await procNode(id));
    const peers = Object.fromEntries(nodes.map((n) => [n.id, n.url]));
    await Promise.all(nodes.map((n) => spawnNode(n, peers, { raft: RAFT })));
    const leader = await waitFor('a leader', async () => {
      for (const n of nodes) if ((await status(n))?.role === 'leader') return n;
      return undefined;
    });
    const followers = nodes.filter((n) => n !== leader);
    // Every follower has a live stream to the leader: it acknowledged a write before the kill.
    expect((await call(followers[0]!.url, '/kv/put', { key: 'before', value: 'x' })).status).toBe(200);
    await waitFor('the write applied on every follower', async () => {
      for (const f of followers) if (((await call(f.url, '/kv/dump')).json as Record<string, string>).before !== 'x') return false;
      return true;
    });

    await kill(leader); // SIGKILL
    const writes = followers.flatMap((f) => Array.from({ length: 5 }, (_, i) => ({ f, key: `${f.id}-${i}` })));
    const answers = await Promise.all(writes.map(({ f, key }) => call(f.url, '/kv/put', { key, value: key })));

    expect(answers.map((a) => a.status)).toEqual(writes.map(() => 200));
    const survivor = followers[0]!;
    await call(survivor.url, '/kv/get?key=none'); // linearizable barrier
    const dump = (await call(survivor.url, '/kv/dump')).json as Record<string, string>;
    expect(writes.filter(({ key }) => dump[key] !== key)).toEqual([]);
  }, 60_000);
});
