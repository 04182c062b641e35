import { z } from 'zod';
import { ResourceNotFoundError, Server, type CallToolResult, type ListResourcesResult, type ListToolsResult } from '@modelcontextprotocol/server';
import type { EdgeDomain } from '../api/domain.ts';
import type { EdgeLimits } from '../api/operations.ts';
import { packageCatalog } from './package-catalog.ts';
import { CACHE_HINTS, CAPABILITIES_KEY, EXTENSIONS, SERVED_VERSIONS } from './revision-2026-07-28.ts';
import { listResources, listResourceTemplates, readResource } from './resources.ts';
import { CAPABILITIES, INSTRUCTIONS, SERVER_INFO, answerToolCall, subjectOf } from './server.ts';
import { LOG_LEVEL_OF, progressTokenOf, watchedRun } from './progress.ts';
import { declaresTasks, missingTasksCapability, modernTasks } from './tasks.ts';
import { callerOf } from './tool-resources.ts';
import { TASK_TOOL } from './tools.ts';

/**
 * The modern lane (2026-07-28): a v2 SDK `Server` with the same tools and resources as the legacy lane's
 * v1 `Server`. The SDK answers `server/discover` from these capabilities, adds `resultType` and the
 * server's identity to every result and the caching hints to the list results. On stdio the same server
 * also answers an `initialize` (the v2 SDK serves both eras there), so stdio needs no second lane.
 */
export function createModernServer(domain: EdgeDomain, limits: EdgeLimits): Server {
  // The legacy lane's list, typed for v2 (v1 types schema properties as `object`, v2 as JSON values),
  // without `execution.taskSupport`: 2026-07-28 tasks are server-directed (SEP-2663), not per tool.
  const tools = { tools: packageCatalog(domain).tools.map(({ execution: _execution, ...tool }) => tool) } as unknown as ListToolsResult;
  const server = new Server(SERVER_INFO, {
    // `logging`: console lines of a streamed run go out as log messages, at the request's own `logLevel`
    // (2026-07-28 deprecates logging but keeps it working; stdio's legacy clients set a level as before).
    capabilities: { ...CAPABILITIES, logging: {}, ...(Object.keys(EXTENSIONS).length ? { extensions: EXTENSIONS } : {}) },
    instructions: INSTRUCTIONS,
    cacheHints: CACHE_HINTS,
    // The v2 SDK serves the modern era only for revisions listed here (its default lists the legacy ones).
    supportedProtocolVersions: [...SERVED_VERSIONS],
  });
  server.setRequestHandler('tools/list', () => tools);
  server.setRequestHandler('resources/list', async (_req, ctx) => (await listResources(domain, callerOf(ctx.http?.authInfo))) as ListResourcesResult);
  server.setRequestHandler('resources/templates/list', () => listResourceTemplates());
  server.setRequestHandler('resources/read', async (req, ctx) => {
    const answer = await readResource(domain, limits, callerOf(ctx.http?.authInfo), req.params.uri);
    if (!answer) throw new ResourceNotFoundError(req.params.uri);
    return answer;
  });
  const caller = (ctx: { mcpReq: { signal: AbortSignal }; http?: { authInfo?: import('@modelcontextprotocol/sdk/server/auth/types.js').AuthInfo } }) => ({
    subject: subjectOf(ctx.http?.authInfo),
    signal: ctx.mcpReq.signal,
  });
  server.setRequestHandler('tools/call', (req, ctx) => {
    // A client that declared the tasks extension may get a task handle for a run that takes a while.
    if (req.params.name === TASK_TOOL && declaresTasks((ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CAPABILITIES_KEY])) {
      return modernTasks.call(domain, limits, req.params.arguments, caller(ctx)) as Promise<CallToolResult>;
    }
    const progressToken = progressTokenOf(req.params);
    if (req.params.name === TASK_TOOL && progressToken !== undefined) {
      // Streamed by the SDK (an SSE answer): progress, and the console as log messages, which 2026-07-28
      // filters by the request's own `logLevel` (logging is deprecated there, not gone).
      return watchedRun(domain, limits, req.params.arguments, caller(ctx), {
        progress: (progress, message) => ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken, progress, message } }),
        console: (line) => ctx.mcpReq.log(LOG_LEVEL_OF[line.level], line.text, 'console'),
      }) as Promise<CallToolResult>;
    }
    return answerToolCall(domain, limits, req.params, { signal: ctx.mcpReq.signal, authInfo: ctx.http?.authInfo });
  });
  const byTaskId = { params: z.looseObject({ taskId: z.string() }) };
  // The tasks methods are the extension's: a client that did not declare it gets -32021 (SEP-2663).
  const forTasks = (ctx: Parameters<typeof caller>[0] & { mcpReq: { envelope?: unknown } }) => {
    if (!declaresTasks((ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CAPABILITIES_KEY])) throw missingTasksCapability();
    return caller(ctx);
  };
  server.setRequestHandler('tasks/get', byTaskId, (params, ctx) => modernTasks.get(domain, params.taskId, forTasks(ctx)));
  server.setRequestHandler('tasks/update', byTaskId, (params, ctx) => modernTasks.update(domain, params.taskId, forTasks(ctx)));
  server.setRequestHandler('tasks/cancel', byTaskId, (params, ctx) => modernTasks.cancel(domain, params.taskId, forTasks(ctx)));
  return server;
}
