import { z } from 'zod';
import type { Execution } from './domain.ts';

/**
 * The wire shapes of the domain's records, shared by REST answers, MCP `structuredContent` and the
 * OpenAPI document. Field names are snake_case like MCP-V8's, so its clients carry over.
 */

const ConsoleLineView = z.object({
  level: z.enum(['log', 'info', 'warn', 'error', 'debug']),
  text: z.string(),
});

const RunErrorView = z
  .object({
    name: z.string(),
    message: z.string(),
    stack: z.string().nullable(),
    line: z.number().nullable().describe('1-based line in the submitted code, when known.'),
    column: z.number().nullable(),
  })
  .describe('What the code threw, or why it stopped (timeout, memory limit, cancel, syntax error).');

export const ExecutionView = z.object({
  execution_id: z.string(),
  status: z
    .enum(['queued', 'running', 'completed', 'failed', 'timeout', 'memory_limit', 'cancelled'])
    .describe('`completed` or `failed` (the code threw), `timeout`, `memory_limit`, `cancelled`; `queued`/`running` while not finished.'),
  result: z.unknown().describe('Completion value of the code as JSON (`1 + 1` gives 2); null when none or not JSON-able.'),
  result_text: z.string().nullable().describe('The result as text: JSON, or a readable inspection when not JSON-able.'),
  output: z.string().describe('Console output as text, one line per console call (MCP-V8 compatible).'),
  console: z.array(ConsoleLineView).describe('Console output with levels, in order.'),
  console_truncated: z.boolean().describe('True when output went past the server\'s cap and the rest was dropped.'),
  error: RunErrorView.nullable(),
  session: z.string().nullable(),
  step: z.number().nullable().describe('Index of this step in the session\'s journal.'),
  heap: z.string().nullable().describe('State id after this step: pass it as `heap` to fork from here.'),
  tags: z.record(z.string(), z.string()),
  node: z.string().describe('Id of the node that ran it.'),
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  duration_ms: z.number().nullable(),
});
export type ExecutionView = z.output<typeof ExecutionView>;

export function executionView(e: Execution): ExecutionView {
  return {
    execution_id: e.id,
    status: e.status,
    result: e.result,
    result_text: e.resultText,
    output: e.console.map((l) => l.text).join('\n'),
    console: e.console,
    console_truncated: e.consoleTruncated,
    error: e.error,
    session: e.session,
    step: e.step,
    heap: e.heap,
    tags: e.tags,
    node: e.node,
    created_at: e.createdAt,
    started_at: e.startedAt,
    completed_at: e.finishedAt,
    duration_ms: e.durationMs,
  };
}

export const FINISHED = new Set<string>(['completed', 'failed', 'timeout', 'memory_limit', 'cancelled']);

export const ErrorView = z
  .object({ error: z.string().describe('Machine-readable code, e.g. `not_found`.'), message: z.string() })
  .describe('Every error answer.');
