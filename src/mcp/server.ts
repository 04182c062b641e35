import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { CallToolRequestSchema, ErrorCode, ListResourcesRequestSchema, ListToolsRequestSchema, ReadResourceRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { EdgeDomain } from '../api/domain.ts';
import type { EdgeLimits } from '../api/operations.ts';
import { callTool, hasTool, toolsFor } from './tools.ts';
import { callerOf, listToolResources, readToolResource } from './tool-resources.ts';

export const SERVER_INFO = { name: 'raftbox', version: '0.1.0' };

export const INSTRUCTIONS =
  'raftbox runs JavaScript/TypeScript in isolated V8 sandboxes. Call run_js with code; the value of the last ' +
  'expression is the result. Pass `session` to keep state (top-level let/const/function/class persist) across calls, ' +
  'or `heap` to fork from an earlier state. Long runs: `async: true`, then get_execution.';

/** The tool list as both SDKs answer it (built once per set of upstream servers, see tools.ts). */
export const listResult = (domain: EdgeDomain) => ({ tools: toolsFor(domain.tools?.names ?? []) });

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

/** Tools always; resources (code mode's declarations) on a node with upstream servers. */
export const capabilitiesOf = (domain: EdgeDomain) => ({ tools: { listChanged: false }, ...(domain.tools ? { resources: { listChanged: false } } : {}) });

/**
 * The legacy lane (2025-11-25 and older): a low-level v1 SDK `Server` with the tool handlers prebuilt. It
 * holds no per-client state, so one instance may serve many stateless HTTP requests in turn (see
 * mcpRoutes' pool). The 2026-07-28 lane is modern-server.ts.
 */
export function createMcpServer(domain: EdgeDomain, limits: EdgeLimits): Server {
  const list = listResult(domain);
  const server = new Server(SERVER_INFO, { capabilities: capabilitiesOf(domain), instructions: INSTRUCTIONS });
  server.setRequestHandler(ListToolsRequestSchema, () => list);
  server.setRequestHandler(CallToolRequestSchema, (req, extra) => answerToolCall(domain, limits, req.params, extra));
  if (domain.tools) {
    server.setRequestHandler(ListResourcesRequestSchema, (_req, extra) => listToolResources(domain, callerOf(extra.authInfo)));
    server.setRequestHandler(ReadResourceRequestSchema, (req, extra) => readToolResource(domain, callerOf(extra.authInfo), req.params.uri));
  }
  return server;
}
