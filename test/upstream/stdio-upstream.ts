// An upstream MCP server over stdio, started by raftbox as `node test/upstream/stdio-upstream.ts`.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { upstreamServer } from './upstream-tools.ts';

await upstreamServer('stdio-upstream', new Map()).connect(new StdioServerTransport());
