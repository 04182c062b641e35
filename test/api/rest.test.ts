import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode } from '../e2e/node.ts';

// The REST edge over a real node: parameter mapping, body types and every error status the routes
// answer. What test/e2e/rest.test.ts already shows (submit-then-poll, ?wait, 429, 409, 413 for JSON,
// an over-cap timeout) is not repeated here.
let node: Awaited<ReturnType<typeof startTestNode>>;
beforeAll(async () => {
  node = await startTestNode({ maxBodyBytes: 4096, maxMemoryMb: 128, maxTimeoutSecs: 20 });
});
afterAll(() => node.stop());

const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(node.url + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
};
const FOREVER = 'while (true) {}';

describe('REST API', () => {
  it('takes the wait from the body as well as the query', async () => {
    const done = await call('POST', '/api/exec', { code: '1+1', wait: 5000 });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'completed', result: 2, output: '', error: null });
  });

  it('maps the MCP-V8 parameters onto the run, treating null as absent', async () => {
    const body = { code: 'const n: number = 1', session: 's1', heap: null, tags: { team: 'a' }, language: 'js' };
    const first = await call('POST', '/api/exec?wait=5000', body, { 'idempotency-key': 'k1' });
    // language js: the type annotation is a syntax error, not stripped.
    expect(first.body).toMatchObject({ status: 'failed', error: { name: 'SyntaxError' }, session: 's1', tags: { team: 'a' } });
    const retried = await call('POST', '/api/exec?wait=5000', body, { 'idempotency-key': 'k1' });
    expect(retried.body.execution_id).toBe(first.body.execution_id);

    const timedOut = await call('POST', '/api/exec?wait=10000', { code: FOREVER, execution_timeout_secs: 0.3 });
    expect(timedOut.body.status).toBe('timeout');
    const blownUp = await call('POST', '/api/exec?wait=10000', {
      code: 'const keep = []; while (true) keep.push(new Array(10000).fill(keep.length))',
      heap_memory_max_mb: 16,
    });
    expect(blownUp.body.status).toBe('memory_limit');
  });

  it('takes a raw script body, with the other parameters in the query string', async () => {
    for (const type of ['text/plain', 'application/typescript']) {
      const res = await fetch(`${node.url}/api/exec?wait=5000&session=raw&execution_timeout_secs=0.3`, {
        method: 'POST', headers: { 'content-type': type }, body: 'const x: number = 1 + 1; x',
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'completed', result: 2, session: 'raw' });
    }
    const timedOut = await fetch(`${node.url}/api/exec?wait=10000&execution_timeout_secs=0.3`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: FOREVER });
    expect(await timedOut.json()).toMatchObject({ status: 'timeout' });
    const octet = await fetch(`${node.url}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: '1' });
    expect(octet.status).toBe(415);
  });

  it('answers 400 for bad parameters and malformed JSON', async () => {
    const missing = await call('POST', '/api/exec', {});
    expect(missing.status).toBe(400);
    expect(missing.body.error).toBe('invalid_params');
    expect(missing.body.message).toMatch(/code/);
    expect((await call('POST', '/api/exec', { code: '1', sesion: 'typo' })).body.message).toMatch(/unknown parameter sesion/);
    expect((await call('POST', '/api/exec', { code: 1 })).status).toBe(400);
    expect((await call('POST', '/api/exec', { code: '1', heap_memory_max_mb: 4096 })).body).toEqual({
      error: 'invalid_params', message: "heap_memory_max_mb 4096 is over this server's cap of 128",
    });
    expect((await call('POST', '/api/exec', { code: '1', heap: 'nope' })).body.message).toMatch(/heap must be a state id/);
    const bad = await call('POST', '/api/exec', '{"code": ');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_params');
    expect(bad.body.message).toMatch(/malformed JSON/);
    expect((await call('POST', '/api/exec', [1, 2])).status).toBe(400);
    expect((await call('GET', '/api/executions?limit=0')).status).toBe(400);
    expect((await call('GET', '/api/executions?status=bogus')).status).toBe(400);
  });

  it('names parameters as the caller sent them, and validates what the schema promises', async () => {
    const small = await call('POST', '/api/exec', { code: '1', heap_memory_max_mb: 4 });
    expect(small).toMatchObject({ status: 400, body: { error: 'invalid_params' } });
    expect(small.body.message).toMatch(/heap_memory_max_mb: .*8/);
    expect((await call('POST', '/api/exec', { code: '1', heap_memory_max_mb: 4096 })).body.message).not.toMatch(/memoryMb/);
    const longKey = await call('POST', '/api/exec', { code: '1' }, { 'idempotency-key': 'k'.repeat(300) });
    expect(longKey).toMatchObject({ status: 400, body: { message: 'Idempotency-Key must be 1-256 characters' } });

    // The documented page size is the one the service accepts.
    expect((await call('GET', '/api/executions?limit=500')).status).toBe(200);
    const tooMany = await call('GET', '/api/executions?limit=501');
    expect(tooMany).toMatchObject({ status: 400, body: { error: 'invalid_params' } });
    expect(tooMany.body.message).toMatch(/limit/);
    // A cursor that no page gave is an error, not a silently empty page.
    for (const cursor of ['', 'garbage']) {
      expect(await call('GET', `/api/executions?cursor=${cursor}`)).toMatchObject({ status: 400, body: { message: 'cursor must be a next_cursor returned by an earlier page' } });
    }
    await call('POST', '/api/exec?wait=5000', { code: 'let paged = 1', session: 'paged' });
    expect((await call('GET', '/api/sessions/paged?steps_cursor=abc')).body.message).toMatch(/^steps_cursor /);
  });

  it('answers 404 for unknown executions, sessions, states and routes', async () => {
    expect(await call('GET', '/api/executions/nope')).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect((await call('GET', '/api/executions/nope/output')).status).toBe(404);
    expect((await call('POST', '/api/executions/nope/cancel')).status).toBe(404);
    expect((await call('GET', '/api/sessions/nope')).status).toBe(404);
    expect((await call('DELETE', '/api/sessions/nope')).status).toBe(404);
    expect(await call('POST', '/api/exec', { code: '1', heap: 'f'.repeat(64) })).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await call('GET', '/api/nothing')).toMatchObject({ status: 404, body: { error: 'not_found' } });
  });

  it('answers 405 for a known path with the wrong method', async () => {
    const res = await call('PUT', '/api/exec', { code: '1' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toMatch(/POST/);
  });

  it('answers 413 for a raw body over the cap', async () => {
    const raw = await fetch(`${node.url}/api/exec`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(5000) });
    expect(raw.status).toBe(413);
    expect(await raw.json()).toMatchObject({ error: 'payload_too_large' });
  });

  it('gets, cancels and lists executions with filters and a cursor', async () => {
    const run = await call('POST', '/api/exec', { code: FOREVER, session: 'listed', tags: { k: 'v' }, execution_timeout_secs: 10 });
    expect(run.status).toBe(202);
    const id = run.body.execution_id;
    const current = await call('GET', `/api/executions/${id}?wait=10`);
    expect(current.body).toMatchObject({ execution_id: id, session: 'listed', tags: { k: 'v' } });
    expect(['queued', 'running']).toContain(current.body.status);
    expect((await call('POST', `/api/executions/${id}/cancel`)).body).toMatchObject({ execution_id: id, status: 'cancelled' });
    const listed = await call('GET', '/api/executions?session=listed&status=cancelled');
    expect(listed.body.executions.map((e: { execution_id: string }) => e.execution_id)).toEqual([id]);
    expect((await call('GET', '/api/executions?tag=k%3Dv')).body.executions.map((e: { execution_id: string }) => e.execution_id)).toEqual([id]);

    const page1 = await call('GET', '/api/executions?limit=2');
    expect(page1.body.executions).toHaveLength(2);
    expect(page1.body.next_cursor).toBeTruthy();
    const page2 = await call('GET', `/api/executions?limit=2&cursor=${page1.body.next_cursor}`);
    const ids = (page: typeof page1) => page.body.executions.map((e: { execution_id: string }) => e.execution_id);
    expect(ids(page2).length).toBeGreaterThan(0);
    expect(ids(page2).filter((x: string) => ids(page1).includes(x))).toEqual([]);
  });

  it('pages console output by lines and by bytes', async () => {
    const run = await call('POST', '/api/exec?wait=5000', { code: 'for (let i = 0; i < 5; i++) console.log(`line ${i}`)' });
    const id = run.body.execution_id;
    expect(run.body.output).toBe('line 0\nline 1\nline 2\nline 3\nline 4');
    const lines = await call('GET', `/api/executions/${id}/output?line_offset=1&line_limit=2`);
    expect(lines.body).toMatchObject({ execution_id: id, status: 'completed', data: 'line 1\nline 2\n', next_line_offset: 3, total_lines: 5, has_more: true });
    const bytes = await call('GET', `/api/executions/${id}/output?byte_offset=0&byte_limit=4`);
    expect(bytes.body).toMatchObject({ data: 'line', next_byte_offset: 4, has_more: true });
    const both = await call('GET', `/api/executions/${id}/output?byte_offset=0&line_offset=1`);
    expect(both.status).toBe(400);
  });

  it('lists, reads and deletes sessions', async () => {
    await call('POST', '/api/exec?wait=5000', { code: 'let a = 1', session: 'kept' });
    expect((await call('GET', '/api/sessions')).body.sessions).toContainEqual(expect.objectContaining({ name: 'kept', steps: 1 }));
    expect((await call('GET', '/api/sessions/kept')).body).toMatchObject({ name: 'kept', steps: 1, journal: [{ code: 'let a = 1' }] });
    expect(await call('DELETE', '/api/sessions/kept')).toMatchObject({ status: 200, body: { session: 'kept', deleted: true } });
    expect((await call('GET', '/api/sessions/kept')).status).toBe(404);
  });

  it('serves health, readiness and a request id', async () => {
    const health = await fetch(node.url + '/healthz');
    expect(health.status).toBe(200);
    expect(health.headers.get('x-request-id')).toBeTruthy();
    expect((await fetch(node.url + '/readyz')).status).toBe(200);
    const echoed = await fetch(node.url + '/healthz', { headers: { 'x-request-id': 'abc-123' } });
    expect(echoed.headers.get('x-request-id')).toBe('abc-123');
  });
});
