import './utc.ts'; // first: before anything reads the clock
import { COMMANDS, overview, type Command } from './commands.ts';

const EXIT_BACKSTOP_MS = 5_000;

// Started by bin/raftbox.js over an IPC channel: when that launcher dies (a SIGKILL, a closed
// terminal) the channel closes, and we stop as on SIGTERM instead of living on without it.
if (process.channel) {
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

/** A mistake on the command line: printed as `raftbox: …`, exit code 2. */
const usageError = (message: string) => Object.assign(new Error(message), { name: 'ConfigError' });

async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === '--help' || first === '-h' || (first === 'help' && argv.length === 1)) {
    process.stdout.write(overview());
    return 0;
  }
  const asksHelp = first === 'help' || argv.includes('--help') || argv.includes('-h');
  const name = first === 'help' ? argv[1]! : first !== undefined && !first.startsWith('-') ? first : 'serve';
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw usageError(`unknown command "${name}"${await suggestion(name)} (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
  if (asksHelp) {
    process.stdout.write(await command.help());
    return 0;
  }
  return command.run(name === first ? argv.slice(1) : argv);
}

async function suggestion(name: string): Promise<string> {
  const { didYouMean } = await import('../config/index.ts');
  return didYouMean(name, COMMANDS.map((c: Command) => c.name));
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
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  // ConfigError (src/config) and the client's usage errors: the caller's mistake, exit 2.
  if (e?.name === 'ConfigError') {
    process.stderr.write(`raftbox: ${e.message}\n`);
    return exitWith(2);
  }
  const text = e?.code === 'EADDRINUSE' ? `port ${e.port} on ${e.address} is already in use` : (e?.message ?? String(err));
  process.stderr.write(`raftbox: ${text}\n`);
  exitWith(1);
});
