// `raftbox run <file|->`: runs code on a server over REST and prints what it printed and its result.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { isFinished, run, type Execution, type RunRequest } from '../../../clients/typescript/src/index.ts';
import { ConfigError } from '../../config/index.ts';
import { CONNECTION_HELP, connect, parseCommand, print } from './connection.ts';
import { executionText } from './execution-text.ts';

const USAGE = 'usage: raftbox run <file|-> [--session <name>] [--heap <state id>] [--language js|ts] [options]';
/** Each poll waits this long on the server, so the progress line moves. */
const POLL_MS = 2_000;

export const RUN_HELP = `${USAGE}

Runs a file (or stdin, with -) on a raftbox server and prints its console output and its result (the
value of the last expression). With a long run, a progress line on stderr says how long it has run.
Exits 0 when the code completed, 1 when it threw or was stopped (timeout, memory limit, cancel) or
the server refused it, 2 for a usage error.

Options:
  --session <name>        continue (or start) this named session: its state persists from run to run
  --heap <state id>       fork from an earlier step's state (the \`heap\` a step answered)
  --language js|ts        default: js for .js/.mjs/.cjs files, else ts (a superset of JS)
  --memory <mb>           heap limit of this run (server default 64)
  --timeout <secs>        time limit of this run (server default 30)
  --tag <key=value>       a label, filterable in \`raftbox executions list --tag\` (repeatable)
  --idempotency-key <k>   a retried submit with the same key answers the first execution

${CONNECTION_HELP}
`;

export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(
    argv,
    {
      session: { type: 'string' },
      heap: { type: 'string' },
      language: { type: 'string' },
      memory: { type: 'string' },
      timeout: { type: 'string' },
      tag: { type: 'string', multiple: true },
      'idempotency-key': { type: 'string' },
    },
    USAGE,
  );
  if (positionals.length !== 1) throw new ConfigError(`give one file, or - for stdin\n${USAGE}`);
  const file = positionals[0]!;
  const code = file === '-' ? readFileSync(0, 'utf8') : readCode(file);
  const language = (values.language as string | undefined) ?? (file !== '-' && /^\.[mc]?js$/.test(extname(file)) ? 'js' : undefined);
  if (language !== undefined && language !== 'js' && language !== 'ts') throw new ConfigError(`--language expects js or ts, got "${language}"`);
  const request: RunRequest = {
    code,
    ...(language ? { language } : {}),
    ...(values.session ? { session: values.session as string } : {}),
    ...(values.heap ? { heap: values.heap as string } : {}),
    ...(values.memory ? { heap_memory_max_mb: number('--memory', values.memory as string) } : {}),
    ...(values.timeout ? { execution_timeout_secs: number('--timeout', values.timeout as string) } : {}),
    ...(values.tag ? { tags: tags(values.tag as unknown as string[]) } : {}),
  };
  const { api } = connect(values);
  const progress = new ProgressLine();
  let e: Execution;
  try {
    e = await run(api, request, { pollMs: POLL_MS, idempotencyKey: values['idempotency-key'] as string | undefined, onProgress: (x) => progress.show(x) });
  } finally {
    progress.clear();
  }
  const text = executionText(e);
  print(values, e, () => text.out);
  if (!values.json) process.stderr.write(text.err);
  return isFinished(e) && e.status === 'completed' ? 0 : 1;
}

function readCode(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

function number(flag: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`${flag} expects a number, got "${raw}"`);
  return n;
}

function tags(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--tag expects key=value, got "${pair}"`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** "running 12 s (ex_…)" on stderr: rewritten in place on a terminal, a line every poll otherwise. */
class ProgressLine {
  private readonly started = Date.now();
  private shown = false;

  show(e: Execution): void {
    const line = `${e.status} ${Math.round((Date.now() - this.started) / 1000)} s (execution ${e.execution_id})`;
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}`);
    else process.stderr.write(`${line}\n`);
    this.shown = true;
  }

  clear(): void {
    if (this.shown && process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
  }
}
