import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startTestNode } from './node.ts';
import { call } from './mcp-tools.ts';

let node: Awaited<ReturnType<typeof startTestNode>>;
let client: Client;
beforeAll(async () => {
  node = await startTestNode();
  client = new Client({ name: 'e2e', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', node.url)));
});
afterAll(async () => {
  await client.close();
  await node.stop();
});

describe('MCP over Streamable HTTP, real node', () => {
  it('runs 1+1 and answers 2', async () => {
    const { isError, out } = await call(client, 'run_js', { code: '1+1' });
    expect(isError).toBe(false);
    expect(out).toMatchObject({ status: 'completed', result: 2, result_text: '2', error: null, node: 'n1' });
  });

  it('captures console output with levels', async () => {
    const { out } = await call(client, 'run_js', { code: 'console.log("hello"); console.warn("careful"); 3' });
    expect(out.console).toEqual([{ level: 'log', text: 'hello' }, { level: 'warn', text: 'careful' }]);
    expect(out.output).toBe('hello\ncareful');
  });

  it('reports thrown errors and syntax errors as isError with the error', async () => {
    const threw = await call(client, 'run_js', { code: 'throw new TypeError("boom")' });
    expect(threw.isError).toBe(true);
    expect(threw.out).toMatchObject({ status: 'failed', error: { name: 'TypeError', message: 'boom' } });
    const syntax = await call(client, 'run_js', { code: 'let = ;' });
    expect(syntax.isError).toBe(true);
    expect(syntax.out.status).toBe('failed');
  });

  it('strips TypeScript types', async () => {
    const { out } = await call(client, 'run_js', { code: 'interface P { n: number }\nconst p: P = { n: 21 };\np.n * 2', language: 'ts' });
    expect(out.result).toBe(42);
  });

  it('continues a session across calls and forks from an earlier heap', async () => {
    const first = await call(client, 'run_js', { code: 'let counter = 1; function bump() { return ++counter }', session: 'e2e-s' });
    expect(first.out.status).toBe('completed');
    const second = await call(client, 'run_js', { code: 'bump()', session: 'e2e-s' });
    expect(second.out).toMatchObject({ result: 2, session: 'e2e-s' });
    const third = await call(client, 'run_js', { code: 'bump()', session: 'e2e-s' });
    expect(third.out.result).toBe(3);
    // Fork from the state after the first step: counter is 1 there, whatever the session did since.
    const fork = await call(client, 'run_js', { code: 'bump()', heap: first.out.heap });
    expect(fork.out.result).toBe(2);
    expect(fork.out.heap).not.toBe(second.out.heap);
    const missing = await call(client, 'run_js', { code: '1', heap: 'f'.repeat(64) });
    expect(missing.isError).toBe(true);
    expect(missing.text).toMatch(/^not_found/);
  });

  it('runs async and answers get_execution', async () => {
    const started = await call(client, 'run_js', { code: 'await new Promise((r) => setTimeout(r, 100)); 7', async: true });
    expect(['queued', 'running', 'completed']).toContain(started.out.status);
    const done = await call(client, 'get_execution', { execution_id: started.out.execution_id, wait: 5000 });
    expect(done.out).toMatchObject({ status: 'completed', result: 7 });
  });

  it('cancels a running execution', async () => {
    const started = await call(client, 'run_js', { code: 'while (true) {}', async: true, execution_timeout_secs: 10 });
    const cancelled = await call(client, 'cancel_execution', { execution_id: started.out.execution_id });
    expect(cancelled.out.execution_id).toBe(started.out.execution_id);
    const done = await call(client, 'get_execution', { execution_id: started.out.execution_id, wait: 5000 });
    expect(done.out.status).toBe('cancelled');
  });

  it('pages console output by lines and bytes', async () => {
    const { out } = await call(client, 'run_js', { code: 'for (let i = 0; i < 10; i++) console.log("line " + i)' });
    const lines = await call(client, 'get_execution_output', { execution_id: out.execution_id, line_offset: 2, line_limit: 3 });
    expect(lines.out).toMatchObject({ data: 'line 2\nline 3\nline 4\n', start_line: 2, end_line: 5, start_byte: 14, end_byte: 35, total_lines: 10, next_line_offset: 5, has_more: true });
    const bytes = await call(client, 'get_execution_output', { execution_id: out.execution_id, byte_offset: 0, byte_limit: 7 });
    expect(bytes.out).toMatchObject({ data: 'line 0\n', next_byte_offset: 7, has_more: true });
  });

  it('lists executions and sessions, reads the journal page by page, deletes a session', async () => {
    for (const code of ['let a = 1', 'a += 1', 'a += 1']) await call(client, 'run_js', { code, session: 'e2e-j', tags: { suite: 'e2e' } });
    const listed = await call(client, 'list_executions', { session: 'e2e-j', limit: 2 });
    expect((listed.out.executions as unknown[]).length).toBe(2);
    expect(listed.out.next_cursor).toBeTruthy();
    const sessions = await call(client, 'list_sessions', {});
    expect((sessions.out.sessions as Array<{ name: string }>).map((s) => s.name)).toContain('e2e-j');
    const page1 = await call(client, 'get_session', { session: 'e2e-j', steps_limit: 2 });
    expect(page1.out).toMatchObject({ name: 'e2e-j', steps: 3 });
    expect((page1.out.journal as Array<{ code: string }>).map((s) => s.code)).toEqual(['let a = 1', 'a += 1']);
    const page2 = await call(client, 'get_session', { session: 'e2e-j', steps_cursor: page1.out.next_steps_cursor });
    expect((page2.out.journal as Array<{ code: string }>).map((s) => s.code)).toEqual(['a += 1']);
    expect((await call(client, 'delete_session', { session: 'e2e-j' })).out).toEqual({ session: 'e2e-j', deleted: true });
    expect((await call(client, 'get_session', { session: 'e2e-j' })).isError).toBe(true);
  });

  it('refuses limits over the server cap instead of clamping', async () => {
    const res = await call(client, 'run_js', { code: '1', heap_memory_max_mb: 100_000 });
    expect(res.isError).toBe(true);
    expect(res.text).toMatch(/invalid_params: .*cap/);
  });
});
