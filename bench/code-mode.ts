/**
 * Code mode against tool calls one by one, as an agent would use them, all on loopback: a real node
 * (`--mcp-server web=…`) and a real upstream MCP server over Streamable HTTP. Per round, interleaved:
 *   - one `run_js` whose code calls the upstream tool `add` 50 times in a loop and returns a summary;
 *   - the same 50 calls as separate MCP `tools/call`s from the client straight to the upstream;
 *   - 50 `run_js` calls, each calling the tool once (what code mode saves raftbox itself).
 * Wall time of each from the client. A model round trip (seconds per call for a real agent) is not in
 * these numbers: code mode saves 49 of them, which dwarfs everything measured here.
 *
 *   node --no-node-snapshot bench/code-mode.ts [--calls 50] [--rounds 5]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pino from 'pino';
import { ConfigSchema } from '../src/config/index.ts';
import { startNode } from '../src/server.ts';
import { startHttpUpstream } from '../test/upstream/http-upstream.ts';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '50' }, rounds: { type: 'string', default: '5' } } });
const calls = Number(values.calls);
const rounds = Number(values.rounds);

const upstream = await startHttpUpstream();
const dataDir = await mkdtemp(join(tmpdir(), 'raftbox-bench-code-mode-'));
const node = await startNode(ConfigSchema.parse({ port: 0, dataDir, logLevel: 'silent', mcpServers: [upstream.url].map((url) => ({ name: 'web', url })) }), { log: pino({ level: 'silent' }) });
const connect = async (url: string) => {
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
};
const toRaftbox = await connect(`${node.url}/mcp`);
const toUpstream = await connect(upstream.url);

const loop = `let total = 0;\nfor (let i = 0; i < ${calls}; i++) total += (await tools.web.add({ a: i, b: 1 })).sum;\n({ calls: ${calls}, total })`;
const variants: Record<string, () => Promise<void>> = {
  [`one run_js, ${calls} tool calls inside`]: async () => {
    const res = await toRaftbox.callTool({ name: 'run_js', arguments: { code: loop, language: 'js' } });
    if (res.isError) throw new Error(JSON.stringify(res.content));
  },
  [`${calls} MCP tools/call to the upstream`]: async () => {
    for (let i = 0; i < calls; i++) await toUpstream.callTool({ name: 'add', arguments: { a: i, b: 1 } });
  },
  [`${calls} run_js, one tool call each`]: async () => {
    for (let i = 0; i < calls; i++) {
      const res = await toRaftbox.callTool({ name: 'run_js', arguments: { code: `(await tools.web.add({ a: ${i}, b: 1 })).sum`, language: 'js' } });
      if (res.isError) throw new Error(JSON.stringify(res.content));
    }
  },
};

const times = new Map<string, number[]>(Object.keys(variants).map((k) => [k, []]));
for (const run of Object.values(variants)) await run(); // warm-up: isolates, connections, JIT
for (let r = 0; r < rounds; r++) {
  for (const [name, run] of Object.entries(variants)) {
    const t0 = performance.now();
    await run();
    times.get(name)!.push(performance.now() - t0);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`| variant | wall ms per round (median of ${rounds}) | rounds |`);
console.log('| --- | ---: | --- |');
for (const [name, xs] of times) console.log(`| ${name} | ${median(xs).toFixed(1)} | ${xs.map((x) => x.toFixed(0)).join(', ')} |`);

await toRaftbox.close();
await toUpstream.close();
await node.close();
await upstream.close();
await rm(dataDir, { recursive: true, force: true });
