import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ConfigSchema } from '../../src/config/index.ts';
import { hashPassword } from '../../src/auth/index.ts';
import { startTestNode } from '../e2e/node.ts';
import { call } from '../e2e/mcp-tools.ts';

// The MCP edge over a real node: tool schemas, isError mapping, the stateless transport and the
// auth seam. The tools' behaviour (runs, sessions, cancel, output pages) is in test/e2e/mcp-http.test.ts.

const connect = async (url: string, headers: Record<string, string> = {}) => {
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', url), { requestInit: { headers } }));
  return client;
};

describe('MCP over Streamable HTTP (edge)', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  let client: Client;
  beforeAll(async () => {
    // One slot and no queue: a run holding the slot makes the next one overloaded.
    node = await startTestNode({ maxConcurrent: 1, maxQueue: 0 });
    client = await connect(node.url);
  });
  afterAll(async () => {
    await client.close();
    await node.stop();
  });

  it('lists the MCP-V8 tools, each with input and output schemas', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      ['cancel_execution', 'delete_session', 'get_execution', 'get_execution_output', 'get_session', 'get_usage', 'list_executions', 'list_packages', 'list_sessions', 'run_js'],
    );
    const run = tools.find((t) => t.name === 'run_js')!;
    expect(Object.keys(run.inputSchema.properties ?? {})).toEqual(
      expect.arrayContaining(['code', 'session', 'heap', 'heap_memory_max_mb', 'execution_timeout_secs', 'tags', 'async', 'language']),
    );
    for (const t of tools) expect(t.outputSchema?.type).toBe('object');
  });

  it('marks domain errors, bad arguments and overload as isError with the error code', async () => {
    const missing = await call(client, 'get_execution', { execution_id: 'nope' });
    expect(missing.isError).toBe(true);
    expect(missing.text).toMatch(/^not_found: /);
    const bad = await call(client, 'run_js', { code: 5 });
    expect(bad.isError).toBe(true);
    expect(bad.text).toMatch(/invalid arguments for run_js: code/);

    const holding = await call(client, 'run_js', { code: 'while (true) {}', async: true, execution_timeout_secs: 10 });
    const busy = await call(client, 'run_js', { code: '1' });
    expect(busy.isError).toBe(true);
    expect(busy.text).toMatch(/^overloaded: .*retry after \d+s/);
    expect((await call(client, 'cancel_execution', { execution_id: holding.out.execution_id })).out).toMatchObject({ status: 'cancelled' });
    const finished = await call(client, 'cancel_execution', { execution_id: holding.out.execution_id });
    expect(finished.isError).toBe(true);
    expect(finished.text).toMatch(/^conflict: /);

    await expect(client.callTool({ name: 'nope', arguments: {} })).rejects.toThrow(/unknown tool/);
  });

  it('answers JSON-RPC errors, never the REST error shape, for bodies it cannot take and unknown tools', async () => {
    const post = (body: string, type = 'application/json') =>
      fetch(node.url + '/mcp', { method: 'POST', headers: { 'content-type': type, accept: 'application/json, text/event-stream' }, body });
    const malformed = await post('{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(malformed.status).toBe(400);
    const parseError = (await malformed.json()) as { error: { message: string } };
    expect(parseError).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
    expect(parseError.error.message).toMatch(/^Parse error: /);
    const tooLarge = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(2 * 1024 * 1024) } }));
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000, message: expect.stringMatching(/larger than/) } });

    const unknown = await post(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'nope', arguments: {} } }));
    expect(await unknown.json()).toEqual({ jsonrpc: '2.0', id: 2, error: { code: -32602, message: 'unknown tool nope' } });
  });

  it('answers a batch with an array holding one answer per request, also when two share an id', async () => {
    const post = (body: unknown) =>
      fetch(node.url + '/mcp', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as unknown }));
    const run = (id: number, code: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'run_js', arguments: { code } } });
    const twins = await post([run(1, '"a"'), run(1, '"b"'), { jsonrpc: '2.0', method: 'notifications/initialized' }]);
    expect(twins.status).toBe(200);
    expect(twins.body).toEqual([
      expect.objectContaining({ id: 1, result: expect.objectContaining({ structuredContent: expect.objectContaining({ result: 'a' }) }) }),
      expect.objectContaining({ id: 1, result: expect.objectContaining({ structuredContent: expect.objectContaining({ result: 'b' }) }) }),
    ]);
    expect((await post([{ jsonrpc: '2.0', id: 3, method: 'ping' }])).body).toEqual([{ jsonrpc: '2.0', id: 3, result: {} }]);
    expect(await post([])).toMatchObject({ status: 400, body: { error: { code: -32600 } } });
  });

  it('answers tool arguments of the wrong type with -32602 and a plain message', async () => {
    const post = (params: unknown) =>
      fetch(node.url + '/mcp', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params }) }).then((r) => r.json());
    expect(await post({ name: 'run_js', arguments: ['x'] })).toEqual({
      jsonrpc: '2.0',
      id: 4,
      error: { code: -32602, message: 'Invalid params: params.arguments of run_js must be an object of named arguments' },
    });
    expect(await post({ name: 5 })).toMatchObject({ id: 4, error: { code: -32602, message: expect.stringMatching(/params.name must be/) } });
  });

  it('keeps no transport session: GET and DELETE /mcp are 405, any request works without a session id', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(node.url + '/mcp', { method, headers: { accept: 'text/event-stream' } });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
    }
    const res = await fetch(node.url + '/mcp', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'run_js', arguments: { code: '1+1' } } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toBeNull();
    expect(await res.json()).toMatchObject({ id: 7, result: { structuredContent: { result: 2 } } });
  });
});

