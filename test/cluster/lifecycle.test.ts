// Session deletion and state collection on a real three-node cluster: decided through Raft, so every
// replica ends with the same state (the same digest at the same applied index).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { adminSignature } from '../../src/cluster/admin-auth.ts';
import { join } from 'node:path';
import { domainModules } from '../../src/executions/index.ts';
import { SESSION_MODULE } from '../../src/sessions/index.ts';
import { stateKey } from '../../src/sessions/session-state.ts';
import { ReplicatedState } from '../../src/store/index.ts';
import { CLUSTER_SECRET, waitFor } from '../support/index.ts';
import { TestCluster } from './harness.ts';

let c: TestCluster;
beforeAll(async () => {
  // One finished record kept, so old steps are held by their sessions only.
  c = await TestCluster.start({ args: ['--max-executions', '1'] });
}, 60_000);
afterAll(() => c?.close());


async function digests(): Promise<Array<{ index: number; sha256: string }>> {
  return Promise.all(
    c.nodes.map(async (n) => (await fetch(`${n.url}/cluster/digest`, { headers: adminSignature(CLUSTER_SECRET, 'GET', '/cluster/digest', '') })).json() as Promise<{ index: number; sha256: string }>),
  );
}

async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)![1]);
}

it('collects a deleted session\'s states on every node alike, and refuses an unsigned digest', { timeout: 120_000 }, async () => {
  expect((await fetch(`${c.node('n1').url}/cluster/digest`)).status).toBe(401);
  const gone: string[] = [];
  for (let i = 0; i < 4; i++) gone.push((await c.step(`n${(i % 3) + 1}`, 'gone', `globalThis.g = ${i}; g`)).json.heap);
  const kept = (await c.step('n2', 'kept', 'let k = 1; k')).json.heap as string;
  expect((await c.call('n3', 'DELETE', '/api/sessions/gone')).status).toBe(200);
  await c.post('n1', '/api/exec?wait=30000', { code: '1' }); // the last step's record leaves retention
  const before = (await c.get('n1', '/cluster/status')).json.commitIndex as number;

  // The leader sweeps every few seconds: wait until it did, every queue is empty and the replicas agree.
  await waitFor('collection applied alike on every node', async () => {
    const queues = await Promise.all(c.nodes.map((n) => gauge(n.url, 'raftbox_session_collect_queue')));
    const d = await digests();
    return queues.every((q) => q === 0) && d[0]!.index > before && d.every((x) => x.index === d[0]!.index && x.sha256 === d[0]!.sha256);
  }, 60_000);
  expect((await c.get('n1', '/api/sessions/gone')).status).toBe(404);
  expect((await c.step('n1', 'kept', 'k + 1')).json.result).toBe(2);

  // On every node's disk: gone's state objects are gone, kept's is there.
  await Promise.all(c.nodes.map((n) => c.kill(n.id)));
  for (const n of c.nodes) {
    const state = await ReplicatedState.open(join(n.dataDir, 'state'), domainModules());
    try {
      for (const h of gone) expect(await state.getCold(SESSION_MODULE, stateKey(h)), `${n.id} ${h}`).toBeUndefined();
      expect(await state.getCold(SESSION_MODULE, stateKey(kept)), n.id).toBeDefined();
    } finally {
      await state.close();
    }
  }
});
