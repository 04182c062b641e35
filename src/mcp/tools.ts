import { z } from 'zod';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { UserError } from '../errors.ts';
import type { EdgeDomain } from '../api/domain.ts';
import { OPERATIONS, parseArgs, type CallContext, type EdgeLimits, type Operation, type Scope } from '../api/operations.ts';
import { artifactBlocks, hasArtifacts } from './artifact-content.ts';

const schemaOf = (t: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(t, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest as Tool['inputSchema'];
};

const byName = new Map(OPERATIONS.map((op) => [op.tool, op]));

/** The one tool whose calls can become tasks. */
export const TASK_TOOL = 'run_js';

/**
 * The tool list, built once from the operations table: converting zod schemas to JSON Schema on
 * every `tools/list` (what McpServer does per instance) is a large part of a stateless request's cost.
 */
export const TOOLS: Tool[] = OPERATIONS.map((op) => ({
  name: op.tool,
  title: op.summary,
  description: op.description,
  inputSchema: schemaOf(op.input, 'input'),
  outputSchema: schemaOf(op.output, 'output'),
  annotations: {
    readOnlyHint: op.method === 'get',
    destructiveHint: op.method === 'delete',
    idempotentHint: op.method !== 'post',
    openWorldHint: false,
  },
  // 2025-11-25 core tasks: a run may be called as a task (src/mcp/tasks.ts); nothing else is long.
  ...(op.tool === TASK_TOOL ? { execution: { taskSupport: 'optional' as const } } : {}),
}));

/** What reading the MCP resources needs (they list what list_packages lists). */
export const READ_SCOPE: Scope = 'raftbox:read';

/** The scope a tool needs, for the HTTP bearer check before the call reaches the SDK. */
export const toolScope = (name: string): string | undefined => byName.get(name)?.scope;

export function hasTool(name: string): boolean {
  return byName.has(name);
}

/** An operation's answer as a tool result: `structuredContent` and the same JSON as text. */
export function toolResult(op: Operation, out: Record<string, unknown>): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(out) }],
    structuredContent: out,
    ...(op.isError?.(out) ? { isError: true } : {}),
  };
}

/** The whole answer: an execution's files come as content of their own, images as image blocks (artifact-content.ts). */
export async function toolAnswer(domain: EdgeDomain, op: Operation, out: Record<string, unknown>, subject: string | undefined): Promise<CallToolResult> {
  const answer = toolResult(op, out);
  if (hasArtifacts(out)) answer.content.push(...(await artifactBlocks(domain, out.execution_id, subject)));
  return answer;
}

/** A tool's operation; undefined for an unknown name. */
export const operationOf = (name: string): Operation | undefined => byName.get(name);

/**
 * One tool call: arguments checked by the operation's schema, the domain called, the answer given as
 * `structuredContent` plus its JSON as a text block. Whatever the caller caused (bad arguments, an
 * unknown execution, overload) is an `isError` result the model can read and act on.
 */
export async function callTool(
  domain: EdgeDomain,
  name: string,
  rawArgs: Record<string, unknown> | undefined,
  ctx: CallContext,
  limits: EdgeLimits,
): Promise<CallToolResult> {
  const op = byName.get(name) as Operation;
  try {
    return await toolAnswer(domain, op, await op.call(domain, parseArgs(op, rawArgs ?? {}), ctx, limits), ctx.subject);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    const retry = err.retryAfter !== undefined ? ` (retry after ${err.retryAfter}s)` : '';
    return { content: [{ type: 'text', text: `${err.code}: ${err.message}${retry}` }], isError: true };
  }
}
