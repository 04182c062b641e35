// RaftNode over real LevelDB and real HTTP on loopback.
import { afterEach, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { request } from 'undici';
import { RaftNode, DataDirInUseError, NotLeaderError } from '../../src/raft/index.ts';
import { KvStateMachine, encodeKv } from './kv-state-machine.ts';
import { CLUSTER_SECRET, tempDir, waitFor } from '../support/index.ts';
import { InProcessCluster } from './in-process-cluster.ts';

let cluster: InProcessCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('RaftNode', () => {
  it('a single node is a working cluster of one, and survives a restart', async () => {
    cluster = new InProcessCluster();
    await cluster.start(['solo']);
    const n = cluster.node('solo');
    expect(n.status().role).toBe('leader');
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => n.propose(encodeKv({ op: 'append', key: 'k', value: String(i % 10) }))));
    expect(results).toHaveLength(50);
    await n.linearizableRead();
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
    const a = await RaftNode.start({ id: 'a', peers: {}, dataDir: dir, secret: CLUSTER_SECRET, stateMachine: sm });
    const sm2 = {
      apply: async () => [],
      appliedIndex: () => 0,
      persist: async () => {},
      snapshotChunks: async function* () {},
      beginRestore: () => Promise.reject(new Error('not used')),
    };
    const err = await RaftNode.start({ id: 'a', peers: {}, dataDir: dir, secret: CLUSTER_SECRET, stateMachine: sm2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirInUseError);
    expect(String(err)).toMatch(/data dir .* is in use by another process/);
    await a.stop();
    await sm.close();
  });

  it('three nodes replicate; followers forward proposals and serve linearizable reads', async () => {
    cluster = new InProcessCluster();
    await cluster.start(['a', 'b', 'c']);
    const leader = await cluster.leader();
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!;
    const r = (await cluster.node(follower).propose(encodeKv({ op: 'put', key: 'f', value: '1' }))) as { value: string };
    expect(r.value).toBe('1');
    expect(cluster.sm(follower).data.get('f')).toBe('1');
    await cluster.node(leader).propose(encodeKv({ op: 'put', key: 'g', value: '2' }));
    await cluster.node(follower).linearizableRead();
    expect(cluster.sm(follower).data.get('g')).toBe('2');
    // A local read promises only what the node already knew to be committed, applied.
    await cluster.node(leader).propose(encodeKv({ op: 'put', key: 'h', value: '3' }));
    const known = cluster.node(follower).status().commit;
    await cluster.node(follower).localRead();
    expect(cluster.node(follower).status().applied).toBeGreaterThanOrEqual(known);
    const st = cluster.node(leader).status();
    expect(st.leader?.id).toBe(leader);
    expect(st.peers[follower]!.match).toBeGreaterThan(0);
  });

  it('opens a raft stream only for a peer that proves the secret, and drops a connection whose frame fails its MAC', async () => {
    cluster = new InProcessCluster();
    await cluster.start(['a']);
    const url = cluster.nodes.get('a')!.url;
    // The old per-request RPC paths are gone, and a plain request never reaches Raft.
    expect((await request(url + '/raft/msg', { method: 'POST', body: 'x' })).statusCode).toBe(404);

    expect((await openStream(url, {})).status).toBe(401);
    expect((await openStream(url, signedOpen('b', 'a', 'f'.repeat(32), 'wrong-secret'))).status).toBe(401);
    expect((await openStream(url, { ...signedOpen('b', 'a', 'e'.repeat(32)), 'x-raft-ts': String(Date.now() - 3_600_000) })).status).toBe(401);
    expect((await openStream(url, signedOpen('b', 'zz', 'd'.repeat(32)))).status).toBe(421);

    const nonce = 'c'.repeat(32);
    const ok = await openStream(url, signedOpen('b', 'a', nonce));
    expect(ok.status).toBe(101);
    // The answer proves that node holds the secret too.
    expect(ok.headers['x-raft-mac']).toBe(hmacHex(CLUSTER_SECRET, `accept\nb\na\n${nonce}\n${ok.headers['x-raft-nonce']}`));
    // A replayed handshake is refused.
    expect((await openStream(url, signedOpen('b', 'a', nonce))).status).toBe(401);

    // A well-formed frame with a forged MAC: the node closes the connection.
    const closed = new Promise<void>((resolve) => ok.socket!.once('close', () => resolve()));
    const frame = Buffer.alloc(4 + 1 + 3 + 16);
    frame.writeUInt32BE(1 + 3 + 16, 0);
    frame.writeUInt8(1, 4);
    ok.socket!.write(frame);
    await closed;
    expect(cluster.node('a').status().role).toBe('leader');
  });

  it('reports a peer that refuses its stream: a member restarted with another cluster secret', async () => {
    const refused: string[] = [];
    cluster = new InProcessCluster({ observer: { peerRefused: (peer, reason) => refused.push(`${peer}: ${reason}`) } });
    await cluster.start(['a', 'b', 'c']);
    await cluster.leader();
    await cluster.halt('b');
    await cluster.boot('b', { secret: 'not-the-cluster-secret' });
    await waitFor('b to be refused', () => refused.some((r) => /^b: b refused the raft stream: HTTP 401/.test(r)));
    // b, which hears from no one, campaigns: its own dials are refused the same way.
    await waitFor('a or c to be refused', () => refused.some((r) => /^[ac]: [ac] refused the raft stream: HTTP 401/.test(r)));
  });

  it('streams a snapshot to a learner in chunks, and the learner rebuilds it exactly', async () => {
    cluster = new InProcessCluster({ snapshotEvery: 20, keepEntries: 2 });
    await cluster.start(['a', 'b', 'c']);
    const leader = await cluster.leader();
    const big = (i: number) => `${i}:`.padEnd(100_000, String.fromCharCode(97 + (i % 26)));
    for (let i = 0; i < 40; i++) await cluster.node(leader).propose(encodeKv({ op: 'put', key: `k${i}`, value: big(i) }));
    await cluster.add('d');
    await cluster.node(leader).addLearner('d', cluster.nodes.get('d')!.url);
    // The state machine takes the snapshot first, raft's log records it after.
    await waitFor('the snapshot on d', () => cluster!.sm('d').data.get('k39') === big(39) && cluster!.node('d').status().snapshotIndex > 0);
    // About 4 MB went over as one chunk per record; every value arrived whole.
    for (let i = 0; i < 40; i++) expect(cluster.sm('d').data.get(`k${i}`)).toBe(big(i));
  });

  it('adds a learner, promotes it, transfers leadership and removes a member without downtime', async () => {
    cluster = new InProcessCluster({ snapshotEvery: 50, keepEntries: 5 });
    await cluster.start(['a', 'b', 'c']);
    const leader = await cluster.leader();
    for (let i = 0; i < 120; i++) await cluster.node(leader).propose(encodeKv({ op: 'put', key: `k${i}`, value: String(i) }));
    // d starts empty and catches up through an InstallSnapshot (the log was compacted).
    await cluster.add('d');
    await cluster.node('a').addLearner('d', cluster.nodes.get('d')!.url);
    await waitFor('d to catch up', () => cluster!.sm('d').data.get('k119') === '119');
    await cluster.node('b').promote('d');
    await waitFor('d to be a voter', () => cluster!.node(leader).status().voters.includes('d'));
    await cluster.node(leader).transferLeadership('d');
    await waitFor('d to lead', () => cluster!.node('d').status().role === 'leader');
    const victim = ['a', 'b', 'c'].find((id) => id !== leader)!;
    await cluster.node('d').removeMember(victim);
    await waitFor('the victim to leave', () => !cluster!.node('d').status().voters.includes(victim));
    await cluster.node(leader).propose(encodeKv({ op: 'put', key: 'after', value: 'x' }));
    expect(cluster.sm('d').data.get('after')).toBe('x');
    expect(cluster.node('d').status().voters.sort()).toEqual(['a', 'b', 'c', 'd'].filter((x) => x !== victim).sort());
  });

  it('rejects a proposal and a local read with NotLeaderError when no leader is known within their wait', async () => {
    cluster = new InProcessCluster();
    const dir = await tempDir();
    const sm = await KvStateMachine.open(dir);
    const lonely = await RaftNode.start({ id: 'x', peers: { y: 'http://127.0.0.1:1', z: 'http://127.0.0.1:2' }, dataDir: dir, secret: CLUSTER_SECRET, stateMachine: sm, proposalTimeoutMs: 1000 });
    await expect(lonely.propose(encodeKv({ op: 'put', key: 'a', value: 'b' }))).rejects.toBeInstanceOf(NotLeaderError);
    await expect(lonely.localRead()).rejects.toBeInstanceOf(NotLeaderError);
    await lonely.stop();
    await sm.close();
  });
});

const hmacHex = (secret: string, text: string) => createHmac('sha256', secret).update(text).digest('hex');

function signedOpen(from: string, to: string, nonce: string, secret = CLUSTER_SECRET): Record<string, string> {
  const ts = String(Date.now());
  return { 'x-raft-from': from, 'x-raft-to': to, 'x-raft-ts': ts, 'x-raft-nonce': nonce, 'x-raft-mac': hmacHex(secret, `open\n${from}\n${to}\n${ts}\n${nonce}`) };
}

/** Asks `url` for a raft stream with these headers: 101 and the open socket, or the refusal's status. */
function openStream(url: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; socket?: Duplex }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url + '/raft/stream', { headers: { connection: 'Upgrade', upgrade: 'raftbox-raft/1', ...headers } });
    req.on('upgrade', (res, socket) => resolve({ status: res.statusCode!, headers: res.headers, socket }));
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode!, headers: res.headers });
    });
    req.on('error', reject);
    req.end();
  });
}
