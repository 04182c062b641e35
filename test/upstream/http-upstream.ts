// An upstream MCP server over Streamable HTTP on loopback (stateful sessions, so it can send
// notifications/tools/list_changed), as the code-mode tests start it.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { upstreamServer, type CallCounts } from './upstream-tools.ts';

export interface HttpUpstream {
  url: string;
  port: number;
  calls: CallCounts;
  /** Authorization headers the server received, in order. */
  authorizations: Array<string | undefined>;
  /** Adds a tool on every open session (each sends notifications/tools/list_changed). */
  addTool(name: string): void;
  close(): Promise<void>;
}

export async function startHttpUpstream(opts: { port?: number; calls?: CallCounts; requireToken?: string } = {}): Promise<HttpUpstream> {
  const calls = opts.calls ?? new Map<string, number>();
  const authorizations: Array<string | undefined> = [];
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; server: McpServer }>();
  const extraTools: string[] = [];
  const register = (server: McpServer, name: string) =>
    server.registerTool(name, { description: `Added later: ${name}.`, inputSchema: { n: z.number() } }, async ({ n }) => ({ content: [{ type: 'text', text: `${name} ${n}` }] }));
  const http: Server = createServer(async (req, res) => {
    authorizations.push(req.headers.authorization);
    if (opts.requireToken !== undefined && req.headers.authorization !== `Bearer ${opts.requireToken}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_token"}');
      return;
    }
    const id = req.headers['mcp-session-id'];
    let session = typeof id === 'string' ? sessions.get(id) : undefined;
    if (session === undefined) {
      if (typeof id === 'string') {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}');
        return;
      }
      const server = upstreamServer('http-upstream', calls);
      for (const name of extraTools) register(server, name);
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => void sessions.set(sid, { transport, server }),
      });
      transport.onclose = () => {
        if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
      };
      await server.connect(transport);
      session = { transport, server };
    }
    await session.transport.handleRequest(req, res);
  });
  await new Promise<void>((resolve) => http.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    calls,
    authorizations,
    addTool(name) {
      extraTools.push(name);
      for (const { server } of sessions.values()) register(server, name);
    },
    async close() {
      for (const { server } of sessions.values()) await server.close().catch(() => undefined);
      sessions.clear();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
