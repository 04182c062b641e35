import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PackageSet } from '../../src/sandbox/index.ts';
import { installPackages } from '../support/index.ts';
import { Fixture } from './fixture.ts';

// Nodes with their own package installs over one replicated state: the same version continues a
// session exactly (also after a restart); another version is a clear error, never a different result.
const root = mkdtempSync(join(tmpdir(), 'raftbox-session-packages-'));
const WAIT = { waitMs: 20_000 };
let installError: string | null = null;
let older: PackageSet;
let newer: PackageSet;
/** Node a after its operator upgraded lodash: the newer install, with a's own bundle store (it still has 4.17.20). */
let upgraded: PackageSet;

beforeAll(async () => {
  const [a, b] = [mkdtempSync(join(root, 'a-')), mkdtempSync(join(root, 'b-'))];
  const failures = await Promise.all([installPackages(a, ['lodash@4.17.20', 'date-fns@4']), installPackages(b, ['lodash@4.17.21', 'date-fns@4'])]);
  installError = failures.find((f) => f !== null) ?? null;
  if (installError) return;
  older = await PackageSet.load({ packages: ['lodash', 'date-fns'], packagesDir: a, storeDir: join(a, 'bundles') });
  newer = await PackageSet.load({ packages: ['lodash', 'date-fns'], packagesDir: b, storeDir: join(b, 'bundles') });
  upgraded = await PackageSet.load({ packages: ['lodash', 'date-fns'], packagesDir: b, storeDir: join(a, 'bundles') });
}, 240_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('packages in sessions across nodes', () => {
  it('continues on another node with the same version, and after a restart', async (ctx) => {
    if (installError) return ctx.skip(installError);
    const f = await Fixture.open();
    try {
      const a = await f.node({ nodeId: 'a' }, older);
      const c = await f.node({ nodeId: 'c' }, older);
      const first = await a.executions.run({ code: "import _ from 'lodash'; import { addDays } from 'date-fns'; _.VERSION", session: 's' }, WAIT);
      expect(first).toMatchObject({ status: 'completed', result: '4.17.20' });
      const next = await c.executions.run({ code: '[_.VERSION, _.uniqueId(), addDays(new Date(0), 1).toISOString()]', session: 's' }, WAIT);
      expect(next).toMatchObject({ status: 'completed', node: 'c', result: ['4.17.20', '1', '1970-01-02T00:00:00.000Z'] });
      await f.restart();
      const again = await f.node({ nodeId: 'a' }, older);
      const after = await again.executions.run({ code: '[_.VERSION, _.uniqueId()]', session: 's' }, WAIT);
      expect(after).toMatchObject({ status: 'completed', result: ['4.17.20', '2'] });
    } finally {
      await f.close();
    }
  });

  it('a node with another version of a package the session imported refuses, naming package and version', async (ctx) => {
    if (installError) return ctx.skip(installError);
    const f = await Fixture.open();
    try {
      const a = await f.node({ nodeId: 'a' }, older);
      const b = await f.node({ nodeId: 'b' }, newer);
      await a.executions.run({ code: "import _ from 'lodash'", session: 's' }, WAIT);
      const refused = b.executions.run({ code: '_.VERSION', session: 's' }, WAIT);
      await expect(refused).rejects.toMatchObject({ code: 'package_unavailable', message: expect.stringContaining('this node does not have lodash@4.17.20') });
      // A new session on that node gets the version it has.
      expect(await b.executions.run({ code: "import _ from 'lodash'; _.VERSION", session: 't' }, WAIT)).toMatchObject({ result: '4.17.21' });
    } finally {
      await f.close();
    }
  });

  it('after an upgrade a session keeps its version until a step asks for the newest with upgrade_packages; replay keeps that order', async (ctx) => {
    if (installError) return ctx.skip(installError);
    const f = await Fixture.open();
    try {
      const a = await f.node({ nodeId: 'a' }, older);
      await a.executions.run({ code: "import _ from 'lodash'; _.VERSION", session: 's' }, WAIT);
      await f.restart();
      const after = await f.node({ nodeId: 'a' }, upgraded);
      // The operator installed 4.17.21; the session still imports what it first did.
      expect(await after.executions.run({ code: "import _ from 'lodash'; _.VERSION", session: 's' }, WAIT)).toMatchObject({ result: '4.17.20' });
      expect(await after.executions.run({ code: "import _ from 'lodash'; _.VERSION", session: 's', upgradePackages: true }, WAIT)).toMatchObject({ result: '4.17.21' });
      expect(await after.executions.run({ code: "[_.VERSION, require('lodash').VERSION]", session: 's' }, WAIT)).toMatchObject({ result: ['4.17.21', '4.17.21'] });
      // Rebuilt from the journal on another node of the same install: old steps replay 4.17.20, the session stays on 4.17.21.
      const other = await f.node({ nodeId: 'c' }, upgraded);
      expect(await other.executions.run({ code: "[_.VERSION, (await import('lodash')).default.VERSION]", session: 's' }, WAIT)).toMatchObject({ node: 'c', result: ['4.17.21', '4.17.21'] });
    } finally {
      await f.close();
    }
  });
});
