import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { hashPassword } from '../../src/auth/index.ts';
import { ConfigSchema, type Config } from '../../src/config/index.ts';
import { createLogger } from '../../src/observability/index.ts';
import { startNode, type NodeHandle } from '../../src/server.ts';

export const MACHINE = { id: 'scraper', secret: 'machine-secret-Zq8vN3kT' };

/** A real node with the built-in OAuth server and one machine client, its JSON log captured in memory. */
export async function startOAuthNode(overrides: Partial<Config> = {}): Promise<{ node: NodeHandle; logs: () => string; stop(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'raftbox-obs-'));
  let captured = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      captured += String(chunk);
      done();
    },
  });
  const config = ConfigSchema.parse({
    port: 0,
    dataDir,
    maxConcurrent: 1,
    maxQueue: 0,
    oauth: { enabled: true, clients: { [MACHINE.id]: await hashPassword(MACHINE.secret) } },
    ...overrides,
  });
  const node = await startNode(config, { log: createLogger({ level: 'debug', nodeId: config.nodeId }, sink) });
  return {
    node,
    logs: () => captured,
    async stop() {
      await node.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');

export async function machineToken(url: string): Promise<string> {
  const res = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(MACHINE.id, MACHINE.secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  if (!res.ok) throw new Error(`token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

export async function revoke(url: string, token: string): Promise<void> {
  const res = await fetch(`${url}/oauth/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(MACHINE.id, MACHINE.secret) },
    body: new URLSearchParams({ token }),
  });
  if (!res.ok) throw new Error(`revoke: ${res.status}`);
}

/** The value of one sample in Prometheus text, e.g. sample(text, 'raftbox_executions_total{status="completed"}'). */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
