import { ResourceNotFoundError, Server, type ListResourcesResult, type ListToolsResult } from '@modelcontextprotocol/server';
import type { EdgeDomain } from '../api/domain.ts';
import type { EdgeLimits } from '../api/operations.ts';
import { packageCatalog } from './package-catalog.ts';
import { CACHE_HINTS, EXTENSIONS, SERVED_VERSIONS } from './revision-2026-07-28.ts';
import { CAPABILITIES, INSTRUCTIONS, SERVER_INFO, answerToolCall } from './server.ts';
import { listResources, readResource } from './resources.ts';
import { callerOf } from './tool-resources.ts';

/**
 * The modern lane (2026-07-28): a v2 SDK `Server` with the same tools and resources as the legacy lane's
 * v1 `Server`. The SDK answers `server/discover` from these capabilities, adds `resultType` and the
 * server's identity to every result and the caching hints to the list results. On stdio the same server
 * also answers an `initialize` (the v2 SDK serves both eras there), so stdio needs no second lane.
 */
export function createModernServer(domain: EdgeDomain, limits: EdgeLimits): Server {
  const catalog = packageCatalog(domain);
  // The legacy lane's lists, typed for v2: the same JSON, but v1 types schema properties as `object`, v2 as JSON values.
  const tools = { tools: catalog.tools } as unknown as ListToolsResult;
  const server = new Server(SERVER_INFO, {
    capabilities: { ...CAPABILITIES, ...(Object.keys(EXTENSIONS).length ? { extensions: EXTENSIONS } : {}) },
    instructions: INSTRUCTIONS,
    cacheHints: CACHE_HINTS,
    // The v2 SDK serves the modern era only for revisions listed here (its default lists the legacy ones).
    supportedProtocolVersions: [...SERVED_VERSIONS],
  });
  server.setRequestHandler('tools/list', () => tools);
  server.setRequestHandler('tools/call', (req, ctx) => answerToolCall(domain, limits, req.params, { signal: ctx.mcpReq.signal, authInfo: ctx.http?.authInfo }));
  server.setRequestHandler('resources/list', async (_req, ctx) => (await listResources(domain, callerOf(ctx.http?.authInfo))) as ListResourcesResult);
  server.setRequestHandler('resources/read', async (req, ctx) => {
    const answer = await readResource(domain, callerOf(ctx.http?.authInfo), req.params.uri);
    if (!answer) throw new ResourceNotFoundError(req.params.uri);
    return answer;
  });
  return server;
}
