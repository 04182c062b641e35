// A chart rendered to PNG inside the sandbox and handed back over MCP as an image: run_js with the
// code of examples/sandbox/bar-chart.js and data in `inputs`, then the `image` content block of the
// answer written to a file (its path is printed). The same PNG is served by REST as the artifact
// `result.png` of the execution, from any node.
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = process.env.RAFTBOX_URL || 'http://127.0.0.1:3000';
const token = process.env.RAFTBOX_TOKEN;
const client = new Client({ name: 'raftbox-chart-example', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', url), token ? { requestInit: { headers: { authorization: `Bearer ${token}` } } } : {}));

const code = readFileSync(new URL('sandbox/bar-chart.js', import.meta.url), 'utf8');
const answer = await client.callTool({ name: 'run_js', arguments: { code, language: 'js', inputs: { values: [4, 8, 15, 16, 23, 42] } } });
const image = (answer.content as Array<{ type: string; data?: string; mimeType?: string }>).find((block) => block.type === 'image');
if (!image?.data) throw new Error(`no image in the answer: ${JSON.stringify(answer.content)}`);
const file = join(tmpdir(), `raftbox-chart-${Date.now()}.png`);
writeFileSync(file, Buffer.from(image.data, 'base64'));
const execution = answer.structuredContent as { execution_id: string; artifacts: Array<{ name: string; size: number; url: string }> };
console.log(`${image.mimeType} ${execution.artifacts[0]!.size} bytes -> ${file}`);
console.log(`also at ${url}${execution.artifacts[0]!.url}`);
await client.close();
