import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startTestNode } from '../e2e/node.ts';

// Artifacts on the edges of one real node: the REST routes (bytes with their media type, served
// inert), the MCP content blocks by kind and size, and resources/read of an artifact's URI.

describe('artifacts over REST and MCP', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  let client: Client;
  let id: string;
  let answer: CallToolResult;
  beforeAll(async () => {
    node = await startTestNode({ maxArtifactBytes: 1 << 20 });
    client = new Client({ name: 'artifacts', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', node.url)));
    const code = `artifact("page.html", "text/html", "<script>alert(1)</script>");
      artifact("big.bin", "application/octet-stream", new Uint8Array(100 * 1024).fill(7));
      artifact("dot.png", "image/png", new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]));
      1`;
    answer = (await client.callTool({ name: 'run_js', arguments: { code, language: 'js' } })) as CallToolResult;
    id = (answer.structuredContent as { execution_id: string }).execution_id;
  });
  afterAll(async () => {
    await client.close();
    await node.stop();
  });

  it('MCP: an image block, a small file embedded, a large one linked', () => {
    const [, html, big, png] = answer.content;
    expect(html).toEqual({ type: 'resource', resource: { uri: `raftbox://executions/${id}/artifacts/page.html`, mimeType: 'text/html', text: '<script>alert(1)</script>' } });
    expect(big).toMatchObject({ type: 'resource_link', uri: `raftbox://executions/${id}/artifacts/big.bin`, size: 100 * 1024 });
    expect(png).toEqual({ type: 'image', mimeType: 'image/png', data: Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]).toString('base64') });
    expect((answer.structuredContent as { artifacts: unknown[] }).artifacts).toEqual([
      { name: 'page.html', mime_type: 'text/html', size: 25, url: `/api/executions/${id}/artifacts/page.html` },
      { name: 'big.bin', mime_type: 'application/octet-stream', size: 100 * 1024, url: `/api/executions/${id}/artifacts/big.bin` },
      { name: 'dot.png', mime_type: 'image/png', size: 8, url: `/api/executions/${id}/artifacts/dot.png` },
    ]);
  });

  it('MCP: a linked artifact reads back whole; an unknown one is not found', async () => {
    const read = await client.readResource({ uri: `raftbox://executions/${id}/artifacts/big.bin` });
    expect(Buffer.from((read.contents[0] as { blob: string }).blob, 'base64')).toEqual(Buffer.alloc(100 * 1024, 7));
    await expect(client.readResource({ uri: `raftbox://executions/${id}/artifacts/nope` })).rejects.toThrow(/Resource not found/);
  });

  it('REST: the list, each artifact with its media type, inert; 404 for a missing one', async () => {
    const list = await (await fetch(`${node.url}/api/executions/${id}/artifacts`)).json();
    expect(list).toMatchObject({ execution_id: id, artifacts: [{ name: 'page.html' }, { name: 'big.bin' }, { name: 'dot.png' }] });
    const html = await fetch(`${node.url}/api/executions/${id}/artifacts/page.html`);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    expect(html.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await html.text()).toBe('<script>alert(1)</script>');
    const missing = await fetch(`${node.url}/api/executions/${id}/artifacts/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'not_found', message: `execution ${id} has no artifact nope` });
  });

  it('over the cap: a clear error in the code, and the run says so', async () => {
    const over = (await client.callTool({ name: 'run_js', arguments: { code: 'artifact("x", "text/plain", "x".repeat(2 << 20))', language: 'js' } })) as CallToolResult;
    expect(over.isError).toBe(true);
    expect(over.structuredContent).toMatchObject({ status: 'failed', error: { name: 'RangeError', message: expect.stringContaining('over this run\'s artifact limit of 1048576 bytes') } });
  });
});
