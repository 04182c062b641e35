import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Domain } from '../api/domain.ts';
import type { Limits } from '../api/operations.ts';
import { TOOLS, callTool, hasTool } from './tools.ts';

const INSTRUCTIONS =
  'raftbox runs JavaScript/TypeScript in isolated V8 sandboxes. Call run_js with code; the value of the last ' +
  'expression is the result. Pass `session` to keep state (top-level let/const/function/class persist) across calls, ' +
  'or `heap` to fork from an earlier state. Long runs: `async: true`, then get_execution.';

/**
 * A low-level SDK `Server` with the tool handlers prebuilt. It holds no per-client state, so one
 * instance may serve many stateless HTTP requests in turn (see McpEndpoint's pool) or one stdio client.
 */
export function createMcpServer(domain: Domain, limits: Limits): Server {
  const server = new Server(
    { name: 'raftbox', version: '0.1.0' },
    { capabilities: { tools: { listChanged: false } }, instructions: INSTRUCTIONS },
  );
  const listResult = { tools: TOOLS };
  server.setRequestHandler(ListToolsRequestSchema, () => listResult);
  server.setRequestHandler(CallToolRequestSchema, (req, extra) => {
    // Not McpError: its message would read "MCP error -32602: unknown tool …" on the wire, and the
    // client adds that prefix once more.
    if (!hasTool(req.params.name)) throw Object.assign(new Error(`unknown tool ${req.params.name}`), { code: ErrorCode.InvalidParams });
    const subject = extra.authInfo?.extra?.subject;
    return callTool(
      domain,
      req.params.name,
      req.params.arguments,
      { edge: 'mcp', signal: extra.signal, subject: typeof subject === 'string' ? subject : undefined },
      limits,
    );
  });
  return server;
}
