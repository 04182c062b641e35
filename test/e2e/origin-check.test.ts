// What the MCP conformance suite's dns-rebinding-protection scenario checks, for /mcp and the REST
// edge alike (a text/plain POST to /api/exec is a script a foreign page could send cross-site).
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode } from './node.ts';

let node: Awaited<ReturnType<typeof startTestNode>>;
beforeAll(async () => {
  node = await startTestNode({ maxConcurrent: 1 });
});
afterAll(() => node.stop());

const INITIALIZE = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });

/** A POST with exactly these Host/Origin headers (fetch does not let a caller set Host). */
function post(path: string, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${node.url}${path}`, { method: 'POST', headers: { accept: 'application/json, text/event-stream', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('a node listening on loopback', () => {
  it('refuses a rebound Host or a foreign Origin with 403, on /mcp and /api', async () => {
    const json = { 'content-type': 'application/json' };
    expect(await post('/mcp', { ...json, host: 'evil.example.com', origin: 'http://evil.example.com' }, INITIALIZE)).toBe(403);
    expect(await post('/mcp', { ...json, host: `localhost:${node.port}`, origin: 'http://evil.example.com' }, INITIALIZE)).toBe(403);
    expect(await post('/api/exec', { 'content-type': 'text/plain', host: 'evil.example.com' }, '1')).toBe(403);
    expect(await post('/api/exec', { 'content-type': 'text/plain', host: `127.0.0.1:${node.port}`, origin: 'null' }, '1')).toBe(403);
  });

  it('serves loopback names, same-origin and loopback origins', async () => {
    const json = { 'content-type': 'application/json' };
    expect(await post('/mcp', { ...json, host: `localhost:${node.port}`, origin: `http://localhost:${node.port}` }, INITIALIZE)).toBe(200);
    expect(await post('/mcp', { ...json, host: `[::1]:${node.port}`, origin: 'http://127.0.0.1:6274' }, INITIALIZE)).toBe(200);
    expect(await post('/api/exec?wait=10000', { 'content-type': 'text/plain', host: `127.0.0.1:${node.port}` }, '1')).toBe(200);
  });
});

describe('CORS (--cors-origins)', () => {
  const APP = 'https://app.example.com';
  let open: Awaited<ReturnType<typeof startTestNode>>;
  beforeAll(async () => {
    open = await startTestNode({ corsOrigins: [APP] });
  });
  afterAll(() => open.stop());

  const preflight = (base: string, path: string, origin: string) =>
    fetch(`${base}${path}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization, mcp-protocol-version' } });

  it('answers a preflight from a listed origin with what the request may send', async () => {
    const res = await preflight(open.url, '/mcp', APP);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-methods')).toBe('POST');
    expect(res.headers.get('access-control-allow-headers')).toMatch(/Authorization.*Content-Type.*Mcp-Protocol-Version/);
    expect(res.headers.get('vary')).toMatch(/Origin/);
    expect((await preflight(open.url, '/api/exec', APP)).headers.get('access-control-allow-methods')).toBe('GET, POST, DELETE');
  });

  it('lets a listed origin call /mcp and read the answer; any other origin gets no CORS headers and a 403', async () => {
    const ok = await fetch(`${open.url}/mcp`, { method: 'POST', headers: { origin: APP, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: INITIALIZE });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(APP);
    expect(ok.headers.get('access-control-expose-headers')).toMatch(/Mcp-Session-Id.*WWW-Authenticate/);
    const other = await preflight(open.url, '/mcp', 'https://evil.example.com');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const foreign = await fetch(`${open.url}/mcp`, { method: 'POST', headers: { origin: 'https://evil.example.com', 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: INITIALIZE });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('sends no CORS headers by default, and OPTIONS /mcp allows what the route serves', async () => {
    const res = await preflight(node.url, '/mcp', APP);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const options = await fetch(`${node.url}/mcp`, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe('OPTIONS, POST');
  });
});
