import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode } from './node.ts';

let node: Awaited<ReturnType<typeof startTestNode>>;
beforeAll(async () => {
  node = await startTestNode({ maxConcurrent: 1, maxQueue: 0, maxBodyBytes: 2048 });
});
afterAll(() => node.stop());

const post = (path: string, body: unknown, type = 'application/json') =>
  fetch(node.url + path, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('REST, real node', () => {
  it('runs a submit-then-poll flow like MCP-V8 clients do', async () => {
    const accepted = await post('/api/exec', { code: 'await new Promise((r) => setTimeout(r, 50)); console.log("done"); 6 * 7' });
    expect(accepted.status).toBe(202);
    const { execution_id } = (await accepted.json()) as { execution_id: string };
    const done = await (await fetch(`${node.url}/api/executions/${execution_id}?wait=5000`)).json();
    expect(done).toMatchObject({ execution_id, status: 'completed', result: 42, output: 'done' });
    const out = await fetch(`${node.url}/api/executions/${execution_id}/output`);
    expect(await out.json()).toMatchObject({ data: 'done\n', total_lines: 1, has_more: false });
    // The code it ran, only when asked for.
    expect(done).not.toHaveProperty('code');
    const withCode = await (await fetch(`${node.url}/api/executions/${execution_id}?include_code=true`)).json();
    expect(withCode).toMatchObject({ code: expect.stringContaining('6 * 7'), code_truncated: false });
  });

  it('answers the finished execution with ?wait, for JSON and raw script bodies', async () => {
    const json = await post('/api/exec?wait=5000', { code: '1+1' });
    expect(json.status).toBe(200);
    expect(await json.json()).toMatchObject({ status: 'completed', result: 2 });
    const raw = await post('/api/exec?wait=5000&language=js', 'const s: string = "x"', 'application/javascript');
    expect(raw.status).toBe(200);
    expect(await raw.json()).toMatchObject({ status: 'failed', error: { name: 'SyntaxError' } });
  });

  it('takes the language of a raw script from its content type, unless `language` says otherwise', async () => {
    const typed = 'const s: string = "x"; s';
    const result = async (res: Response) => ((await res.json()) as { status: string }).status;
    expect(await result(await post('/api/exec?wait=5000', typed, 'application/javascript'))).toBe('failed'); // types are a JS syntax error
    expect(await result(await post('/api/exec?wait=5000', typed, 'text/javascript'))).toBe('failed');
    for (const type of ['application/typescript', 'text/typescript', 'text/x-typescript', 'text/plain']) {
      expect(await result(await post('/api/exec?wait=5000', typed, type)), type).toBe('completed');
    }
    expect(await result(await post('/api/exec?wait=5000&language=ts', typed, 'application/javascript'))).toBe('completed');
  });

  it('says "empty body" for a submit without code, whatever its content type', async () => {
    for (const [body, type] of [['', 'text/plain'], ['', 'application/javascript'], ['{}', 'application/json'], ['', 'application/json']] as const) {
      const res = await post('/api/exec', body, type);
      expect(res.status, type).toBe(400);
      expect(await res.json(), type).toMatchObject({ error: 'invalid_params', message: expect.stringMatching(/^empty body: send the code as the body/) });
    }
    // A body with other fields but no code is not empty: the schema names what is missing.
    expect(await (await post('/api/exec', { session: 's' })).json()).toMatchObject({ message: expect.stringContaining('code') });
  });

  it('answers 429 with Retry-After past the admission bound, and 409 for a finished cancel', async () => {
    const busy = await post('/api/exec', { code: 'while (true) {}', execution_timeout_secs: 5 });
    const { execution_id } = (await busy.json()) as { execution_id: string };
    const refused = await post('/api/exec', { code: '1' });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await refused.json()).toMatchObject({ error: 'overloaded' });
    expect((await fetch(`${node.url}/api/executions/${execution_id}/cancel`, { method: 'POST' })).status).toBe(200);
    const cancelled = (await (await fetch(`${node.url}/api/executions/${execution_id}?wait=5000`)).json()) as { status: string };
    expect(cancelled.status).toBe('cancelled');
    const again = await fetch(`${node.url}/api/executions/${execution_id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(409);
  });

  it('answers 400, 404 and 413 as JSON errors', async () => {
    expect((await post('/api/exec', { code: '1', execution_timeout_secs: 100_000 })).status).toBe(400);
    const notFound = await fetch(`${node.url}/api/executions/nope`);
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toMatchObject({ error: 'not_found' });
    const big = await post('/api/exec', { code: 'x'.repeat(4096) });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: 'payload_too_large' });
  });

  it('serves its OpenAPI document', async () => {
    const doc = (await (await fetch(node.url + '/api/openapi.json')).json()) as { openapi: string; paths: object };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/api/exec');
  });
});
