import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/index.ts';
import { startTestNode } from './node.ts';

let node: Awaited<ReturnType<typeof startTestNode>>;
beforeAll(async () => {
  node = await startTestNode({ oauth: ConfigSchema.shape.oauth.parse({ enabled: true }) });
});
afterAll(() => node.stop());

describe('a node started with oauth.enabled', () => {
  it('refuses /api and /mcp without a bearer token, with a WWW-Authenticate challenge', async () => {
    for (const [method, path] of [['GET', '/api/executions'], ['POST', '/api/exec'], ['POST', '/mcp']] as const) {
      const res = await fetch(node.url + path, {
        method,
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: method === 'POST' ? '{"code":"1"}' : undefined,
      });
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate'), path).toMatch(/^Bearer /);
    }
  });

  it('keeps health, the OpenAPI document and the OAuth metadata public', async () => {
    for (const path of ['/healthz', '/readyz', '/api/openapi.json', '/.well-known/oauth-protected-resource', '/.well-known/oauth-authorization-server']) {
      expect((await fetch(node.url + path)).status, path).toBe(200);
    }
  });
});
