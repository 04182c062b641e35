/** 2026-07-28 on the wire, as the specification's examples send it: no handshake, `_meta` on every request, routing headers. */

export const MODERN = '2026-07-28';

export const envelope = (extra: Record<string, unknown> = {}) => ({
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientInfo': { name: 'ExampleClient', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {},
  ...extra,
});

export interface WireAnswer {
  status: number;
  headers: Headers;
  json: any; // answers are checked field by field
}

let nextId = 1;

/**
 * One POST /mcp: `Mcp-Method` from the body's method and `Mcp-Name` from `params.name` unless `headers`
 * says otherwise (a header set to null is left out).
 */
export async function modernPost(
  base: string,
  method: string,
  params: Record<string, unknown> = {},
  headers: Record<string, string | null> = {},
): Promise<WireAnswer> {
  const body = { jsonrpc: '2.0', id: nextId++, method, params: { ...params, _meta: { ...envelope(), ...(params._meta as object) } } };
  const sent: Record<string, string | null> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN,
    'mcp-method': method,
    ...(typeof params.name === 'string' ? { 'mcp-name': params.name } : {}),
    ...headers,
  };
  const res = await fetch(new URL('/mcp', base), {
    method: 'POST',
    headers: Object.fromEntries(Object.entries(sent).filter((e): e is [string, string] => e[1] !== null)),
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
}
