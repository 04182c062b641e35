import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { EdgeDomain } from '../api/domain.ts';
import type { EdgeLimits } from '../api/operations.ts';
import { packageCatalog } from './package-catalog.ts';
import { listResources, readResource } from './resources.ts';
import { callerOf } from './tool-resources.ts';
import { callTool, hasTool } from './tools.ts';

export const SERVER_INFO = { name: 'raftbox', version: '0.1.0' };

export const INSTRUCTIONS =
  'raftbox runs JavaScript/TypeScript in isolated V8 sandboxes. Call run_js with code; the value of the last ' +
  'expression is the result. Pass `session` to keep state (top-level let/const/function/class persist) across calls, ' +
  'or `heap` to fork from an earlier state. Long runs: `async: true`, then get_execution.';

/** What both lanes' servers declare: the tools, and the resources (resources.ts: the packages, code mode's declarations). */
export const CAPABILITIES = { tools: { listChanged: false }, resources: { listChanged: false } };

/** A `resources/read` of a URI raftbox does not serve: -32602 with the URI, on every revision (2026-07-28 requires it; v1 always did). */
export function resourceNotFound(uri: string): Error {
  return new McpError(ErrorCode.InvalidParams, `Resource not found: ${uri}`, { uri });
}

/** A `tools/call` as either SDK hands it over: the params, the request's abort signal, the bearer token's info. */
export function answerToolCall(
  domain: EdgeDomain,
  limits: EdgeLimits,
  params: { name: string; arguments?: Record<string, unknown> },
  extra: { signal: AbortSignal; authInfo?: AuthInfo },
): Promise<CallToolResult> {
  // Not McpError: its message would read "MCP error -32602: unknown tool …" on the wire, and the
  // client adds that prefix once more.
  if (!hasTool(params.name)) throw Object.assign(new Error(`unknown tool ${params.name}`), { code: ErrorCode.InvalidParams });
  const caller = callerOf(extra.authInfo);
  return callTool(
    domain,
    params.name,
    params.arguments,
    { edge: 'mcp', signal: extra.signal, subject: caller.subject ?? undefined, ...(extra.authInfo ? { scopes: extra.authInfo.scopes } : {}) },
    limits,
  );
}

/**
 * The legacy lane (2025-11-25 and older): a low-level v1 SDK `Server` with the tool handlers prebuilt. It
 * holds no per-client state, so one instance may serve many stateless HTTP requests in turn (see
 * mcpRoutes' pool). The 2026-07-28 lane is modern-server.ts.
 */
export function createMcpServer(domain: EdgeDomain, limits: EdgeLimits): Server {
  const server = new Server(SERVER_INFO, { capabilities: CAPABILITIES, instructions: INSTRUCTIONS });
  const { tools } = packageCatalog(domain);
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
  server.setRequestHandler(ListResourcesRequestSchema, (_req, extra) => listResources(domain, callerOf(extra.authInfo)));
  server.setRequestHandler(ReadResourceRequestSchema, async (req, extra) => {
    const answer = await readResource(domain, callerOf(extra.authInfo), req.params.uri);
    if (!answer) throw resourceNotFound(req.params.uri);
    return answer;
  });
  server.setRequestHandler(CallToolRequestSchema, (req, extra) => answerToolCall(domain, limits, req.params, extra));
  return server;
}
