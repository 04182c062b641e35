/**
 * Per-request cost of the MCP SDK edge, in process and without HTTP: one no-op `tools/call` through
 *   - v1 (`@modelcontextprotocol/sdk` 1.32): a pooled low-level Server on the web-standard transport with
 *     JSON answers, the 2025-11-25 path raftbox used before 2026-07-28 (src/mcp/http.ts before #14);
 *   - v2 legacy (`@modelcontextprotocol/server` 2.x): the same shape on the v2 packages;
 *   - v2 modern: `createMcpHandler` answering a 2026-07-28 request (per-request `_meta`, routing headers),
 *     a new Server per request as the handler expects.
 * Rounds are interleaved so machine noise hits every variant alike. Prints calls/s per round and the median.
 *
 *   node --no-node-snapshot bench/mcp-sdk.ts [--calls 3000] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { Server as ServerV1 } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport as TransportV1 } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Server as ServerV2, WebStandardStreamableHTTPServerTransport as TransportV2, createMcpHandler } from '@modelcontextprotocol/server';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '3000' }, rounds: { type: 'string', default: '5' } } });
const calls = Number(values.calls);
const rounds = Number(values.rounds);

const tools = [{ name: 'noop', inputSchema: { type: 'object' as const, properties: {} } }];
const result = { content: [{ type: 'text' as const, text: '2' }] };
const info = { name: 'bench', version: '1' };
const accept = 'application/json, text/event-stream';

function v1Server(): ServerV1 {
  const s = new ServerV1(info, { capabilities: { tools: {} } });
  s.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
  s.setRequestHandler(CallToolRequestSchema, () => result);
  return s;
}
function v2Server(): ServerV2 {
  const s = new ServerV2(info, { capabilities: { tools: {} } });
  s.setRequestHandler('tools/list', () => ({ tools }));
  s.setRequestHandler('tools/call', () => result);
  return s;
}

const legacyBody = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'noop', arguments: {} } };
const legacyRequest = () =>
  new Request('http://localhost/mcp', { method: 'POST', headers: { 'content-type': 'application/json', accept, 'mcp-protocol-version': '2025-11-25' } });

type Pooled = { connect(t: unknown): Promise<void>; close(): Promise<void> };
/** The pooled shape of src/mcp/http.ts: take a server, connect a fresh JSON transport, answer, give it back. */
function pooled<S extends Pooled>(make: () => S, transport: () => { handleRequest(r: Request, o: object): Promise<Response> }) {
  const pool: S[] = [];
  return async () => {
    const server = pool.pop() ?? make();
    const t = transport();
    await server.connect(t);
    const res = await t.handleRequest(legacyRequest(), { parsedBody: legacyBody });
    await res.text();
    await server.close();
    pool.push(server);
  };
}

const meta = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const modernBody = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'noop', arguments: {}, _meta: meta } });
const modern = createMcpHandler(() => v2Server(), { legacy: 'reject', responseMode: 'json' });
const modernCall = async () => {
  const res = await modern.fetch(
    new Request('http://localhost/mcp', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'noop' },
      body: modernBody,
    }),
  );
  const text = await res.text();
  if (res.status !== 200) throw new Error(`modern call: ${res.status} ${text}`);
};

const variants: Array<[string, () => Promise<void>]> = [
  ['v1 1.32, 2025-11-25, pooled', pooled(v1Server, () => new TransportV1({ sessionIdGenerator: undefined, enableJsonResponse: true }))],
  ['v2 2.4, 2025-11-25, pooled', pooled(v2Server, () => new TransportV2({ sessionIdGenerator: undefined, enableJsonResponse: true }))],
  ['v2 2.4, 2026-07-28, createMcpHandler', modernCall],
];

const seen = new Map<string, number[]>();
for (const [, run] of variants) for (let i = 0; i < 200; i++) await run(); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const [name, run] of variants) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) await run();
    const rate = calls / ((performance.now() - t0) / 1000);
    seen.set(name, [...(seen.get(name) ?? []), rate]);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [name, rates] of seen) {
  console.log(`${name.padEnd(40)} median ${Math.round(median(rates))} calls/s (${rates.map((x) => Math.round(x)).join(', ')}); ${(1e6 / median(rates)).toFixed(0)} µs/call`);
}
await modern.close();
