import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioClientTransportV2 } from '@modelcontextprotocol/client/stdio';
import { MODERN, envelope } from '../mcp/modern-wire.ts';
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

describe('MCP over stdio (raftbox stdio), 2025-11-25 with the v1 1.32 client', () => {
  it('serves the same tools', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('run_js');
    expect(tools).toHaveLength(10);
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

describe('MCP 2026-07-28 over stdio', () => {
  it('answers server/discover and a tools/call without initialize, each request carrying its _meta', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'raftbox-stdio-modern-'));
    const child = spawn(process.execPath, ['--no-node-snapshot', 'src/cli/main.ts', 'stdio', '--data-dir', dir], { cwd: root, stdio: ['pipe', 'pipe', 'ignore'] });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const ask = async (id: number, method: string, params: Record<string, unknown> = {}) => {
      child.stdin!.write(JSON.stringify({ jsonrpc: '2.0', id, method, params: { _meta: envelope(), ...params } }) + '\n');
      return JSON.parse((await lines.next()).value as string);
    };
    try {
      const discover = await ask(1, 'server/discover');
      expect(discover.result).toMatchObject({ resultType: 'complete', supportedVersions: [MODERN, '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'], capabilities: { tools: {} } });
      const called = await ask(2, 'tools/call', { name: 'run_js', arguments: { code: '2 ** 10' } });
      expect(called.result).toMatchObject({ resultType: 'complete', structuredContent: { result: 1024 } });
      expect((await ask(3, 'tools/list')).result).toMatchObject({ ttlMs: 300_000, cacheScope: 'public' });
      // Every request is checked, not only the opening one.
      const future = await ask(4, 'tools/list', { _meta: envelope({ 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }) });
      expect(future.error).toMatchObject({ code: -32022, data: { requested: '2099-01-01', supported: expect.arrayContaining([MODERN]) } });
      expect((await ask(5, 'ping')).error).toMatchObject({ code: -32601 });
      // Once the connection speaks 2026-07-28, a request without its envelope is refused, never run.
      child.stdin!.write(JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'run_js', arguments: { code: '1' } } }) + '\n');
      expect(JSON.parse((await lines.next()).value as string)).toMatchObject({ id: 6, error: { code: -32602, message: expect.stringContaining('protocolVersion') } });
    } finally {
      child.stdin!.end();
      await once(child, 'exit');
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('serves the v2 SDK client pinned to 2026-07-28', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'raftbox-stdio-v2-'));
    const v2 = new ClientV2({ name: 'v2', version: '1' }, { versionNegotiation: { mode: { pin: MODERN } } });
    await v2.connect(new StdioClientTransportV2({ command: process.execPath, args: ['--no-node-snapshot', 'src/cli/main.ts', 'stdio', '--data-dir', dir], cwd: root, stderr: 'ignore' }));
    try {
      expect((await v2.callTool({ name: 'run_js', arguments: { code: '"v2"' } })).structuredContent).toMatchObject({ result: 'v2' });
    } finally {
      await v2.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
