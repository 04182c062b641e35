#!/usr/bin/env node
// Starts the CLI with the flag isolated-vm needs, on Node 24. The project pins its Node (the `node` package
// in devDependencies puts it at node_modules/node/bin/node), so a shell whose own Node is older still runs
// raftbox on the pinned one; a Node 24 found first on the PATH (a system install, the Docker image) is used
// as it is. Node 24 strips the TypeScript types itself: no loader.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const REQUIRED_MAJOR = 24;
const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const pinned = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));

const major = Number(process.versions.node.split('.')[0]);
const runtime = major >= REQUIRED_MAJOR ? process.execPath : existsSync(pinned) ? pinned : null;
if (!runtime) {
  process.stderr.write(
    `raftbox needs Node ${REQUIRED_MAJOR}; this is ${process.version}, and the pinned Node is not installed.\n` +
      `Run \`npm ci\` in ${fileURLToPath(new URL('..', import.meta.url))} (it installs Node ${REQUIRED_MAJOR} into node_modules), or put Node ${REQUIRED_MAJOR} on the PATH.\n`,
  );
  process.exit(1);
}
// The IPC channel is how the CLI ends with this process: when it dies, however it dies (SIGKILL
// included), the channel closes and src/cli/main.ts stops as on SIGTERM.
const child = spawn(runtime, ['--no-node-snapshot', main, ...process.argv.slice(2)], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
