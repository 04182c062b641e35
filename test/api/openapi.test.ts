import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restRouter, OPENAPI_PATH } from '../../src/api/rest.ts';
import { openApiDocument, openApiPath } from '../../src/api/openapi.ts';
import { guardOf } from '../../src/http/index.ts';
import { Fixture } from '../sessions/fixture.ts';
import { ConfigSchema } from '../../src/config/index.ts';
import { limitsOf } from '../../src/server.ts';

describe('OpenAPI document', () => {
  const doc = openApiDocument() as { openapi: string; paths: Record<string, Record<string, unknown>> };
  const routed = new Set<string>();
  let f: Fixture;
  beforeAll(async () => {
    f = await Fixture.open();
    const router = restRouter(await f.node(), { guard: guardOf(undefined), limits: limitsOf(ConfigSchema.parse({})) });
    for (const layer of router.stack) {
      for (const m of layer.methods) if (m !== 'HEAD') routed.add(`${m.toLowerCase()} ${openApiPath(String(layer.path))}`);
    }
    routed.delete(`get ${OPENAPI_PATH}`);
  });
  afterAll(() => f.close());
  const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)));

  it('is OpenAPI 3.1', () => {
    expect(doc.openapi).toBe('3.1.0');
  });

  it('documents every route and routes every documented operation', () => {
    expect([...documented].sort()).toEqual([...routed].sort());
  });

  it('documents what POST /api/exec reads besides the body: scalar query parameters, Idempotency-Key, and its 415', () => {
    const run = doc.paths['/api/exec']!.post as { parameters: Array<{ name: string; in: string }>; responses: Record<string, unknown> };
    const where = (name: string) => run.parameters.find((p) => p.name === name)?.in;
    // src/api/rest.ts merges the query string under the body; a raw script body needs it.
    for (const name of ['wait', 'session', 'heap', 'language', 'heap_memory_max_mb', 'execution_timeout_secs', 'async']) expect(where(name)).toBe('query');
    expect(where('code')).toBeUndefined();
    expect(where('tags')).toBeUndefined(); // an object: body only
    expect(where('Idempotency-Key')).toBe('header');
    expect(Object.keys(run.responses)).toEqual(expect.arrayContaining(['200', '202', '400', '413', '415', '429']));
    const cancel = doc.paths['/api/executions/{execution_id}/cancel']!.post as { responses: Record<string, unknown> };
    expect(Object.keys(cancel.responses)).not.toContain('415');
  });

  it('documents POST /api/exec as a form too: text fields, inputs and tags as JSON text, any other part an input file', () => {
    const run = doc.paths['/api/exec']!.post as { requestBody: { content: Record<string, { schema: any; encoding?: Record<string, unknown> }> } };
    const form = run.requestBody.content['multipart/form-data']!;
    expect(form.schema.required).toEqual(['code']);
    expect(Object.keys(form.schema.properties)).toEqual(expect.arrayContaining(['code', 'session', 'inputs', 'tags', 'wait']));
    expect(form.schema.properties.files).toBeUndefined(); // files are the parts themselves
    expect(form.schema.additionalProperties).toMatchObject({ type: 'string', format: 'binary' });
    expect(form.encoding).toEqual({ inputs: { contentType: 'application/json' }, tags: { contentType: 'application/json' } });
    const cancel = doc.paths['/api/executions/{execution_id}/cancel']!.post as { requestBody?: { content: Record<string, unknown> } };
    expect(cancel.requestBody?.content['multipart/form-data']).toBeUndefined();
  });

  it('declares every path parameter it uses', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const op of Object.values(ops) as Array<{ parameters: Array<{ name: string; in: string }> }>) {
        expect(op.parameters.filter((p) => p.in === 'path').map((p) => p.name).sort()).toEqual(names.sort());
      }
    }
  });
});
