import { SUPPORTED_PROTOCOL_VERSIONS as LEGACY_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { ProtocolErrorCode } from '@modelcontextprotocol/server';

/**
 * What raftbox adds to the SDK to serve MCP 2026-07-28. The v2 SDK (`@modelcontextprotocol/server` 2.4)
 * does the revision itself — the per-request `_meta` envelope, `server/discover`, the `Mcp-Method` /
 * `Mcp-Name` checks (-32020), `resultType`, `ttlMs`/`cacheScope`, -32021/-32022, `subscriptions/listen`,
 * no `ping`/`logging/setLevel` — but it only knows its own modern lane. raftbox serves both eras on one
 * endpoint, so this module says what a dual-era server adds, and shrinks as the SDK learns it:
 *
 * - the revisions raftbox serves: the modern ones of the v2 SDK and the legacy ones of the v1 SDK
 *   (2025-11-25 and older, answered by the v1 `Server` unchanged). The SDK's `server/discover` and its
 *   UnsupportedProtocolVersionError list only the modern ones; `withServedVersions` lists them all, as the
 *   specification's own dual-era example does (`"supported": ["2026-07-28", "2025-11-25"]`);
 * - the caching hints of raftbox's cacheable results (the SDK's default is `ttlMs: 0, private`);
 * - the extensions raftbox declares.
 */

/** The modern revisions the v2 SDK serves (2.4 serves exactly this one; it does not export its list). */
export const MODERN_VERSIONS: readonly string[] = ['2026-07-28'];
export const LEGACY_REVISIONS: readonly string[] = LEGACY_VERSIONS;
/** Newest first, as `server/discover` lists them. */
export const SERVED_VERSIONS: readonly string[] = [...MODERN_VERSIONS, ...LEGACY_REVISIONS];

/**
 * How long a client or a shared cache may keep raftbox's tool list and discovery answer. The tools are
 * the same for every caller (access is checked per call, by scope), so `public`; they change only with a
 * new raftbox version, and five minutes bounds how long a rolling upgrade shows the old list.
 */
export const LIST_TTL_MS = 300_000;
export const CACHE_HINTS = {
  'server/discover': { ttlMs: LIST_TTL_MS, cacheScope: 'public' },
  'tools/list': { ttlMs: LIST_TTL_MS, cacheScope: 'public' },
} as const;

/**
 * Extensions raftbox supports, declared under `capabilities.extensions` (2026-07-28 extension
 * negotiation): identifier → settings. Empty today; the Tasks extension (`io.modelcontextprotocol/tasks`)
 * is declared here once the modern lane serves it.
 */
export const EXTENSIONS: Record<string, Record<string, never>> = {};

/**
 * A modern-lane answer with every served revision in it: the `supportedVersions` of a `server/discover`
 * result and the `supported` list of an UnsupportedProtocolVersionError. Anything else passes untouched.
 */
export function withServedVersions(method: string | undefined, message: unknown): unknown {
  const m = message as { result?: { supportedVersions?: unknown }; error?: { code?: unknown; data?: { supported?: unknown } } };
  if (method === 'server/discover' && Array.isArray(m?.result?.supportedVersions)) {
    return { ...m, result: { ...m.result, supportedVersions: [...SERVED_VERSIONS] } };
  }
  if (m?.error?.code === ProtocolErrorCode.UnsupportedProtocolVersion && Array.isArray(m.error.data?.supported)) {
    return { ...m, error: { ...m.error, data: { ...m.error.data, supported: [...SERVED_VERSIONS] } } };
  }
  return message;
}
