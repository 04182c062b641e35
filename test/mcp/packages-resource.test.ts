import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startTestNode } from '../e2e/node.ts';
import { modernPost } from './modern-wire.ts';

// The packages a node approved, as MCP clients see them on both lanes: a resource and run_js's
// description. `semver` is one of raftbox's own dependencies, so the default packages dir has it.
const SEMVER = (await import('semver/package.json', { with: { type: 'json' } })).default.version as string;

let node: Awaited<ReturnType<typeof startTestNode>>;
let legacy: ClientV1;
beforeAll(async () => {
  node = await startTestNode({ packages: ['semver'] });
  legacy = new ClientV1({ name: 'v1', version: '1' });
  await legacy.connect(new TransportV1(new URL('/mcp', node.url)));
}, 60_000);
afterAll(async () => {
  await legacy?.close();
  await node?.stop();
});

describe('the packages resource and run_js description', () => {
  it('on 2025-11-25: lists and reads raftbox://packages, the same JSON as list_packages', async () => {
    expect(legacy.getServerCapabilities()?.resources).toEqual({ listChanged: false });
    const { resources } = await legacy.listResources();
    const packages = resources.find((r) => r.uri === 'raftbox://packages');
    expect(packages).toMatchObject({ mimeType: 'application/json' });
    const read = await legacy.readResource({ uri: 'raftbox://packages' });
    const listed = JSON.parse((read.contents[0] as { text: string }).text);
    expect(listed.packages).toEqual([{ name: 'semver', version: SEMVER, hash: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    expect(listed.builtins.map((b: { name: string }) => b.name)).toContain('node:path');
    const tool = await legacy.callTool({ name: 'list_packages', arguments: {} });
    expect(tool.structuredContent).toEqual(listed);
    expect(packages!.size).toBe(Buffer.byteLength((read.contents[0] as { text: string }).text));
  });

  it('on 2025-11-25: an unknown resource is -32602 with its URI', async () => {
    await expect(legacy.readResource({ uri: 'raftbox://nope' })).rejects.toMatchObject({ code: -32602, data: { uri: 'raftbox://nope' } });
  });

  it('names the approved packages with their versions in run_js\'s description, on both lanes alike', async () => {
    const { tools } = await legacy.listTools();
    const run = tools.find((t) => t.name === 'run_js')!;
    expect(run.description).toContain(`Approved packages on this server: semver ${SEMVER}.`);
    const modern = await modernPost(node.url, 'tools/list');
    // The same list, less 2025-11-25's per-tool task support (2026-07-28 tasks are server-directed).
    expect(modern.json.result.tools).toEqual(tools.map(({ execution: _execution, ...tool }) => tool));
  });

  it('on 2026-07-28: lists and reads the resource, cacheable; an unknown URI is -32602 with its URI', async () => {
    const list = await modernPost(node.url, 'resources/list');
    expect(list.json.result).toMatchObject({ resultType: 'complete', ttlMs: 300_000, cacheScope: 'public', resources: expect.arrayContaining([expect.objectContaining({ uri: 'raftbox://packages' })]) });
    const read = await modernPost(node.url, 'resources/read', { uri: 'raftbox://packages' }, { 'mcp-name': 'raftbox://packages' });
    expect(read.status).toBe(200);
    expect(JSON.parse(read.json.result.contents[0].text).packages).toEqual([expect.objectContaining({ name: 'semver', version: SEMVER })]);
    const missing = await modernPost(node.url, 'resources/read', { uri: 'raftbox://nope' }, { 'mcp-name': 'raftbox://nope' });
    expect(missing.json.error).toMatchObject({ code: -32602, data: { uri: 'raftbox://nope' } });
    const discover = await modernPost(node.url, 'server/discover');
    expect(discover.json.result.capabilities.resources).toEqual({ listChanged: false });
  });
});
