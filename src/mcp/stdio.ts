import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Domain } from '../api/domain.ts';
import type { Limits } from '../api/operations.ts';
import { createMcpServer } from './server.ts';

/** Serves the tools to one client over stdin/stdout; resolves when the client closes the stream. */
export async function serveStdio(domain: Domain, limits: Limits): Promise<void> {
  const server = createMcpServer(domain, limits);
  const closed = new Promise<void>((resolve) => (server.onclose = resolve));
  await server.connect(new StdioServerTransport());
  // The SDK's stdio transport does not notice end of input; a client that exits closes stdin.
  process.stdin.once('end', () => void server.close());
  await closed;
}