describe('auth seam, built-in OAuth server', () => {
  // Two machine clients of the built-in server; a client_credentials token may narrow its scope.
  const SECRET = 'machine-secret-for-tests';
  let node: Awaited<ReturnType<typeof startTestNode>>;
  const tokens = new Map<string, string>();
  const bearer = async (client: 'alice' | 'bob', scope: string) => {
    const key = `${client} ${scope}`;
    if (!tokens.has(key)) {
      const res = await fetch(node.url + '/oauth/token', {
        method: 'POST',
        headers: { authorization: `Basic ${btoa(`${client}:${SECRET}`)}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
      });
      expect(res.status).toBe(200);
      tokens.set(key, ((await res.json()) as { access_token: string }).access_token);
    }
    return `Bearer ${tokens.get(key)!}`;
  };
  beforeAll(async () => {
    const hash = await hashPassword(SECRET);
    node = await startTestNode({ oauth: ConfigSchema.shape.oauth.parse({ enabled: true, clients: { alice: hash, bob: hash } }) });
  });
  afterAll(() => node.stop());

  it('guards REST by scope, and a run belongs to the subject that made it', async () => {
    expect((await fetch(node.url + '/api/executions')).status).toBe(401);
    const read = { authorization: await bearer('alice', 'raftbox:read'), 'content-type': 'application/json' };
    expect((await fetch(node.url + '/api/executions', { headers: read })).status).toBe(200);
    const refused = await fetch(node.url + '/api/exec', { method: 'POST', headers: read, body: '{"code":"1"}' });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toMatch(/insufficient_scope/);

    const run = { authorization: await bearer('alice', 'raftbox:run raftbox:read'), 'content-type': 'application/json' };
    const made = await fetch(node.url + '/api/exec?wait=5000', { method: 'POST', headers: run, body: '{"code":"1+1"}' });
    expect(made.status).toBe(200);
    const { execution_id } = (await made.json()) as { execution_id: string };
    expect((await fetch(`${node.url}/api/executions/${execution_id}`, { headers: read })).status).toBe(200);
    const other = { authorization: await bearer('bob', 'raftbox:read') };
    expect((await fetch(`${node.url}/api/executions/${execution_id}`, { headers: other })).status).toBe(404);
    const listed = (await (await fetch(`${node.url}/api/executions`, { headers: other })).json()) as { executions: unknown[] };
    expect(listed.executions).toEqual([]);
  });

  it('guards MCP tool calls by the tool\'s scope and hands the subject to the tools', async () => {
    const reader = await connect(node.url, { authorization: await bearer('bob', 'raftbox:read') });
    expect((await reader.listTools()).tools.length).toBe(10);
    await expect(reader.callTool({ name: 'run_js', arguments: { code: '1' } })).rejects.toThrow(/insufficient_scope/);
    await reader.close();

    const runner = await connect(node.url, { authorization: await bearer('bob', 'raftbox:run raftbox:read') });
    const id = (await call(runner, 'run_js', { code: '1+1' })).out.execution_id;
    expect((await call(runner, 'get_execution', { execution_id: id })).out).toMatchObject({ result: 2 });
    await runner.close();
    const alice = await connect(node.url, { authorization: await bearer('alice', 'raftbox:read') });
    expect(await call(alice, 'get_execution', { execution_id: id })).toMatchObject({ isError: true, text: expect.stringMatching(/^not_found: /) });
    await alice.close();
  });
});
