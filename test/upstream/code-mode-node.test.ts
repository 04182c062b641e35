import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode } from '../e2e/node.ts';
import { call } from '../e2e/mcp-tools.ts';
import { waitFor } from '../support/index.ts';
import { modernPost } from '../mcp/modern-wire.ts';
import { startHttpUpstream, type HttpUpstream } from './http-upstream.ts';

// The documents every node serves first (src/mcp/doc-resources.ts).
const DOCS = ['raftbox://docs/sandbox-api', 'raftbox://docs/limits', 'raftbox://docs/examples', 'raftbox://docs/mcp-tools'];

let upstream: HttpUpstream;
let node: Awaited<ReturnType<typeof startTestNode>>;
let client: Client;

beforeAll(async () => {
  upstream = await startHttpUpstream();
  node = await startTestNode({ mcpServers: [{ name: 'web', url: upstream.url, args: [], env: {}, headers: {} }] });
  client = new Client({ name: 'code-mode-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`)));
  await waitFor('the upstream connected', async () => ((await (await fetch(`${node.url}/cluster/status`)).json()) as { upstreams?: Array<{ state: string }> }).upstreams?.[0]?.state === 'ready');
}, 60_000);

afterAll(async () => {
  await client?.close();
  await node?.stop();
  await upstream?.close();
});

describe('a node with an upstream MCP server', () => {
  it("names the server in run_js's description and lists search_tools", async () => {
    const { tools } = await client.listTools();
    const runJs = tools.find((t) => t.name === 'run_js')!;
    expect(runJs.description).toContain('upstream MCP servers `web`');
    expect(tools.map((t) => t.name)).toContain('search_tools');
  });

  it('reports the upstream in /cluster/status and /metrics', async () => {
    const status = (await (await fetch(`${node.url}/cluster/status`)).json()) as { upstreams: unknown[] };
    expect(status.upstreams).toEqual([expect.objectContaining({ name: 'web', transport: 'http', state: 'ready', tools: 5, lastError: null })]);
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(metrics).toContain('raftbox_upstream_up{server="web"} 1');
    expect(metrics).toContain('raftbox_upstream_tools{server="web"} 5');
  });

  it('runs code that calls the upstream tool 50 times and returns a summary', async () => {
    const before = upstream.calls.get('add') ?? 0;
    const { isError, out } = await call(client, 'run_js', {
      code: 'let total = 0;\nfor (let i = 0; i < 50; i++) total += (await tools.web.add({ a: i, b: 1 })).sum;\n({ total })',
    });
    expect(isError).toBe(false);
    expect(out.result).toEqual({ total: 1275 });
    expect(upstream.calls.get('add')).toBe(before + 50);
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(metrics).toMatch(/raftbox_upstream_tool_calls_total\{server="web",outcome="ok"\} (\d+)/);
  });

  it('search_tools answers declarations of the matching tools', async () => {
    const { out } = await call(client, 'search_tools', { query: 'image' });
    expect(out).toMatchObject({ servers: ['web'], matches: [{ server: 'web', tool: 'pixel' }], more: false });
    expect(out.declarations).toContain('pixel(args: Tools.web.Pixel.Input): Promise<Tools.web.Pixel.Output>;');
    const none = await call(client, 'search_tools', { server: 'nope' });
    expect(none.isError).toBe(true);
    expect(none.text).toContain('no upstream server "nope" for this caller (usable: web)');
  });

  it('serves the declarations as resources, for all servers and per server', async () => {
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toEqual([...DOCS, 'raftbox://packages', 'raftbox://tools.d.ts', 'raftbox://tools/web.d.ts']);
    const all = await client.readResource({ uri: 'raftbox://tools.d.ts' });
    const text = (all.contents[0] as { text: string }).text;
    expect(text).toContain('declare const tools: Tools.Servers;');
    expect(text).toMatch(/\* Adds a and b; answers structured content\.\n\s*\*\/\n\s*add\(args: Tools\.web\.Add\.Input\): Promise<Tools\.web\.Add\.Output>;/);
    await expect(client.readResource({ uri: 'raftbox://tools/nope.d.ts' })).rejects.toThrow(/Resource not found/);
  });

  it('typecheck: true reports a wrong argument with its line, and runs nothing', async () => {
    const before = upstream.calls.get('add') ?? 0;
    const wrong = await call(client, 'run_js', { code: 'const n = 1;\nawait tools.web.add({ a: n, b: "two" })', typecheck: true });
    expect(wrong.isError).toBe(true);
    expect(wrong.out.error).toMatchObject({ name: 'TypeError', line: 2 });
    expect((wrong.out.error as { message: string }).message).toContain("TS2322: Type 'string' is not assignable to type 'number'.");
    expect(upstream.calls.get('add') ?? 0).toBe(before);
    const right = await call(client, 'run_js', { code: 'const n = 1;\n(await tools.web.add({ a: n, b: 2 })).sum', typecheck: true });
    expect(right.out).toMatchObject({ status: 'completed', result: 3 });
  }, 60_000);

  it('the 2026-07-28 lane offers the same: run_js naming the server, search_tools, the resources, a tool call from code', async () => {
    const list = await modernPost(node.url, 'tools/list');
    expect(list.json.result.tools.find((t: { name: string }) => t.name === 'run_js').description).toContain('upstream MCP servers `web`');
    const search = await modernPost(node.url, 'tools/call', { name: 'search_tools', arguments: { query: 'add' } });
    expect(search.json.result.structuredContent.matches).toEqual([{ server: 'web', tool: 'add' }]);
    const resources = await modernPost(node.url, 'resources/list');
    expect(resources.json.result.resources.map((r: { uri: string }) => r.uri)).toEqual([...DOCS, 'raftbox://packages', 'raftbox://tools.d.ts', 'raftbox://tools/web.d.ts']);
    const read = await modernPost(node.url, 'resources/read', { uri: 'raftbox://tools/web.d.ts' }, { 'mcp-name': 'raftbox://tools/web.d.ts' });
    expect(read.json.result.contents[0].text).toContain('namespace web {');
    const run = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: "await mcp.callTool('web', 'echo', { text: 'modern' })" } });
    expect(run.json.result.structuredContent).toMatchObject({ status: 'completed', result: 'modern\n(6 characters)' });
  });
});

describe('a node without upstream servers', () => {
  it('does not list search_tools, and mcp calls from code say what to configure', async () => {
    const bare = await startTestNode();
    const c = new Client({ name: 'code-mode-test', version: '1.0.0' });
    try {
      await c.connect(new StreamableHTTPClientTransport(new URL(`${bare.url}/mcp`)));
      expect((await c.listTools()).tools.map((t) => t.name)).not.toContain('search_tools');
      const { out } = await call(c, 'run_js', { code: "[await mcp.servers(), await tools.github.search({}).catch((e) => e.name + ': ' + e.message)]" });
      expect(out.result).toEqual([[], 'TypeError: no upstream MCP servers are configured on this node (--mcp-server name=url, or mcpServers in the config file)']);
    } finally {
      await c.close();
      await bare.stop();
    }
  });
});
