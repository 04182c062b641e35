import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restRouter, OPENAPI_PATH } from '../../src/api/rest.ts';
import { openApiDocument, openApiPath } from '../../src/api/openapi.ts';
import { guardOf } from '../../src/http/index.ts';
import { Fixture } from '../sessions/fixture.ts';

describe('OpenAPI document', () => {
  const doc = openApiDocument() as { openapi: string; paths: Record<string, Record<string, unknown>> };
  const routed = new Set<string>();
  let f: Fixture;
  beforeAll(async () => {
    f = await Fixture.open();
    const router = restRouter(await f.node(), { guard: guardOf(undefined), limits: { maxWaitMs: 1000 } });
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

  it('declares every path parameter it uses', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const op of Object.values(ops) as Array<{ parameters: Array<{ name: string; in: string }> }>) {
        expect(op.parameters.filter((p) => p.in === 'path').map((p) => p.name).sort()).toEqual(names.sort());
      }
    }
  });
});
