import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import {
  CallToolRequestSchema,
  CancelTaskRequestSchema,
  ErrorCode,
  GetTaskPayloadRequestSchema,
  GetTaskRequestSchema,
  ListTasksRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { EdgeDomain } from '../api/domain.ts';
import type { EdgeLimits } from '../api/operations.ts';
import type { LogLevels } from './log-levels.ts';
import { packageCatalog } from './package-catalog.ts';
import { LOG_LEVEL_OF, progressTokenOf, watchedRun } from './progress.ts';
import { listResources, listResourceTemplates, readResource } from './resources.ts';
import { LEGACY_TASKS_CAPABILITY, legacyTasks } from './tasks.ts';
import { callerOf } from './tool-resources.ts';
import { TASK_TOOL, callTool, hasTool } from './tools.ts';

export const SERVER_INFO = { name: 'raftbox', version: '0.1.0' };

export const INSTRUCTIONS =
  'raftbox runs JavaScript/TypeScript in isolated V8 sandboxes. Call run_js with code; the value of the last ' +
  'expression is the result. Pass `session` to keep state (top-level let/const/function/class persist) across calls, ' +
  'or `heap` to fork from an earlier state. Long runs: `async: true`, then get_execution. The resources ' +
  'raftbox://docs/sandbox-api, raftbox://docs/limits and raftbox://docs/examples say what the sandbox offers.';

/**
 * What both lanes' servers declare: the tools, and the resources (resources.ts: documents, packages,
 * code mode's declarations, artifacts).
 */
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

/** The token's subject, which owns executions (undefined with auth off). */
export function subjectOf(authInfo: AuthInfo | undefined): string | undefined {
  const subject = authInfo?.extra?.subject;
  return typeof subject === 'string' ? subject : undefined;
}

/**
 * The legacy lane (2025-11-25 and older): a low-level v1 SDK `Server` with the tool handlers prebuilt. It
 * holds no per-client state, so one instance may serve many stateless HTTP requests in turn (see
 * mcpRoutes' pool). The 2026-07-28 lane is modern-server.ts.
 */
export function createMcpServer(domain: EdgeDomain, limits: EdgeLimits, logLevels: LogLevels): Server {
  const capabilities = { ...CAPABILITIES, tasks: LEGACY_TASKS_CAPABILITY, logging: {} };
  const server = new Server(SERVER_INFO, { capabilities, instructions: INSTRUCTIONS });
  const catalog = packageCatalog(domain);
  const caller = (extra: { signal: AbortSignal; authInfo?: AuthInfo }) => ({ subject: subjectOf(extra.authInfo), signal: extra.signal });
  // Kept per caller on this node (log-levels.ts), not by the SDK: a pooled server serves many callers.
  server.setRequestHandler(SetLevelRequestSchema, (req, extra) => {
    logLevels.set(subjectOf(extra.authInfo) ?? '', req.params.level);
    return {};
  });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: catalog.tools }));
  server.setRequestHandler(GetTaskRequestSchema, (req, extra) => legacyTasks.get(domain, req.params.taskId, caller(extra)));
  server.setRequestHandler(GetTaskPayloadRequestSchema, (req, extra) => legacyTasks.result(domain, limits, req.params.taskId, caller(extra)));
  server.setRequestHandler(ListTasksRequestSchema, (req, extra) => legacyTasks.list(domain, req.params?.cursor, caller(extra)));
  server.setRequestHandler(CancelTaskRequestSchema, (req, extra) => legacyTasks.cancel(domain, req.params.taskId, caller(extra)));
  server.setRequestHandler(ListResourcesRequestSchema, (_req, extra) => listResources(domain, callerOf(extra.authInfo)));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => listResourceTemplates());
  server.setRequestHandler(ReadResourceRequestSchema, async (req, extra) => {
    const answer = await readResource(domain, limits, callerOf(extra.authInfo), req.params.uri);
    if (!answer) throw resourceNotFound(req.params.uri);
    return answer;
  });
  server.setRequestHandler(CallToolRequestSchema, (req, extra) => {
    if (req.params.task) return legacyTasks.create(domain, limits, req.params, caller(extra));
    const progressToken = progressTokenOf(req.params);
    if (progressToken === undefined || req.params.name !== TASK_TOOL) return answerToolCall(domain, limits, req.params, extra);
    // Answered as a stream (the route gave this request an SSE transport): progress, console lines as log messages.
    const who = subjectOf(extra.authInfo) ?? '';
    return watchedRun(domain, limits, req.params.arguments, caller(extra), {
      progress: (progress, message) => extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress, message } }),
      console: async (line) => {
        const level = LOG_LEVEL_OF[line.level];
        if (logLevels.allows(who, level)) await extra.sendNotification({ method: 'notifications/message', params: { level, logger: 'console', data: line.text } });
      },
    });
  });
  return server;
}
