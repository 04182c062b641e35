// `raftbox executions …` and `raftbox sessions …`: the records of a server, over REST.
import { ok } from '../../../clients/typescript/src/index.ts';
import { ConfigError } from '../../config/index.ts';
import { CONNECTION_HELP, connect, parseCommand, print, type Parsed } from './connection.ts';
import { executionText, ms } from './execution-text.ts';

const EXECUTIONS_USAGE = 'usage: raftbox executions list|get <id>|output <id>|cancel <id> [options]';
const SESSIONS_USAGE = 'usage: raftbox sessions list|get <name>|delete <name> [options]';

export const EXECUTIONS_HELP = `${EXECUTIONS_USAGE}

  list          executions, newest first: --status <s>, --session <name>, --tag <key=value>, --limit <n>,
                --cursor <c> (the next page's cursor is printed under the list)
  get <id>      one execution: its console output and result; --wait <ms> waits for it to finish
  output <id>   its console text, a window of it with --line-offset/--line-limit or --byte-offset/--byte-limit
  cancel <id>   stop a queued or running execution

${CONNECTION_HELP}
`;

export const SESSIONS_HELP = `${SESSIONS_USAGE}

  list           sessions with their step counts: --limit <n>, --cursor <c>
  get <name>     a session and its journal of steps: --limit <n> steps, --cursor <c>
  delete <name>  forget a session and its journal

${CONNECTION_HELP}
`;

const table = (rows: string[][]): string => {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
};
const more = (cursor: string | null) => (cursor ? `next page: --cursor ${cursor}\n` : '');
const int = (flag: string, v: unknown) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${flag} expects a whole number, got "${String(v)}"`);
  return n;
};

function one(positionals: string[], what: string, usage: string): string {
  if (positionals.length !== 2) throw new ConfigError(`${positionals[0]} takes one ${what}\n${usage}`);
  return positionals[1]!;
}

export async function executionsCommand(argv: string[]): Promise<number> {
  const p: Parsed = parseCommand(
    argv,
    {
      status: { type: 'string' },
      session: { type: 'string' },
      tag: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      wait: { type: 'string' },
      'line-offset': { type: 'string' },
      'line-limit': { type: 'string' },
      'byte-offset': { type: 'string' },
      'byte-limit': { type: 'string' },
    },
    EXECUTIONS_USAGE,
  );
  const { values, positionals } = p;
  const { api } = connect(values);
  const action = positionals[0];
  if (action === 'list' && positionals.length === 1) {
    const query = {
      ...(values.status ? { status: values.status as 'completed' } : {}),
      ...(values.session ? { session: values.session as string } : {}),
      ...(values.tag ? { tag: values.tag as string } : {}),
      ...(values.cursor ? { cursor: values.cursor as string } : {}),
      ...(values.limit ? { limit: int('--limit', values.limit) } : {}),
    };
    const page = await ok(api.GET('/api/executions', { params: { query } }));
    print(values, page, () =>
      table([['EXECUTION', 'STATUS', 'NODE', 'SESSION', 'DURATION', 'CREATED'], ...page.executions.map((e) => [e.execution_id, e.status, e.node, e.session ?? '–', ms(e.duration_ms), e.created_at])]) +
      more(page.next_cursor),
    );
    return 0;
  }
  if (action === 'get' || action === 'cancel') {
    const execution_id = one(positionals, 'execution id', EXECUTIONS_USAGE);
    const e =
      action === 'get'
        ? await ok(api.GET('/api/executions/{execution_id}', { params: { path: { execution_id }, query: values.wait ? { wait: int('--wait', values.wait) } : {} } }))
        : await ok(api.POST('/api/executions/{execution_id}/cancel', { params: { path: { execution_id } } }));
    print(values, e, () => {
      const text = executionText(e);
      const where = `${e.execution_id}  ${e.status}  node ${e.node}${e.session ? `  session ${e.session} step ${e.step}` : ''}  ${ms(e.duration_ms)}  ${e.created_at}\n`;
      return where + text.out + text.err;
    });
    return 0;
  }
  if (action === 'output') {
    const execution_id = one(positionals, 'execution id', EXECUTIONS_USAGE);
    const query = Object.fromEntries(
      (['line-offset', 'line-limit', 'byte-offset', 'byte-limit'] as const).filter((k) => values[k] !== undefined).map((k) => [k.replace('-', '_'), int(`--${k}`, values[k])]),
    );
    const page = await ok(api.GET('/api/executions/{execution_id}/output', { params: { path: { execution_id }, query } }));
    print(values, page, () => `${page.data}${page.data && !page.data.endsWith('\n') ? '\n' : ''}`);
    return 0;
  }
  throw new ConfigError(EXECUTIONS_USAGE);
}

export async function sessionsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, { limit: { type: 'string' }, cursor: { type: 'string' } }, SESSIONS_USAGE);
  const { api } = connect(values);
  const action = positionals[0];
  const paging = { ...(values.limit ? { limit: int('--limit', values.limit) } : {}), ...(values.cursor ? { cursor: values.cursor as string } : {}) };
  if (action === 'list' && positionals.length === 1) {
    const page = await ok(api.GET('/api/sessions', { params: { query: paging } }));
    print(values, page, () => table([['SESSION', 'STEPS', 'HEAP', 'UPDATED'], ...page.sessions.map((s) => [s.name, String(s.steps), s.heap, s.updated_at])]) + more(page.next_cursor));
    return 0;
  }
  if (action === 'get') {
    const session = one(positionals, 'session name', SESSIONS_USAGE);
    const query = { ...(paging.limit !== undefined ? { steps_limit: paging.limit } : {}), ...(paging.cursor ? { steps_cursor: paging.cursor } : {}) };
    const s = await ok(api.GET('/api/sessions/{session}', { params: { path: { session }, query } }));
    print(values, s, () => {
      const steps = s.journal.map((j) => `--- step ${j.step} (${j.language}${j.threw ? ', threw' : ''}, heap ${j.heap}, ${j.created_at})\n${j.code}${j.code.endsWith('\n') ? '' : '\n'}`);
      return `${s.name}: ${s.steps} step${s.steps === 1 ? '' : 's'}, heap ${s.heap}, updated ${s.updated_at}\n${steps.join('')}${more(s.next_steps_cursor)}`;
    });
    return 0;
  }
  if (action === 'delete') {
    const session = one(positionals, 'session name', SESSIONS_USAGE);
    const answer = await ok(api.DELETE('/api/sessions/{session}', { params: { path: { session } } }));
    print(values, answer, () => `deleted session ${answer.session}\n`);
    return 0;
  }
  throw new ConfigError(SESSIONS_USAGE);
}
