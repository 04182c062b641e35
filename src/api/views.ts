import { z } from 'zod';
import type { Execution, JournalStep, OutputPage, SessionInfo } from './domain.ts';

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
  result: z.unknown().describe('Completion value of the code as JSON (`1 + 1` gives 2; objects, arrays and class instances by their own fields); null when none, or when JSON would lose what it holds (Map, Set, BigInt, Date, a function, NaN, a cycle): then only `result_text` has it.'),
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
  duration_ms: z.number().nullable().describe('Time the run took on the server, in milliseconds with microsecond precision.'),
  body_omitted: z
    .boolean()
    .describe('In a list page only: true when this execution\'s console, result and error stack were left out for size; get the execution for them.'),
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
    body_omitted: e.bodyOmitted === true,
  };
}

export const ErrorView = z
  .object({ error: z.string().describe('Machine-readable code, e.g. `not_found`.'), message: z.string() })
  .describe('Every error answer.');

export const OutputView = z.object({
  execution_id: z.string(),
  status: ExecutionView.shape.status,
  data: z.string().describe('The text of this window: one line per console line, warnings and errors marked.'),
  start_line: z.number().describe('Where this page lies, in lines (0-based) and UTF-8 bytes; ends are exclusive.'),
  end_line: z.number(),
  start_byte: z.number(),
  end_byte: z.number(),
  total_lines: z.number(),
  total_bytes: z.number(),
  next_line_offset: z.number().nullable().describe('Pass as `line_offset` for the next page (line paging); null at the end.'),
  next_byte_offset: z.number().nullable().describe('Pass as `byte_offset` for the next page (byte paging); null at the end.'),
  has_more: z.boolean(),
});

export function outputView(e: Execution, page: OutputPage): z.output<typeof OutputView> {
  return {
    execution_id: e.id,
    status: e.status,
    data: page.data,
    start_line: page.startLine,
    end_line: page.endLine,
    start_byte: page.startByte,
    end_byte: page.endByte,
    total_lines: page.totalLines,
    total_bytes: page.totalBytes,
    next_line_offset: page.nextLineOffset,
    next_byte_offset: page.nextByteOffset,
    has_more: page.hasMore,
  };
}

export const SessionView = z.object({
  name: z.string(),
  heap: z.string().describe('State id of the session\'s latest step.'),
  steps: z.number().describe('Steps in the journal.'),
  created_at: z.string(),
  updated_at: z.string(),
});

export const sessionView = (s: SessionInfo): z.output<typeof SessionView> => ({
  name: s.name,
  heap: s.heap,
  steps: s.steps,
  created_at: s.createdAt,
  updated_at: s.updatedAt,
});

export const JournalStepView = z.object({
  step: z.number(),
  heap: z.string().describe('State id after this step.'),
  code: z.string(),
  language: z.enum(['js', 'ts']),
  threw: z.boolean().describe('The step threw; its effects up to the throw are kept.'),
  created_at: z.string(),
});

export const journalStepView = (s: JournalStep): z.output<typeof JournalStepView> => ({
  step: s.step,
  heap: s.heap,
  code: s.code,
  language: s.language,
  threw: s.threw,
  created_at: s.createdAt,
});
