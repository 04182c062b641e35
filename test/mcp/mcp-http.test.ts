import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Koa from 'koa';
import pino from 'pino';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ConfigSchema } from '../../src/config/index.ts';
import { startNode, type NodeHandle } from '../../src/server.ts';
import type { AuthGate } from '../../src/http/index.ts';
import { fakeDomain, startFakeNode } from '../api/fake-domain.ts';

const connect = async (url: string, headers: Record<string, string> = {}) => {
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', url), { requestInit: { headers } }));
  return client;
};

describe('MCP over Streamable HTTP (edge, fake domain)', () => {
  let node: Awaited<ReturnType<typeof startFakeNode>>;
  let client: Client;
  beforeAll(async () => {
    node = await startFakeNode();
    client = await connect(node.url);
  });
  afterAll(async () => {
    await client.close();
    await node.close();
  });

  it('lists the MCP-V8 tools, each with input and output schemas', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      ['cancel_execution', 'delete_session', 'get_execution', 'get_execution_output', 'get_session', 'list_executions', 'list_sessions', 'run_js'],
    );
    const run = tools.find((t) => t.name === 'run_js')!;
    expect(Object.keys(run.inputSchema.properties ?? {})).toEqual(
      expect.arrayContaining(['code', 'session', 'heap', 'heap_memory_max_mb', 'execution_timeout_secs', 'tags', 'async', 'language']),
    );
    for (const t of tools) expect(t.outputSchema?.type).toBe('object');
  });

  it('answers run_js with structuredContent and the same JSON as text', async () => {
    const res = await client.callTool({ name: 'run_js', arguments: { code: '1+1' } });
    expect(res.isError).toBeFalsy();
    expect(res.structuredContent).toMatchObject({ status: 'completed', result: 2 });
    expect(JSON.parse((res.content as Array<{ text: string }>)[0]!.text)).toEqual(res.structuredContent);
  });

  it('marks failed runs, domain errors and bad arguments as isError', async () => {
    const threw = await client.callTool({ name: 'run_js', arguments: { code: 'throw' } });
    expect(threw.isError).toBe(true);
    expect(threw.structuredContent).toMatchObject({ status: 'failed', error: { message: 'boom' } });
    const missing = await client.callTool({ name: 'get_execution', arguments: { execution_id: 'nope' } });
    expect(missing.isError).toBe(true);
    expect((missing.content as Array<{ text: string }>)[0]!.text).toMatch(/^not_found: /);
    const bad = await client.callTool({ name: 'run_js', arguments: { code: 5 } });
    expect(bad.isError).toBe(true);
    expect((bad.content as Array<{ text: string }>)[0]!.text).toMatch(/invalid arguments for run_js: code/);
    const busy = await client.callTool({ name: 'run_js', arguments: { code: 'overload' } });
    expect((busy.content as Array<{ text: string }>)[0]!.text).toMatch(/overloaded: .*retry after 2s/);
    await expect(client.callTool({ name: 'nope', arguments: {} })).rejects.toThrow(/unknown tool/);
  });

  it('answers at once with async: true', async () => {
    const res = await client.callTool({ name: 'run_js', arguments: { code: 'sleep()', async: true } });
    expect(res.structuredContent).toMatchObject({ status: 'running' });
    const id = (res.structuredContent as { execution_id: string }).execution_id;
    const got = await client.callTool({ name: 'cancel_execution', arguments: { execution_id: id } });
    expect(got.structuredContent).toMatchObject({ execution_id: id, status: 'cancelled' });
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

describe('auth seam', () => {
  // A stand-in gate: "Bearer <subject>:<scope,scope>".
  const gate: AuthGate = {
    routes: () => (ctx, next) => (ctx.path === '/.well-known/test' ? void (ctx.body = { ok: true }) : next()),
    requireBearer: (scope) => (ctx: Koa.Context, next) => {
      const m = /^Bearer (\w+):([\w:,]*)$/.exec(ctx.get('authorization'));
      if (!m) {
        ctx.status = 401;
        ctx.body = { error: 'unauthorized' };
        return;
      }
      const scopes = m[2]!.split(',');
      if (scope && !scopes.includes(scope)) {
        ctx.status = 403;
        ctx.body = { error: 'insufficient_scope', scope };
        return;
      }
      ctx.state.principal = { subject: m[1]!, scopes, clientId: null };
      return next();
    },
    close: () => undefined,
  };
  const domain = fakeDomain();
  let node: NodeHandle;
  beforeAll(async () => {
    node = await startNode(ConfigSchema.parse({ port: 0 }), {
      log: pino({ level: 'silent' }),
      auth: gate,
      openDomain: async () => ({ domain, readiness: () => ({ ready: true }), close: async () => {} }),
    });
  });
  afterAll(() => node.close());

  it('mounts the gate\'s routes and leaves health public', async () => {
    expect((await fetch(node.url + '/.well-known/test')).status).toBe(200);
    expect((await fetch(node.url + '/healthz')).status).toBe(200);
    expect((await fetch(node.url + '/api/openapi.json')).status).toBe(200);
  });

  it('guards REST by scope and passes the subject to the domain', async () => {
    expect((await fetch(node.url + '/api/executions')).status).toBe(401);
    const readOnly = { authorization: 'Bearer alice:raftbox:read', 'content-type': 'application/json' };
    expect((await fetch(node.url + '/api/executions', { headers: readOnly })).status).toBe(200);
    expect((await fetch(node.url + '/api/exec', { method: 'POST', headers: readOnly, body: '{"code":"1"}' })).status).toBe(403);
    const runner = { authorization: 'Bearer alice:raftbox:run', 'content-type': 'application/json' };
    expect((await fetch(node.url + '/api/exec', { method: 'POST', headers: runner, body: '{"code":"1"}' })).status).toBe(200);
    expect(domain.lastRun?.subject).toBe('alice');
  });

  it('guards MCP tool calls by the tool\'s scope and hands the subject to the tools', async () => {
    const reader = await connect(node.url, { authorization: 'Bearer bob:raftbox:read' });
    expect((await reader.listTools()).tools.length).toBe(8);
    await expect(reader.callTool({ name: 'run_js', arguments: { code: '1' } })).rejects.toThrow(/insufficient_scope/);
    await reader.close();
    const runner = await connect(node.url, { authorization: 'Bearer bob:raftbox:run' });
    await runner.callTool({ name: 'run_js', arguments: { code: '1+1' } });
    expect(domain.lastRun?.subject).toBe('bob');
    await runner.close();
  });
});
