// A session as a notebook, over MCP with the official SDK client: each `run_js` call is a cell, and
// what one cell declares the next one sees, on whichever node of a cluster answers.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = process.env.RAFTBOX_URL || 'http://127.0.0.1:3000';
const token = process.env.RAFTBOX_TOKEN;
const session = `notebook-${Date.now()}`;

const client = new Client({ name: 'raftbox-notebook-example', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', url), token ? { requestInit: { headers: { authorization: `Bearer ${token}` } } } : {}));

interface Execution {
  status: string;
  result: unknown;
  output: string;
  heap: string | null;
  error: { name: string; message: string } | null;
}

async function cell(code: string, extra: Record<string, unknown> = {}): Promise<Execution> {
  const answer = await client.callTool({ name: 'run_js', arguments: { code, session, ...extra } });
  const e = answer.structuredContent as unknown as Execution;
  console.log(`> ${code}\n${e.output ? `${e.output}\n` : ''}${e.error ? `${e.error.name}: ${e.error.message}` : JSON.stringify(e.result)}\n`);
  return e;
}

await cell('const prices = [3, 5, 8]');
await cell('function total(xs: number[]) { return xs.reduce((a, b) => a + b, 0) }');
const before = await cell('prices.push(13); total(prices)'); // 29
await cell('prices.push(100); total(prices)'); // 129
// Fork from the state after the third cell: the fourth never happened there.
await cell('total(prices)', { heap: before.heap, session: `${session}-fork` }); // 29
await client.callTool({ name: 'delete_session', arguments: { session } });
await client.callTool({ name: 'delete_session', arguments: { session: `${session}-fork` } });
await client.close();
