import { describe, expect, it } from 'vitest';
import { restRouter, OPENAPI_PATH } from '../../src/api/rest.ts';
import { openApiDocument, openApiPath } from '../../src/api/openapi.ts';
import { guardOf } from '../../src/http/index.ts';
import { fakeDomain } from './fake-domain.ts';

describe('OpenAPI document', () => {
  const doc = openApiDocument() as { openapi: string; paths: Record<string, Record<string, unknown>> };
  const router = restRouter(fakeDomain(), { guard: guardOf(undefined), limits: { maxWaitMs: 1000 } });
  const routed = new Set(
    router.stack.flatMap((layer) =>
      layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m.toLowerCase()} ${openApiPath(String(layer.path))}`),
    ),
  );
  routed.delete(`get ${OPENAPI_PATH}`);
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
