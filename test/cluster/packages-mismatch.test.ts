import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPackages } from '../support/index.ts';
import { TestCluster, stepAcknowledged } from './harness.ts';

// Three real node processes, two with lodash 4.17.20 installed and one with 4.17.21 (an operator who
// upgraded one node only): a session started on the older version continues on the other older node
// and is refused, clearly, on the newer one; never a silently different result.
const root = mkdtempSync(join(tmpdir(), 'raftbox-cluster-packages-'));
const older = join(root, 'older');
const newer = join(root, 'newer');
let installError: string | null = null;
let cluster: TestCluster | undefined;

beforeAll(async () => {
  const failures = await Promise.all([installPackages(older, ['lodash@4.17.20']), installPackages(newer, ['lodash@4.17.21'])]);
  installError = failures.find((f) => f !== null) ?? null;
  if (installError) return;
  cluster = await TestCluster.start({ args: ['--packages', 'lodash'], argsOf: (id) => ['--packages-dir', id === 'n3' ? newer : older] });
}, 300_000);
afterAll(async () => {
  await cluster?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('a package version mismatch between node processes', () => {
  it('continues a session on a node with the same version, refuses it with package_unavailable on the other', async (ctx) => {
    if (installError) return ctx.skip(installError);
    const c = cluster!;
    // Retried while the new cluster still answers 503 (no leader yet), under one idempotency key.
    const first = await stepAcknowledged(c, 'n1', 'mismatch', "import _ from 'lodash'; _.VERSION");
    expect(first.json).toMatchObject({ status: 'completed', result: '4.17.20' });
    const same = await c.step('n2', 'mismatch', '[_.VERSION, _.uniqueId()]');
    expect(same.json).toMatchObject({ status: 'completed', node: 'n2', result: ['4.17.20', '1'] });

    const refused = await c.step('n3', 'mismatch', '_.VERSION');
    expect(refused.status).toBe(409);
    expect(refused.json).toEqual({ error: 'package_unavailable', message: expect.stringContaining('this node does not have lodash@4.17.20') });
    // Asking for the newest version does not help: the steps before still need the old bundle to replay.
    const upgrade = await c.step('n3', 'mismatch', "import _ from 'lodash'; _.VERSION", { upgrade_packages: true });
    expect(upgrade.json).toMatchObject({ error: 'package_unavailable' });
    // The refused steps left the session as it was.
    expect((await c.step('n1', 'mismatch', '[_.VERSION, _.uniqueId()]')).json).toMatchObject({ result: ['4.17.20', '2'], step: 3 });

    // A new session, or a stateless run, on n3 gets the version n3 has.
    expect((await c.post('n3', '/api/exec?wait=30000', { code: "import _ from 'lodash'; _.VERSION", language: 'js' })).json).toMatchObject({ result: '4.17.21' });
    // Each node's /cluster/status shows its own package set, so the operator sees the mismatch.
    const versions = await Promise.all(['n1', 'n2', 'n3'].map(async (id) => (await c.get(id, '/cluster/status')).json.packages.packages));
    expect(versions.map((p) => p.map((x: { name: string; version: string }) => `${x.name}@${x.version}`))).toEqual([['lodash@4.17.20'], ['lodash@4.17.20'], ['lodash@4.17.21']]);
  }, 120_000);
});
