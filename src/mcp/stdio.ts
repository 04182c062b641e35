import { StdioServerTransport, serveStdio as serveStdioEras } from '@modelcontextprotocol/server/stdio';
import type { EdgeDomain } from '../api/domain.ts';
import type { EdgeLimits } from '../api/operations.ts';
import { createModernServer } from './modern-server.ts';
import { checkedStdio } from './revision-2026-07-28.ts';

/**
 * Serves the tools to one client over stdin/stdout; resolves when the client closes the stream. The v2
 * SDK's stdio entry picks the era from the opening message: `initialize` pins the connection to the
 * negotiated legacy revision, per-request `_meta` (`server/discover` first, as 2026-07-28 recommends)
 * serves it statelessly.
 */
export async function serveStdio(domain: EdgeDomain, limits: EdgeLimits): Promise<void> {
  const connection = serveStdioEras(() => createModernServer(domain, limits), { transport: checkedStdio(new StdioServerTransport()) });
  // A client that exits closes stdin.
  await new Promise<void>((resolve) => process.stdin.once('end', resolve));
  await connection.close();
}
