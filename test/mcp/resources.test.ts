import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startTestNode } from '../e2e/node.ts';
import { modernPost } from './modern-wire.ts';

// The documents an agent needs, as MCP resources in both lanes.

describe('docs as MCP resources', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  let client: Client;
  beforeAll(async () => {
    node = await startTestNode({ maxArtifactBytes: 12345, maxTimeoutSecs: 77 });
    client = new Client({ name: 'test', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', node.url)));
  });
  afterAll(async () => {
    await client.close();
    await node.stop();
  });

  it('2025-11-25: declared, listed and read; the limits are this server\'s', async () => {
    expect(client.getServerCapabilities()?.resources).toEqual({ listChanged: false });
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(['raftbox://docs/sandbox-api', 'raftbox://docs/limits', 'raftbox://docs/examples', 'raftbox://docs/mcp-tools', 'raftbox://packages']);
    const limits = await client.readResource({ uri: 'raftbox://docs/limits' });
    const text = (limits.contents[0] as { text: string }).text;
    expect(text).toContain('12345 bytes');
    expect(text).toContain('at most 77 s');
    const api = await client.readResource({ uri: 'raftbox://docs/sandbox-api' });
    expect(api.contents[0]).toMatchObject({ mimeType: 'text/markdown', text: expect.stringContaining('artifact(') });
    await expect(client.readResource({ uri: 'raftbox://docs/nope' })).rejects.toThrow(/Resource not found: raftbox:\/\/docs\/nope/);
  });

  it('2026-07-28: listed and read the same way', async () => {
    const list = await modernPost(node.url, 'resources/list');
    expect(list.json.result.resources).toHaveLength(5);
    const read = await modernPost(node.url, 'resources/read', { uri: 'raftbox://docs/examples' }, { 'mcp-name': 'raftbox://docs/examples' });
    expect(read.json.result.contents[0].text).toContain('A chart as PNG');
    const missing = await modernPost(node.url, 'resources/read', { uri: 'raftbox://nothing' }, { 'mcp-name': 'raftbox://nothing' });
    // An unknown resource is -32602 in every revision (server.ts resourceNotFound; the v2 SDK's own error here).
    expect(missing.json.error).toMatchObject({ code: -32602, message: expect.stringContaining('Resource not found') });
  });
});
