import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { startTestNode } from '../e2e/node.ts';
import { MODERN, envelope, modernPost } from './modern-wire.ts';

// MCP 2026-07-28 on one real node, as the specification's examples send it: no initialize, the
// envelope in every request's _meta, routing headers on every POST. The older revisions on the same
// endpoint are test/mcp/mcp-http.test.ts and test/e2e/mcp-http.test.ts (the v1 SDK client).

const SERVED = ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'];

let node: Awaited<ReturnType<typeof startTestNode>>;
beforeAll(async () => {
  node = await startTestNode();
});
afterAll(() => node?.stop());

describe('MCP 2026-07-28 on one node', () => {
  it('answers server/discover with every served revision, the capabilities, the identity and caching hints', async () => {
    const { status, json } = await modernPost(node.url, 'server/discover');
    expect(status).toBe(200);
    expect(json.result).toMatchObject({
      resultType: 'complete',
      supportedVersions: SERVED,
      capabilities: { tools: { listChanged: false } },
      instructions: expect.stringContaining('run_js'),
      ttlMs: 300_000,
      cacheScope: 'public',
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'raftbox', version: expect.any(String) } },
    });
  });

  it('lists the same tools as the older revisions, cacheable (ttlMs, public)', async () => {
    const { json } = await modernPost(node.url, 'tools/list');
    expect(json.result).toMatchObject({ resultType: 'complete', ttlMs: 300_000, cacheScope: 'public' });
    const legacy = new ClientV1({ name: 'v1', version: '1' });
    await legacy.connect(new TransportV1(new URL('/mcp', node.url)));
    expect(json.result.tools).toEqual((await legacy.listTools()).tools);
    await legacy.close();
  });

  it('calls a tool with routing headers and no handshake; a session continues across requests', async () => {
    const first = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: 'let n = 40; n + 1', session: 'modern' } });
    expect(first.status).toBe(200);
    expect(first.json.result).toMatchObject({ resultType: 'complete', structuredContent: { status: 'completed', result: 41 } });
    expect(first.json.result.isError).toBeUndefined();
    const next = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: 'n + 2', session: 'modern' } });
    expect(next.json.result.structuredContent).toMatchObject({ result: 42, step: 2 });
    // Tool errors stay tool results; unknown tools stay -32602.
    const bad = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: 5 } });
    expect(bad.json.result).toMatchObject({ isError: true, resultType: 'complete' });
    expect((await modernPost(node.url, 'tools/call', { name: 'nope', arguments: {} })).json.error).toMatchObject({ code: -32602, message: 'unknown tool nope' });
  });

  it('refuses a request whose routing headers do not match its body with 400 HeaderMismatch (-32020)', async () => {
    const wrongMethod = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: '1' } }, { 'mcp-method': 'tools/list' });
    expect(wrongMethod.status).toBe(400);
    expect(wrongMethod.json.error).toMatchObject({ code: -32020, message: expect.stringMatching(/Mcp-Method/) });
    const wrongName = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: '1' } }, { 'mcp-name': 'get_session' });
    expect([wrongName.status, wrongName.json.error.code]).toEqual([400, -32020]);
    const noName = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: '1' } }, { 'mcp-name': null });
    expect([noName.status, noName.json.error.code]).toEqual([400, -32020]);
    const noMethod = await modernPost(node.url, 'tools/list', {}, { 'mcp-method': null });
    expect([noMethod.status, noMethod.json.error.code]).toEqual([400, -32020]);
    const versionDisagrees = await modernPost(node.url, 'tools/list', {}, { 'mcp-protocol-version': '2025-11-25' });
    expect([versionDisagrees.status, versionDisagrees.json.error.code]).toEqual([400, -32020]);
    // A name outside the header-safe set travels Base64-encoded and is decoded before the comparison.
    const encoded = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: '3' } }, { 'mcp-name': `=?base64?${Buffer.from('run_js').toString('base64')}?=` });
    expect(encoded.json.result.structuredContent.result).toBe(3);
  });

  it('answers an unsupported revision with -32022 listing what it serves, a missing envelope field with -32602', async () => {
    const future = await modernPost(node.url, 'tools/list', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } }, { 'mcp-protocol-version': '2099-01-01' });
    expect(future.status).toBe(400);
    expect(future.json.error).toMatchObject({ code: -32022, data: { supported: SERVED, requested: '2099-01-01' } });
    const noCapabilities = await modernPost(node.url, 'tools/list', { _meta: { 'io.modelcontextprotocol/clientCapabilities': undefined } });
    expect(noCapabilities.status).toBe(400);
    expect(noCapabilities.json.error).toMatchObject({ code: -32602, message: expect.stringMatching(/clientCapabilities/) });
  });

  it('has no ping or logging/setLevel (removed in 2026-07-28), nor prompts: 404 with -32601', async () => {
    for (const method of ['ping', 'logging/setLevel', 'prompts/list']) {
      const { status, json } = await modernPost(node.url, method, method === 'logging/setLevel' ? { level: 'info' } : {});
      expect([method, status, json.error.code]).toEqual([method, 404, -32601]);
    }
  });

  it('keeps no session: an Mcp-Session-Id is ignored and none is minted; GET stays 405', async () => {
    const res = await modernPost(node.url, 'tools/list', {}, { 'mcp-session-id': 'left-over-from-2025' });
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toBeNull();
    expect((await fetch(new URL('/mcp', node.url))).status).toBe(405);
  });

  it('acknowledges subscriptions/listen with nothing to announce (the tool list never changes) and holds the stream', async () => {
    const aborted = new AbortController();
    const res = await fetch(new URL('/mcp', node.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'subscriptions/listen' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'listen-1', method: 'subscriptions/listen', params: { _meta: envelope(), notifications: { toolsListChanged: true, promptsListChanged: true } } }),
      signal: aborted.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    const ack = JSON.parse(text.split('\n').find((l) => l.startsWith('data: '))!.slice(6));
    expect(ack).toEqual({
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { notifications: {}, _meta: { 'io.modelcontextprotocol/subscriptionId': 'listen-1' } },
    });
    aborted.abort();
  });

  it('serves the v2 SDK client pinned to 2026-07-28', async () => {
    const client = new Client({ name: 'v2', version: '1' }, { versionNegotiation: { mode: { pin: MODERN } } });
    await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', node.url)));
    expect(client.getServerVersion()).toMatchObject({ name: 'raftbox' });
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('run_js');
    const res = await client.callTool({ name: 'run_js', arguments: { code: '6 * 7' } });
    expect(res.structuredContent).toMatchObject({ result: 42 });
    await client.close();
  });

  it('still serves the v1 1.32 client on 2025-11-25 (initialize, no _meta)', async () => {
    const transport = new TransportV1(new URL('/mcp', node.url));
    const client = new ClientV1({ name: 'v1', version: '1' });
    await client.connect(transport);
    expect(transport.protocolVersion).toBe('2025-11-25');
    expect((await client.callTool({ name: 'run_js', arguments: { code: '1+1' } })).structuredContent).toMatchObject({ result: 2 });
    await client.close();
  });
});
