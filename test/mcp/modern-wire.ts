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

export type Lane = 'legacy' | 'modern';

/**
 * One JSON-RPC message POSTed in either lane: 2025-11-25 as it is, 2026-07-28 with the envelope in
 * its `_meta` and the routing headers. `headers` are added (say, a bearer token).
 */
export function lanePost(base: string, lane: Lane, message: Record<string, unknown>, opts: { signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<Response> {
  const method = message.method as string;
  const params = (message.params ?? {}) as Record<string, unknown>;
  const modern = lane === 'modern';
  const body = modern ? { ...message, params: { ...params, _meta: { ...envelope(), ...(params._meta as object) } } } : message;
  return fetch(new URL('/mcp', base), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': modern ? MODERN : '2025-11-25',
      ...(modern ? { 'mcp-method': method, ...(typeof params.name === 'string' ? { 'mcp-name': params.name } : {}) } : {}),
      ...opts.headers,
    },
    body: JSON.stringify(body),
    signal: opts.signal ?? AbortSignal.timeout(30_000),
  });
}

/** The JSON-RPC messages of an event stream answer, as they arrive (`data:` lines; comments skipped). */
export async function* sseMessages(res: Response): AsyncGenerator<any> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const frame = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (data) yield JSON.parse(data);
    }
  }
}
