// The two stateless workloads of the HTTP benchmarks: `run_js` over MCP and `POST /api/exec` over REST.

export interface Target {
  name: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  ok: (body: string) => boolean;
}

export const targets: Target[] = [
  {
    name: 'MCP tools/call run_js `1+1`',
    path: '/mcp',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'run_js', arguments: { code: '1+1' } } }),
    ok: (b) => JSON.parse(b).result?.structuredContent?.result === 2,
  },
  {
    name: 'REST POST /api/exec?wait=5000 `1+1`',
    path: '/api/exec?wait=5000',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: '1+1' }),
    ok: (b) => JSON.parse(b).result === 2,
  },
];
