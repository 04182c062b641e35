// `--session-standbys all`: every node builds, in the background, the sessions other nodes step, so
// when the node serving a session dies the next node continues it with nothing to replay.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { replays, TestCluster } from './harness.ts';

let c: TestCluster;
beforeAll(async () => {
  c = await TestCluster.start({ args: ['--session-standbys', 'all'] });
}, 60_000);
afterAll(() => c?.close());

it('builds a session on the nodes that never served it, and continues it there after its node is SIGKILLed', { timeout: 60_000 }, async () => {
  const requestBefore = await replays(c, 'n2', 'request');
  for (let i = 1; i <= 4; i++) expect((await c.step('n1', 'failover', `globalThis.k = (globalThis.k ?? 0) + ${i}; k`)).json).toMatchObject({ node: 'n1' });
  // n2 has never had a request for this session: it built it from the journal on its own.
  await waitFor('n2 to build the session', async () => (await replays(c, 'n2', 'standby')) > 0);
  expect((await c.get('n2', '/api/sessions/failover')).json).toMatchObject({ steps: 4 }); // n2 has applied the last head
  await c.kill('n1');
  expect((await c.step('n2', 'failover', 'k * 10')).json).toMatchObject({ status: 'completed', result: 100, node: 'n2' });
  expect(await replays(c, 'n2', 'request')).toBe(requestBefore); // nothing replayed on the step's path
});
