import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { Router } from '@koa/router';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExternalAuth, type AuthGate } from '../../src/auth/index.ts';

// Our canonical resource URI (an identifier: the gates below serve it from their own ports), and an
// external authorization server (oidc-provider) on loopback.
const resource = 'https://raftbox.test';
const servers: Server[] = [];

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let issuer: string;

/** oidc-provider issuing client_credentials tokens for our resource, opaque or JWT by resource. */
async function startProvider(): Promise<void> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  let provider: Provider | undefined;
  issuer = await listen((req, res) => provider!.callback()(req, res));
  provider = new Provider(issuer, {
    clients: [
      { client_id: 'raftbox', client_secret: 'raftbox-introspection-secret', grant_types: [], redirect_uris: [], response_types: [] },
      { client_id: 'machine', client_secret: 'machine-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'raftbox:run raftbox:read' },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'op-key', alg: 'ES256', use: 'sig' }] },
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    scopes: ['raftbox:run', 'raftbox:read'],
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        // A `/jwt` suffix on the resource indicator picks JWT tokens; the plain resource gets opaque ones.
        getResourceServerInfo: (_ctx: unknown, indicator: string) => ({
          scope: 'raftbox:run raftbox:read',
          audience: indicator.replace('/jwt', ''),
          accessTokenFormat: indicator.endsWith('/jwt') ? 'jwt' : 'opaque',
          ...(indicator.endsWith('/jwt') ? { jwt: { sign: { alg: 'ES256' } } } : {}),
        }),
      },
    },
  });
}

async function machineToken(opts: { jwt: boolean; scope?: string; audience?: string }): Promise<string> {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${btoa('machine:machine-secret')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: opts.scope ?? 'raftbox:run raftbox:read', resource: `${opts.audience ?? resource}${opts.jwt ? '/jwt' : ''}` }),
  });
  const body = (await res.json()) as { access_token: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.access_token;
}

beforeAll(startProvider);
afterAll(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/** A resource server app around a gate, on its own port. */
async function serve(gate: AuthGate): Promise<string> {
  const app = new Koa();
  const router = new Router();
  router.post('/mcp', gate.requireBearer('raftbox:run'), (ctx) => {
    ctx.body = { principal: ctx.state.principal };
  });
  app.use(gate.routes());
  app.use(router.routes());
  return listen(app.callback());
}

const call = (url: string, token: string) => fetch(`${url}/mcp`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });

describe.each([
  ['introspection', { clientId: 'raftbox', clientSecret: 'raftbox-introspection-secret', tokenFormat: 'introspection' as const }],
  ['JWT', { tokenFormat: 'jwt' as const }],
])('external provider, %s mode', (mode, creds) => {
  let url: string;
  const jwt = mode === 'JWT';
  beforeAll(async () => {
    url = await serve(await createExternalAuth({ providerUrl: issuer, resource, ...creds }));
  });

  it('our metadata points clients at the provider', async () => {
    const doc = (await (await fetch(`${url}/.well-known/oauth-protected-resource`)).json()) as Record<string, unknown>;
    expect(doc).toMatchObject({ resource, authorization_servers: [issuer] });
    expect((await fetch(`${url}/.well-known/oauth-authorization-server`)).status).toBe(404);
  });

  it('accepts a token the provider issued for us', async () => {
    const res = await call(url, await machineToken({ jwt }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ principal: { subject: 'machine', scopes: ['raftbox:run', 'raftbox:read'], clientId: 'machine' } });
  });

  it('refuses a token for another audience with 401 invalid_token', async () => {
    const res = await call(url, await machineToken({ jwt, audience: 'https://other.test' }));
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_token');
  });

  it('answers 403 insufficient_scope when the scope is missing', async () => {
    const res = await call(url, await machineToken({ jwt, scope: 'raftbox:read' }));
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
  });

  it('refuses garbage with 401 invalid_token', async () => {
    expect((await call(url, jwt ? 'a.b.c' : 'not-a-token')).status).toBe(401);
  });
});

describe('external provider discovery', () => {
  it('refuses a provider whose metadata names another issuer', async () => {
    const fake = await listen((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: 'https://evil.example', authorization_endpoint: 'https://evil.example/a', token_endpoint: 'https://evil.example/t', response_types_supported: ['code'], jwks_uri: 'https://evil.example/j' }));
    });
    await expect(createExternalAuth({ providerUrl: fake, resource })).rejects.toThrow(/names issuer/);
  });
});
