import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode } from '../e2e/node.ts';

// POST /api/exec as multipart/form-data over real HTTP: file parts become input files, text fields
// the run's parameters (`inputs` and `tags` as JSON), all bounded while the body streams in.

const MAX_INPUT_BYTES = 4096;

describe('POST /api/exec with multipart/form-data', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  beforeAll(async () => {
    node = await startTestNode({ maxInputBytes: MAX_INPUT_BYTES });
  });
  afterAll(async () => {
    await node.stop();
  });

  const exec = async (form: FormData, query = 'wait=30000') => {
    const res = await fetch(`${node.url}/api/exec?${query}`, { method: 'POST', body: form, signal: AbortSignal.timeout(30_000) });
    return { status: res.status, json: (await res.json()) as any };
  };

  it('hands a CSV file part to the code as inputs.<name>, beside JSON inputs and tags', async () => {
    const form = new FormData();
    form.set('language', 'js');
    form.set('table', new Blob(['name,qty\napples,3\npears,4\n'], { type: 'text/csv' }), 'fruit.csv');
    form.set('inputs', JSON.stringify({ column: 1 }));
    form.set('tags', JSON.stringify({ t: 'form' }));
    form.set(
      'code',
      'const rows = (await inputs.table.text()).trim().split("\\n").slice(1).map((l) => l.split(",")); ' +
        '({ type: inputs.table.type, total: rows.reduce((n, r) => n + Number(r[inputs.column]), 0) })',
    );
    const { status, json } = await exec(form);
    expect(status).toBe(200);
    expect(json).toMatchObject({ status: 'completed', result: { type: 'text/csv', total: 7 }, tags: { t: 'form' } });
  });

  it('takes the code as a file part whose media type names the language', async () => {
    const form = new FormData();
    form.set('code', new Blob(['const n: number = 6; n * 7'], { type: 'application/typescript' }), 'job.ts');
    form.set('bytes', new Blob([new Uint8Array([0, 255, 7])], { type: 'application/octet-stream' }), 'blob.bin');
    form.set('async', 'false');
    const ts = await exec(form);
    expect(ts.json).toMatchObject({ status: 'completed', result: 42 });

    const js = new FormData();
    js.set('code', new Blob(['[...(await inputs.bytes.bytes())]'], { type: 'application/javascript' }), 'job.js');
    js.set('bytes', new Blob([new Uint8Array([0, 255, 7])], { type: 'application/octet-stream' }), 'blob.bin');
    expect((await exec(js)).json).toMatchObject({ status: 'completed', result: [0, 255, 7] });
  });

  it('refuses files over the per-run input cap with 413 and a JSON error, counting inputs too', async () => {
    const big = new FormData();
    big.set('code', '1');
    big.set('a', new Blob([new Uint8Array(MAX_INPUT_BYTES / 2)]), 'a.bin');
    big.set('b', new Blob([new Uint8Array(MAX_INPUT_BYTES / 2 + 1)]), 'b.bin');
    const { status, json } = await exec(big);
    expect(status).toBe(413);
    expect(json).toMatchObject({ error: 'payload_too_large', message: expect.stringContaining(`${MAX_INPUT_BYTES} bytes`) });

    const withValues = new FormData();
    withValues.set('code', '1');
    withValues.set('a', new Blob([new Uint8Array(MAX_INPUT_BYTES - 8)]), 'a.bin');
    withValues.set('inputs', JSON.stringify({ note: 'more than eight bytes' }));
    expect((await exec(withValues)).status).toBe(413);
  });

  it('answers a malformed form with 400: a field twice, bad JSON inputs, a files field, no boundary', async () => {
    const twice = new FormData();
    twice.append('code', '1');
    twice.append('code', '2');
    expect((await exec(twice)).json).toMatchObject({ error: 'invalid_params', message: expect.stringContaining('given twice') });

    const badJson = new FormData();
    badJson.set('code', '1');
    badJson.set('inputs', '{not json');
    expect((await exec(badJson)).json).toMatchObject({ error: 'invalid_params', message: expect.stringContaining('inputs must be a JSON object') });

    const files = new FormData();
    files.set('code', '1');
    files.set('files', '{}');
    expect((await exec(files)).status).toBe(400);

    const res = await fetch(`${node.url}/api/exec`, { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: 'x' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_params');
  });

  it('is only for run_js: another route still answers 415 to a form', async () => {
    const form = new FormData();
    form.set('x', '1');
    const res = await fetch(`${node.url}/api/executions/0000/cancel`, { method: 'POST', body: form });
    expect(res.status).toBe(415);
  });
});
