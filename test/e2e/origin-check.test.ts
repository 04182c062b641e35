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
