// A compute-heavy session (the ten steps of 8–16 s each, scaled down to three of a few hundred
// ms so CI stays short) continues on a node that never ran it, and after every node restarts: the
// replay's budget follows the CPU the steps recorded, and the restarted nodes rebuild it.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stepAcknowledged, TestCluster } from './harness.ts';

let c: TestCluster;
beforeAll(async () => {
  c = await TestCluster.start();
}, 60_000);
afterAll(() => c?.close());

const HEAVY = 'let i = 0; while (i < 2e8) i++; globalThis.h = (globalThis.h ?? 0) + 1; h';

it('continues a compute-heavy session on another node, and after every node restarts', { timeout: 240_000 }, async () => {
  for (let k = 1; k <= 3; k++) expect((await c.step('n1', 'heavy', HEAVY, { execution_timeout_secs: 60 })).json).toMatchObject({ status: 'completed', result: k, node: 'n1' });
  expect((await stepAcknowledged(c, 'n2', 'heavy', 'h * 10', 90_000)).json).toMatchObject({ status: 'completed', result: 30, node: 'n2' });

  for (const n of c.nodes) await c.kill(n.id);
  for (const n of c.nodes) await c.restart(n.id);
  await c.waitReady();
  expect((await stepAcknowledged(c, 'n3', 'heavy', 'h * 100', 90_000)).json).toMatchObject({ status: 'completed', result: 300, node: 'n3' });
  expect((await c.get('n1', '/api/sessions/heavy')).json).toMatchObject({ steps: 5 });
});
