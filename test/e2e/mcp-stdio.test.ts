import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { call } from './mcp-tools.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
let dataDir: string;
let client: Client;
let stderr = '';

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'raftbox-stdio-'));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--no-node-snapshot', 'src/cli/main.ts', 'stdio', '--data-dir', dataDir],
    cwd: root,
    // A host in another time zone: the node must still run steps in UTC.
    env: { ...(process.env as Record<string, string>), RAFTBOX_LOG_LEVEL: 'info', TZ: 'America/New_York' },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  client = new Client({ name: 'e2e-stdio', version: '1' });
  await client.connect(transport);
});
afterAll(async () => {
  await client.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('MCP over stdio (raftbox stdio)', () => {
  it('serves the same tools', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('run_js');
    expect(tools).toHaveLength(9);
  });

  it('runs code and keeps a session, logging only to stderr', async () => {
    expect((await call(client, 'run_js', { code: '1+1' })).out.result).toBe(2);
    await call(client, 'run_js', { code: 'const greeting = "hi"', session: 'stdio' });
    expect((await call(client, 'run_js', { code: 'greeting + "!"', session: 'stdio' })).out.result).toBe('hi!');
    // Had anything but protocol messages reached stdout, the client would have failed to parse it.
    expect(stderr).toMatch(/"level":30/);
  });

  it('runs steps in UTC whatever the host\'s time zone, so replays match on every node', async () => {
    const code = '[new Date(0).getHours(), Intl.DateTimeFormat().resolvedOptions().timeZone, new Date(0).toString()]';
    const { out } = await call(client, 'run_js', { code, session: 'tz', language: 'js' });
    expect(out.result).toEqual([0, 'UTC', expect.stringMatching(/^Thu Jan 01 1970 00:00:00 GMT\+0000/)]);
  });
});
