// RaftNode over real LevelDB and real HTTP on loopback.
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { RaftNode, DataDirInUseError, NotLeaderError } from '../../src/raft/index.ts';
import { KvStateMachine, encodeKv } from './kv-state-machine.ts';
import { LocalCluster, SECRET, tempDir, waitFor } from './node-harness.ts';

let cluster: LocalCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('RaftNode', () => {
  it('a single node is a working cluster of one, and survives a restart', async () => {
    cluster = new LocalCluster();
    await cluster.start(['solo']);
    const n = cluster.node('solo');
    expect(n.status().role).toBe('leader');
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => n.propose(encodeKv({ op: 'append', key: 'k', value: String(i % 10) }))));
    expect(results).toHaveLength(50);
    await n.readIndex();
    expect(cluster.sm('solo').data.get('k')).toHaveLength(50);
    await cluster.halt('solo');
    const again = await cluster.boot('solo');
    expect(again.status().role).toBe('leader');
    expect(cluster.sm('solo').data.get('k')).toHaveLength(50);
    await again.propose(encodeKv({ op: 'put', key: 'x', value: 'y' }));
    expect(cluster.sm('solo').data.get('x')).toBe('y');
  });

  it('a second process on the same data dir fails clearly', async () => {
    const dir = await tempDir();
    const sm = await KvStateMachine.open(dir);
    const a = await RaftNode.start({ id: 'a', peers: {}, dataDir: dir, secret: SECRET, stateMachine: sm });
    const sm2 = { apply: async () => [], appliedIndex: () => 0, snapshot: async () => ({ index: 0, term: 0, data: new Uint8Array() }), restore: async () => {} };
    const err = await RaftNode.start({ id: 'a', peers: {}, dataDir: dir, secret: SECRET, stateMachine: sm2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirInUseError);
    expect(String(err)).toMatch(/data dir .* is in use by another process/);
    await a.stop();
    await sm.close();
  });

  it('three nodes replicate; followers forward proposals and serve linearizable reads', async () => {
    cluster = new LocalCluster();
    await cluster.start(['a', 'b', 'c']);
    const leader = await cluster.leader();
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!;
    const r = (await cluster.node(follower).propose(encodeKv({ op: 'put', key: 'f', value: '1' }))) as { value: string };
    expect(r.value).toBe('1');
    expect(cluster.sm(follower).data.get('f')).toBe('1');
    await cluster.node(leader).propose(encodeKv({ op: 'put', key: 'g', value: '2' }));
    await cluster.node(follower).readIndex();
    expect(cluster.sm(follower).data.get('g')).toBe('2');
    const st = cluster.node(leader).status();
    expect(st.leader?.id).toBe(leader);
    expect(st.peers[follower]!.match).toBeGreaterThan(0);
  });

  it('rejects unauthenticated RPC with 401', async () => {
    cluster = new LocalCluster();
    await cluster.start(['a']);
    const url = cluster.nodes.get('a')!.url;
    const res = await request(url + '/raft/msg', { method: 'POST', body: new Uint8Array([1, 0, 0, 0, 0]) });
    expect(res.statusCode).toBe(401);
    await res.body.dump();
    const bad = await request(url + '/raft/call/propose', {
      method: 'POST',
      body: 'x',
      headers: { 'x-raft-ts': String(Date.now()), 'x-raft-nonce': 'n', 'x-raft-mac': '00'.repeat(32) },
    });
    expect(bad.statusCode).toBe(401);
    await bad.body.dump();
  });

  it('adds a learner, promotes it, transfers leadership and removes a member without downtime', async () => {
    cluster = new LocalCluster({ snapshotEvery: 50, keepEntries: 5 });
    await cluster.start(['a', 'b', 'c']);
    const leader = await cluster.leader();
    for (let i = 0; i < 120; i++) await cluster.node(leader).propose(encodeKv({ op: 'put', key: `k${i}`, value: String(i) }));
    // d starts empty and catches up through an InstallSnapshot (the log was compacted).
    await cluster.add('d');
    await cluster.node('a').addLearner('d', cluster.nodes.get('d')!.url);
    await waitFor(() => cluster!.sm('d').data.get('k119') === '119');
    await cluster.node('b').promote('d');
    await waitFor(() => cluster!.node(leader).status().voters.includes('d'));
    await cluster.node(leader).transferLeadership('d');
    await waitFor(() => cluster!.node('d').status().role === 'leader');
    const victim = ['a', 'b', 'c'].find((id) => id !== leader)!;
    await cluster.node('d').removeMember(victim);
    await waitFor(() => !cluster!.node('d').status().voters.includes(victim));
    await cluster.node(leader).propose(encodeKv({ op: 'put', key: 'after', value: 'x' }));
    expect(cluster.sm('d').data.get('after')).toBe('x');
    expect(cluster.node('d').status().voters.sort()).toEqual(['a', 'b', 'c', 'd'].filter((x) => x !== victim).sort());
  });

  it('rejects a proposal with NotLeaderError when no leader is known', async () => {
    cluster = new LocalCluster();
    const dir = await tempDir();
    const sm = await KvStateMachine.open(dir);
    const lonely = await RaftNode.start({ id: 'x', peers: { y: 'http://127.0.0.1:1', z: 'http://127.0.0.1:2' }, dataDir: dir, secret: SECRET, stateMachine: sm });
    await expect(lonely.propose(encodeKv({ op: 'put', key: 'a', value: 'b' }))).rejects.toBeInstanceOf(NotLeaderError);
    await lonely.stop();
    await sm.close();
  });
});
