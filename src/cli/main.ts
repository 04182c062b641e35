import './utc.ts'; // first: before anything reads the clock
import { ConfigError, loadConfig, type Config } from '../config/index.ts';
import { serveStdio } from '../mcp/index.ts';
import { createLogger, limitsOf, openDomain, startNode } from '../server.ts';
import { membersCommand } from '../cluster/members-command.ts';
import { parseClusterArgs, runLocalCluster } from '../cluster/local-cluster.ts';
import { hashPasswordCommand } from './hash-password.ts';
import { helpText } from './help.ts';

const EXIT_BACKSTOP_MS = 5_000;
const COMMANDS = ['serve', 'stdio', 'cluster', 'members', 'hash-password'] as const;
type Command = (typeof COMMANDS)[number];

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') {
    process.stdout.write(helpText());
    return 0;
  }
  const named = argv[0] !== undefined && !argv[0].startsWith('-');
  const command = (named ? argv[0] : 'serve') as Command;
  if (!COMMANDS.includes(command)) throw new ConfigError(`unknown command "${argv[0]}" (commands: ${COMMANDS.join(', ')})`);
  if (command === 'cluster') return runLocalCluster(parseClusterArgs(argv.slice(1)));
  if (command === 'members') return membersCommand(argv.slice(1));
  if (command === 'hash-password') return hashPasswordCommand(argv.slice(1));
  const config = loadConfig(named ? argv.slice(1) : argv);
  return command === 'serve' ? serve(config) : stdio(config);
}

async function serve(config: Config): Promise<number> {
  const node = await startNode(config);
  await untilSignal();
  node.log.info('shutting down');
  await node.close();
  return 0;
}

async function stdio(config: Config): Promise<number> {
  // A cluster member must serve /raft/* over HTTP; stdio has no HTTP port.
  if (Object.keys(config.peers).length > 0) throw new ConfigError('stdio runs a single node; a cluster member needs `raftbox serve`');
  // stdout carries the protocol: everything else goes to stderr.
  const log = createLogger(config, 2);
  const opened = await openDomain(config, log);
  log.info({ dataDir: config.dataDir }, 'serving MCP over stdio');
  await Promise.race([serveStdio(opened.domain, limitsOf(config)), untilSignal()]);
  await opened.close();
  return 0;
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

/**
 * The process ends by running out of work, not by `process.exit`: only a natural exit lets
 * isolated-vm wait for its isolates' teardown threads, and exiting under them crashes (SIGSEGV).
 * A handle left open by mistake must not keep it alive, hence the unref'd backstop.
 */
function exitWith(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), EXIT_BACKSTOP_MS).unref();
}

main(process.argv.slice(2)).then(exitWith, (err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`raftbox: ${err.message}\n`);
    return exitWith(2);
  }
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const text = e?.code === 'EADDRINUSE' ? `port ${e.port} on ${e.address} is already in use` : (e?.message ?? String(err));
  process.stderr.write(`raftbox: ${text}\n`);
  exitWith(1);
});
