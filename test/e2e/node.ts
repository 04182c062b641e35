import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ConfigSchema, type Config } from '../../src/config/index.ts';
import { startNode, type NodeHandle } from '../../src/server.ts';

/** A real node (real LevelDB in a temp dir, real sandboxes) on an ephemeral loopback port. */
export async function startTestNode(overrides: Partial<Config> = {}): Promise<NodeHandle & { stop(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'raftbox-e2e-'));
  const config = ConfigSchema.parse({ port: 0, dataDir, logLevel: 'silent', maxConcurrent: 2, ...overrides });
  const node = await startNode(config, { log: pino({ level: 'silent' }) });
  return Object.assign(node, {
    async stop() {
      await node.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  });
}
