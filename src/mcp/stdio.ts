import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import type { Domain } from '../api/domain.ts';
import type { Limits } from '../api/operations.ts';
import { createModernServer } from './modern-server.ts';

/**
 * Serves the tools to one client over stdin/stdout; resolves when the client closes the stream. The v2
 * SDK's server answers both eras here: a client that opens with `initialize` gets the negotiated legacy
 * revision, one that sends per-request `_meta` (`server/discover` first, as 2026-07-28 recommends) is
 * served statelessly.
 */
export async function serveStdio(domain: Domain, limits: Limits): Promise<void> {
  const server = createModernServer(domain, limits);
  const closed = new Promise<void>((resolve) => (server.onclose = resolve));
  await server.connect(new StdioServerTransport());
  // The SDK's stdio transport does not notice end of input; a client that exits closes stdin.
  process.stdin.once('end', () => void server.close());
  await closed;
}
