import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeNode } from './fake-domain.ts';

let node: Awaited<ReturnType<typeof startFakeNode>>;
beforeAll(async () => {
  node = await startFakeNode({ maxBodyBytes: 4096 });
});
afterAll(() => node.close());

const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(node.url + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
};

describe('REST API', () => {
  it('POST /api/exec answers 202 with an execution_id, and the finished execution with ?wait', async () => {
    const sleeping = await call('POST', '/api/exec', { code: 'sleep()' });
    expect(sleeping.status).toBe(202);
    expect(sleeping.body.execution_id).toMatch(/^e/);
    expect(sleeping.body.status).toBe('running');

    const done = await call('POST', '/api/exec?wait=1000', { code: '1+1' });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'completed', result: 2, output: '', error: null });

    const waitInBody = await call('POST', '/api/exec', { code: '1+1', wait: 1000 });
    expect(waitInBody.status).toBe(200);
  });

  it('maps the MCP-V8 parameters onto the domain, treating null as absent', async () => {
    await call('POST', '/api/exec', {
      code: 'x',
      session: 's1',
      heap: null,
      heap_memory_max_mb: 32,
      execution_timeout_secs: 5,
      tags: { team: 'a' },
      language: 'js',
    }, { 'idempotency-key': 'k1' });
    expect(node.domain.lastRun).toEqual({
      code: 'x', language: 'js', session: 's1', heap: undefined, memoryMb: 32, timeoutSecs: 5,
      tags: { team: 'a' }, idempotencyKey: 'k1', subject: undefined,
    });
  });

  it('takes a raw script body, with the other parameters in the query string', async () => {
    for (const type of ['text/plain', 'application/javascript']) {
      const res = await fetch(`${node.url}/api/exec?wait=1000&session=raw&heap_memory_max_mb=16`, {
        method: 'POST', headers: { 'content-type': type }, body: '1+1',
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ result: 2, session: 'raw' });
      expect(node.domain.lastRun?.memoryMb).toBe(16);
    }
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
      error: 'invalid_params', message: 'heap_memory_max_mb is over the server cap of 512',
    });
    const bad = await call('POST', '/api/exec', '{"code": ');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_params');
    expect(bad.body.message).toMatch(/malformed JSON/);
    expect((await call('POST', '/api/exec', [1, 2])).status).toBe(400);
    expect((await call('GET', '/api/executions?limit=0')).status).toBe(400);
  });

  it('answers 404 for unknown executions, sessions, states and routes', async () => {
    expect(await call('GET', '/api/executions/nope')).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect((await call('GET', '/api/executions/nope/output')).status).toBe(404);
    expect((await call('POST', '/api/executions/nope/cancel')).status).toBe(404);
    expect((await call('GET', '/api/sessions/nope')).status).toBe(404);
    expect((await call('DELETE', '/api/sessions/nope')).status).toBe(404);
    expect((await call('POST', '/api/exec', { code: '1', heap: 'nope' })).status).toBe(404);
    expect(await call('GET', '/api/nothing')).toMatchObject({ status: 404, body: { error: 'not_found' } });
  });

  it('answers 405 for a known path with the wrong method', async () => {
    const res = await call('PUT', '/api/exec', { code: '1' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toMatch(/POST/);
  });

  it('answers 409 for a conflict and 429 with Retry-After when overloaded', async () => {
    const done = await call('POST', '/api/exec?wait=1000', { code: '1+1' });
    const again = await call('POST', `/api/executions/${done.body.execution_id}/cancel`);
    expect(again).toMatchObject({ status: 409, body: { error: 'conflict' } });
    expect((await call('POST', '/api/exec', { code: 'conflict', session: 's' })).status).toBe(409);
    const busy = await call('POST', '/api/exec', { code: 'overload' });
    expect(busy.status).toBe(429);
    expect(busy.body.error).toBe('overloaded');
    expect(busy.headers.get('retry-after')).toBe('2');
  });

  it('answers 413 for a body over the cap, JSON or raw', async () => {
    const big = 'x'.repeat(5000);
    expect(await call('POST', '/api/exec', { code: big })).toMatchObject({ status: 413, body: { error: 'payload_too_large' } });
    const raw = await fetch(`${node.url}/api/exec`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: big });
    expect(raw.status).toBe(413);
  });

  it('gets, cancels and lists executions with filters and a cursor', async () => {
    const run = await call('POST', '/api/exec', { code: 'sleep() // list', session: 'listed', tags: { k: 'v' } });
    const id = run.body.execution_id;
    expect((await call('GET', `/api/executions/${id}?wait=10`)).body).toMatchObject({ execution_id: id, status: 'running', tags: { k: 'v' } });
    expect((await call('POST', `/api/executions/${id}/cancel`)).body.status).toBe('cancelled');
    const listed = await call('GET', '/api/executions?session=listed&status=cancelled');
    expect(listed.body.executions.map((e: { execution_id: string }) => e.execution_id)).toEqual([id]);
    const page1 = await call('GET', '/api/executions?limit=2');
    expect(page1.body.executions).toHaveLength(2);
    const page2 = await call('GET', `/api/executions?limit=2&cursor=${page1.body.next_cursor}`);
    expect(page2.body.executions[0].execution_id).not.toBe(page1.body.executions[0].execution_id);
    expect((await call('GET', '/api/executions?status=bogus')).status).toBe(400);
  });

  it('pages console output by lines and by bytes', async () => {
    const run = await call('POST', '/api/exec?wait=1000', { code: 'log()' });
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
    await call('POST', '/api/exec', { code: 'a', session: 'kept' });
    expect((await call('GET', '/api/sessions')).body.sessions).toContainEqual(expect.objectContaining({ name: 'kept', steps: 1 }));
    expect((await call('GET', '/api/sessions/kept')).body).toMatchObject({ name: 'kept', steps: 1, journal: [{ step: 0, code: 'a' }] });
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
