// Growing and shrinking a running cluster with `raftbox serve --join` and `raftbox members`.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLUSTER_SECRET, freePort, waitFor } from '../support/index.ts';
import { repo, stepAcknowledged, TestCluster } from './harness.ts';

let c: TestCluster;
beforeAll(async () => {
  c = await TestCluster.start();
}, 60_000);
afterAll(() => c?.close());

// Async on purpose: this process runs the Raft proxies, and a blocking spawnSync would freeze them.
const cli = (args: string[], secret = CLUSTER_SECRET) =>
  new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--no-node-snapshot', 'src/cli/main.ts', 'members', ...args], { cwd: repo, env: { ...process.env, RAFTBOX_CLUSTER_SECRET: secret }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
const members = (...args: string[]) => cli(args);

it('adds a joining node as a voter that serves the sessions, and removes it again', { timeout: 90_000 }, async () => {
  await stepAcknowledged(c, 'n1', 'grow', 'let n = 1; n');
  const n4 = await c.addJoiner('n4');
  expect((await c.get('n4', '/readyz')).status).toBe(503); // not a member yet

  // Unsigned or wrongly signed changes are refused.
  expect((await c.post('n1', '/cluster/members', { id: 'n4', url: n4.url })).status).toBe(401);
  const forged = await cli(['add', 'n4', n4.url, '--via', c.node('n2').url], 'not-the-secret-at-all');
  expect(forged.status).toBe(1);

  const added = await members('add', 'n4', n4.url, '--via', c.node('n2').url);
  expect(added.status, added.stderr).toBe(0);
  expect(JSON.parse(added.stdout).members.find((m: { id: string }) => m.id === 'n4')).toMatchObject({ voter: true });
  await c.waitReady();
  expect((await stepAcknowledged(c, 'n4', 'grow', 'n += 1; n')).json).toMatchObject({ result: 2, node: 'n4' });

  const removed = await members('remove', 'n4', '--via', c.node('n3').url);
  expect(removed.status, removed.stderr).toBe(0);
  await waitFor('n4 out of the membership', async () => !(await c.get('n1', '/cluster/status')).json.members.some((m: { id: string }) => m.id === 'n4'));
  expect((await stepAcknowledged(c, 'n1', 'grow', 'n')).json.result).toBe(2);
  const listed = await members('list', '--via', c.node('n1').url);
  expect(JSON.parse(listed.stdout).members.map((m: { id: string }) => m.id).sort()).toEqual(['n1', 'n2', 'n3']);
});

it('does not make a node that never answers a voter: it says so within seconds, and the learner can be removed', { timeout: 60_000 }, async () => {
  const nowhere = `http://127.0.0.1:${await freePort()}`; // nothing listens there
  const added = await members('add', 'n9', nowhere, '--via', c.node('n2').url);
  expect(added.status).toBe(1);
  expect(JSON.parse(added.stderr)).toMatchObject({ error: 'learner_unreachable', message: expect.stringContaining(`is reachable at ${nowhere}`) });
  const listed = JSON.parse((await members('list', '--via', c.node('n1').url)).stdout) as { members: { id: string; voter: boolean }[] };
  expect(listed.members.find((m) => m.id === 'n9')).toMatchObject({ voter: false });
  expect((await stepAcknowledged(c, 'n3', 'nowhere', '1 + 1')).json.result).toBe(2); // a learner is no part of the quorum

  const removed = await members('remove', 'n9', '--via', c.node('n1').url);
  expect(removed.status, removed.stderr).toBe(0);
  expect(JSON.parse(removed.stdout).members.map((m: { id: string }) => m.id).sort()).toEqual(['n1', 'n2', 'n3']);
});
