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
 * Every tool; what a node lists is `toolsFor(its upstream servers)`.
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

// A node without upstream servers does not list search_tools (it would only ever answer nothing).
const WITHOUT_CODE_MODE = TOOLS.filter((t) => t.name !== 'search_tools');
const listsByServers = new Map<string, Tool[]>();

/**
 * The tool list of a node with these upstream servers: run_js's description names them and says how
 * to find their tools (code mode). Built once per set of names (a node's configuration fixes it).
 */
export function toolsFor(servers: readonly string[]): Tool[] {
  if (servers.length === 0) return WITHOUT_CODE_MODE;
  const key = servers.join(',');
  let tools = listsByServers.get(key);
  if (tools === undefined) {
    const codeMode =
      ` Code mode: the code can call the tools of the upstream MCP servers ${servers.map((s) => `\`${s}\``).join(', ')} as ` +
      '`await tools.<server>.<tool>(args)` (or `mcp.callTool(server, tool, args)`; `mcp.servers()`, `mcp.listTools(server)` ' +
      'list them): loop, filter and return only what matters instead of one tool call per step. search_tools finds tools ' +
      'by keyword and answers their TypeScript declarations (all of them: resource raftbox://tools.d.ts); `typecheck: true` ' +
      'checks the code against them first. A tool that answers isError throws McpToolError.';
    tools = TOOLS.map((t) => (t.name === 'run_js' ? { ...t, description: t.description + codeMode } : t));
    listsByServers.set(key, tools);
  }
  return tools;
}

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
