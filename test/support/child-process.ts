import { spawn, type ChildProcess } from 'node:child_process';

/** A node run as a child process: its process and the tail of what it printed (for failure messages). */
export interface ChildNode {
  readonly child: ChildProcess;
  output(): string;
}

const KEEP_OUTPUT = 20_000;

/** Starts `node <args>` (the pinned Node running the tests); stdout and stderr are kept, not shown. */
export function startChild(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildNode {
  const child = spawn(process.execPath, args, { ...(opts.cwd ? { cwd: opts.cwd } : {}), env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (c: Buffer) => (output = (output + c.toString()).slice(-KEEP_OUTPUT));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return { child, output: () => output };
}

/** Signals a child (SIGKILL by default: a crash) and resolves once it has exited. */
export function stopChild(child: ChildProcess | null, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}
