import { SUPPORTED_PROTOCOL_VERSIONS as LEGACY_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { ProtocolErrorCode, type JSONRPCMessage, type Transport } from '@modelcontextprotocol/server';

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
 * - the extensions raftbox declares;
 * - on stdio, the per-request check of the envelope after the opening message: the SDK's stdio entry
 *   checks the revision and `_meta` of the first request only, then passes everything through to the
 *   pinned server (`checkedStdio`).
 */

/** The modern revisions the v2 SDK serves (2.4 serves exactly this one; it does not export its list). */
export const MODERN_VERSIONS: readonly string[] = ['2026-07-28'];
export const LEGACY_REVISIONS: readonly string[] = LEGACY_VERSIONS;
/** Newest first, as `server/discover` lists them. */
export const SERVED_VERSIONS: readonly string[] = [...MODERN_VERSIONS, ...LEGACY_REVISIONS];

/**
 * How long a client or a shared cache may keep raftbox's tool list, packages resource and discovery answer. The tools are
 * the same for every caller (access is checked per call, by scope), so `public`; they change only with a
 * new raftbox version, and five minutes bounds how long a rolling upgrade shows the old list.
 */
export const LIST_TTL_MS = 300_000;
export const CACHE_HINTS = {
  'server/discover': { ttlMs: LIST_TTL_MS, cacheScope: 'public' },
  'tools/list': { ttlMs: LIST_TTL_MS, cacheScope: 'public' },
  // The packages resource: a node's package set is fixed at start, like its tools.
  'resources/list': { ttlMs: LIST_TTL_MS, cacheScope: 'public' },
  'resources/read': { ttlMs: LIST_TTL_MS, cacheScope: 'public' },
} as const;

/**
 * Extensions raftbox supports, declared under `capabilities.extensions` (2026-07-28 extension
 * negotiation): identifier → settings. The Tasks extension (SEP-2663, src/mcp/tasks.ts) has none.
 */
export const EXTENSIONS: Record<string, Record<string, never>> = { 'io.modelcontextprotocol/tasks': {} };

/**
 * A modern-lane answer with every served revision in it: the `supportedVersions` of a `server/discover`
 * result (the only result with that field) and the `supported` list of an UnsupportedProtocolVersionError.
 * Anything else passes untouched.
 */
export function withServedVersions<T>(message: T): T {
  const m = message as { result?: { supportedVersions?: unknown }; error?: { code?: unknown; data?: { supported?: unknown } } };
  if (Array.isArray(m?.result?.supportedVersions)) {
    return { ...m, result: { ...m.result, supportedVersions: [...SERVED_VERSIONS] } } as T;
  }
  if (m?.error?.code === ProtocolErrorCode.UnsupportedProtocolVersion && Array.isArray(m.error.data?.supported)) {
    return { ...m, error: { ...m.error, data: { ...m.error.data, supported: [...SERVED_VERSIONS] } } } as T;
  }
  return message;
}

const VERSION_KEY = 'io.modelcontextprotocol/protocolVersion';
export const CAPABILITIES_KEY = 'io.modelcontextprotocol/clientCapabilities';

/**
 * Why a request that claims a revision in its `_meta` cannot be served: an unserved revision (-32022) or
 * an envelope without its required client capabilities (-32602). Undefined for a request without a claim
 * (legacy traffic) or with a sound one.
 */
export function envelopeRefusal(message: JSONRPCMessage): { code: number; message: string; data?: unknown } | undefined {
  if (!('method' in message) || !('id' in message)) return undefined;
  const meta = (message.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
  if (!meta || !(VERSION_KEY in meta)) return undefined;
  const requested = meta[VERSION_KEY];
  if (typeof requested !== 'string' || !MODERN_VERSIONS.includes(requested)) {
    return { code: ProtocolErrorCode.UnsupportedProtocolVersion, message: `Unsupported protocol version: ${String(requested)}`, data: { supported: [...SERVED_VERSIONS], requested: String(requested) } };
  }
  const capabilities = meta[CAPABILITIES_KEY];
  if (typeof capabilities !== 'object' || capabilities === null || Array.isArray(capabilities)) {
    return { code: ProtocolErrorCode.InvalidParams, message: `Invalid _meta envelope for protocol revision ${requested}: ${CAPABILITIES_KEY}: missing` };
  }
  return undefined;
}

/**
 * The stdio transport as raftbox hands it to the SDK's stdio entry: every request that claims a revision
 * is checked (`envelopeRefusal`) and answered here when it cannot be served, and discovery answers list
 * every served revision. The entry installs its own `onmessage`; the check sits in front of it.
 */
export function checkedStdio(transport: Transport): Transport {
  let deliver: Transport['onmessage'];
  Object.defineProperty(transport, 'onmessage', {
    configurable: true,
    get: () => deliver && ((message: JSONRPCMessage, extra?: unknown) => {
      const refusal = envelopeRefusal(message);
      if (!refusal) return deliver!(message, extra as never);
      void transport.send({ jsonrpc: '2.0', id: (message as { id: string | number }).id, error: refusal }).catch(() => {});
    }),
    set: (fn: Transport['onmessage']) => (deliver = fn),
  });
  const send = transport.send.bind(transport);
  transport.send = (message, options) => send(withServedVersions(message), options);
  return transport;
}
