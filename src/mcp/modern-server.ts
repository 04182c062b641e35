import { Server, type ListToolsResult } from '@modelcontextprotocol/server';
import type { EdgeDomain } from '../api/domain.ts';
import type { EdgeLimits } from '../api/operations.ts';
import { CACHE_HINTS, EXTENSIONS, SERVED_VERSIONS } from './revision-2026-07-28.ts';
import { INSTRUCTIONS, SERVER_INFO, answerToolCall, capabilitiesOf, listResult } from './server.ts';
import { callerOf, listToolResources, readToolResource } from './tool-resources.ts';

/**
 * The modern lane (2026-07-28): a v2 SDK `Server` with the same tools as the legacy lane's v1 `Server`.
 * The SDK answers `server/discover` from these capabilities, adds `resultType` and the server's identity
 * to every result and the caching hints to `tools/list`. On stdio the same server also answers an
 * `initialize` (the v2 SDK serves both eras there), so stdio needs no second lane.
 */
export function createModernServer(domain: EdgeDomain, limits: EdgeLimits): Server {
  // The legacy lane's list, typed for v2: the same JSON, but v1 types schema properties as `object`, v2 as JSON values.
  const list = listResult(domain) as unknown as ListToolsResult;
  const server = new Server(SERVER_INFO, {
    capabilities: { ...capabilitiesOf(domain), ...(Object.keys(EXTENSIONS).length ? { extensions: EXTENSIONS } : {}) },
    instructions: INSTRUCTIONS,
    cacheHints: CACHE_HINTS,
    // The v2 SDK serves the modern era only for revisions listed here (its default lists the legacy ones).
    supportedProtocolVersions: [...SERVED_VERSIONS],
  });
  server.setRequestHandler('tools/list', () => list);
  server.setRequestHandler('tools/call', (req, ctx) => answerToolCall(domain, limits, req.params, { signal: ctx.mcpReq.signal, authInfo: ctx.http?.authInfo }));
  if (domain.tools) {
    server.setRequestHandler('resources/list', (_req, ctx) => listToolResources(domain, callerOf(ctx.http?.authInfo)));
    server.setRequestHandler('resources/read', (req, ctx) => readToolResource(domain, callerOf(ctx.http?.authInfo), req.params.uri));
  }
  return server;
}
