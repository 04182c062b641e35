// The tools of the upstream MCP servers the code-mode tests start (over Streamable HTTP in the test
// process, over stdio as a child: stdio-upstream.ts). Each tool counts its calls, so a test can say
// "the upstream was called exactly once".
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

// A 1x1 PNG: an image part's bytes must arrive exactly.
export const PIXEL_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

export type CallCounts = Map<string, number>;

export function upstreamServer(name: string, calls: CallCounts): McpServer {
  const server = new McpServer({ name, version: '1.0.0' });
  const count = (tool: string) => calls.set(tool, (calls.get(tool) ?? 0) + 1);
  server.registerTool(
    'add',
    {
      title: 'Add two numbers',
      description: 'Adds a and b; answers structured content.',
      inputSchema: { a: z.number().describe('first addend'), b: z.number() },
      outputSchema: { sum: z.number() },
    },
    async ({ a, b }) => {
      count('add');
      return { content: [{ type: 'text', text: String(a + b) }], structuredContent: { sum: a + b } };
    },
  );
  server.registerTool('echo', { description: 'Echoes the text back, as text blocks.', inputSchema: { text: z.string() } }, async ({ text }) => {
    count('echo');
    return { content: [{ type: 'text', text }, { type: 'text', text: `(${text.length} characters)` }] };
  });
  server.registerTool('pixel', { description: 'A one-pixel PNG image with a caption.', inputSchema: {} }, async () => {
    count('pixel');
    return { content: [{ type: 'text', text: 'a pixel' }, { type: 'image', mimeType: 'image/png', data: PIXEL_PNG.toString('base64') }] };
  });
  server.registerTool('fail', { description: 'Always fails with isError.', inputSchema: { why: z.string().optional() } }, async ({ why }) => {
    count('fail');
    return { content: [{ type: 'text', text: `failed on purpose: ${why ?? 'no reason'}` }], isError: true };
  });
  server.registerTool('slow', { description: 'Answers after ms milliseconds.', inputSchema: { ms: z.number().int().min(0).max(60_000) } }, async ({ ms }) => {
    count('slow');
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { content: [{ type: 'text', text: `slept ${ms}` }] };
  });
  return server;
}
