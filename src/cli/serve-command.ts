// `raftbox serve` and `raftbox stdio`: the node itself. Imported only when one of them runs (the server
// and the sandbox take most of a second to load; `--help` must not wait for them).
import { loadConfig, type Config } from '../config/index.ts';
import { serveStdio } from '../mcp/index.ts';
import { createLogger, limitsOf, openDomain, startNode } from '../server.ts';
import { stdioRefusal } from './stdio-settings.ts';

export async function serve(argv: string[]): Promise<number> {
  const config = loadConfig(argv);
  const node = await startNode(config);
  const why = await Promise.race([untilSignal().then(() => 'signal' as const), ...(config.exitWithStdin ? [untilStdinCloses().then(() => 'stdin' as const)] : [])]);
  if (config.exitWithStdin) process.stdin.destroy(); // a stdin still being read would keep the process from ending
  // stdin closes when the supervisor stops the whole cluster (or dies): every member is leaving at once.
  node.log.info(why === 'stdin' ? 'shutting down with the whole cluster (no leadership hand-off)' : 'shutting down');
  await node.close({ handOff: why !== 'stdin' });
  return 0;
}

export async function stdio(argv: string[]): Promise<number> {
  const config: Config = loadConfig(argv, process.env, stdioRefusal);
  // stdout carries the protocol: everything else goes to stderr.
  const log = createLogger(config, 2);
  const opened = await openDomain(config, log);
  log.info({ dataDir: config.dataDir }, 'serving MCP over stdio');
  await Promise.race([serveStdio(opened.domain, limitsOf(config)), untilSignal()]);
  await opened.close();
  return 0;
}

/**
 * Resolves when stdin reaches its end: a supervisor holds the other end of the pipe, and the kernel
 * closes it when the supervisor dies however it dies (SIGKILL included), so its nodes never outlive it.
 */
function untilStdinCloses(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.once('end', resolve).once('error', () => resolve());
    process.stdin.resume(); // read (and drop) whatever comes, to see the end
  });
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = () => {
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}
