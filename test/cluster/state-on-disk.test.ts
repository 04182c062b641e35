// A node whose replicated state is several times larger than its JavaScript heap: it restarts on
// that state, serves it, and streams it as a snapshot to a member added afterwards (also on a small
// heap). The state is made through the product's own replica (Raft log and all), in this process,
// because running that many steps through the sandbox would take minutes.
import { execFile } from 'node:child_process';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { oauthStateModule } from '../../src/auth/index.ts';
import { domainModules } from '../../src/executions/index.ts';
import { openReplica } from '../../src/replication/index.ts';
import { CLUSTER_SECRET, freePort, sessionStepCommand, startChild, stopChild, tempDir, waitFor, type ChildNode } from '../support/index.ts';
import { repo } from './harness.ts';

const HEAP_MB = 96;
const SESSIONS = 3_000;
const CODE_BYTES = 128 << 10; // random text: LevelDB's compression cannot shrink it
const SMALL = [`--max-old-space-size=${HEAP_MB}`];
const NODE_FLAGS = ['--state-cache-mb', '8', '--raft-log-mb', '16', '--log-level', 'warn'];

const children: ChildNode[] = [];
let root: string | undefined;
afterAll(async () => {
  await Promise.all(children.map((c) => stopChild(c.child)));
  // About 800 MB (two copies of the state and a Raft log): never left behind.
  if (root) await rm(root, { recursive: true, force: true });
});

/** Steps of `SESSIONS` sessions, one each, of `CODE_BYTES` of code (a comment, then `globalThis.v = i`). */
async function makeState(dataDir: string): Promise<void> {
  const replica = await openReplica({ nodeId: 'n1', peers: {}, dataDir, secret: CLUSTER_SECRET, modules: [...domainModules(), oauthStateModule], raft: { snapshotBytes: 16 << 20 } });
  try {
    await waitFor('the node to lead', () => replica.raft.status().role === 'leader');
    for (let i = 0; i < SESSIONS; i += 16) {
      await Promise.all(
        Array.from({ length: 16 }, (_, k) => replica.commandLog.propose(sessionStepCommand(`bulk-${i + k}`, null, 1, `globalThis.v = ${i + k}; v`, CODE_BYTES))),
      );
    }
  } finally {
    await replica.close();
  }
}

async function serve(id: string, dataDir: string, port: number, extra: string[]): Promise<ChildNode> {
  const node = startChild(['--no-node-snapshot', ...SMALL, 'src/cli/main.ts', 'serve', '--node-id', id, '--port', String(port), '--data-dir', dataDir, ...NODE_FLAGS, ...extra], {
    cwd: repo,
    env: { ...process.env, RAFTBOX_CLUSTER_SECRET: CLUSTER_SECRET },
  });
  children.push(node);
  await waitFor(`${id} to listen`, async () => (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) || (node.child.exitCode !== null && fail(`${id} exited: ${node.output()}`)), 60_000);
  return node;
}

async function step(port: number, session: string, code: string): Promise<{ status: number; json: { result?: unknown; node?: string } }> {
  const r = await fetch(`http://127.0.0.1:${port}/api/exec?wait=60000`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code, session, language: 'js' }) });
  return { status: r.status, json: (await r.json()) as { result?: unknown; node?: string } };
}

/** Bytes of the files under `dir`. */
async function du(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  return total;
}

it(`serves a state several times its ${HEAP_MB} MB heap after a restart, and streams it to a new member`, { timeout: 300_000 }, async () => {
  root = await tempDir('raftbox-big-state-');
  const dir1 = join(root, 'n1');
  await makeState(dir1);
  const stateMb = (await du(join(dir1, 'state'))) / 2 ** 20;
  expect(stateMb).toBeGreaterThan(3 * HEAP_MB);

  const [port1, port2] = [await freePort(), await freePort()];
  const url1 = `http://127.0.0.1:${port1}`;
  const url2 = `http://127.0.0.1:${port2}`;
  const n1 = await serve('n1', dir1, port1, []);
  // The first session and the last continue where their one step left them.
  expect(await step(port1, 'bulk-0', 'v + 1')).toMatchObject({ status: 200, json: { result: 1 } });
  expect(await step(port1, `bulk-${SESSIONS - 1}`, 'v + 1')).toMatchObject({ status: 200, json: { result: SESSIONS } });

  // A new member, started empty on a small heap: it gets the whole state as a streamed snapshot.
  const dir2 = join(root, 'n2');
  await serve('n2', dir2, port2, ['--join', '--peers', `n1=${url1},n2=${url2}`]);
  const added = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--no-node-snapshot', 'src/cli/main.ts', 'members', 'add', 'n2', url2, '--via', url1], { cwd: repo, env: { ...process.env, RAFTBOX_CLUSTER_SECRET: CLUSTER_SECRET }, timeout: 240_000 }, (err, _out, stderr) =>
      resolve({ code: err ? 1 : 0, stderr }),
    );
  });
  expect(added.code, `${added.stderr}\n${n1.output()}`).toBe(0);
  await waitFor('n2 ready', async () => (await fetch(`${url2}/readyz`).then((r) => r.status === 200, () => false)), 120_000);
  expect((await du(join(dir2, 'state'))) / 2 ** 20).toBeGreaterThan(3 * HEAP_MB);
  expect(await step(port2, `bulk-${SESSIONS / 2}`, 'v + 1')).toMatchObject({ status: 200, json: { result: SESSIONS / 2 + 1, node: 'n2' } });
});

function fail(message: string): never {
  throw new Error(message);
}
