import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/index.ts';
import { hashPassword } from '../../src/auth/index.ts';
import { startTestNode } from '../e2e/node.ts';
import { modernPost } from './modern-wire.ts';

// The 2026-07-28 authorization SEPs against a real node with the built-in authorization server, and the
// resource server in front of the 2026-07-28 lane. OAUTH.md lists each SEP and what raftbox does.

const SECRET = 'machine-secret-for-tests';
const IDP = 'https://idp.example.com';
let node: Awaited<ReturnType<typeof startTestNode>>;
let idpKey: CryptoKey;

const token = async (scope: string) => {
  const res = await fetch(node.url + '/oauth/token', {
    method: 'POST',
    headers: { authorization: `Basic ${btoa(`machine:${SECRET}`)}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
};

beforeAll(async () => {
  const hash = await hashPassword(SECRET);
  const idp = await generateKeyPair('ES256', { extractable: true });
  idpKey = idp.privateKey;
  const enterpriseIdps = [{ issuer: IDP, jwks: { keys: [{ ...(await exportJWK(idp.publicKey)), kid: 'idp-1' }] }, clients: ['machine'] }];
  node = await startTestNode({ oauth: ConfigSchema.shape.oauth.parse({ enabled: true, clients: { machine: hash }, enterpriseIdps }) });
});
afterAll(() => node?.stop());

describe('MCP 2026-07-28 authorization', () => {
  it('SEP-2468: advertises the iss parameter it puts in every authorization response', async () => {
    const meta = await (await fetch(`${node.url}/.well-known/oauth-authorization-server`)).json();
    expect(meta).toMatchObject({ issuer: node.url, authorization_response_iss_parameter_supported: true });
  });

  it('SEP-837: dynamic registration takes the application_type a client must now send (native and web)', async () => {
    for (const [applicationType, redirect] of [['native', 'http://127.0.0.1:9/callback'], ['web', 'https://agent.example/callback']]) {
      const res = await fetch(`${node.url}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [redirect], application_type: applicationType, token_endpoint_auth_method: 'none' }),
      });
      expect([applicationType, res.status]).toEqual([applicationType, 201]);
      expect(await res.json()).toMatchObject({ client_id: expect.any(String), redirect_uris: [redirect] });
    }
  });

  it('SEP-2207: the resource server names no offline_access, in its metadata or its challenges', async () => {
    const prm = (await (await fetch(`${node.url}/.well-known/oauth-protected-resource/mcp`)).json()) as { scopes_supported: string[] };
    expect(prm.scopes_supported).not.toContain('offline_access');
    const challenge = await modernPost(node.url, 'tools/list');
    expect(challenge.headers.get('www-authenticate')).not.toContain('offline_access');
  });

  it('guards the 2026-07-28 lane like the older one: 401 challenge without a token, 403 for a missing scope', async () => {
    const anonymous = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: '1' } });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${node.url}/.well-known/oauth-protected-resource/mcp", scope="raftbox:run"`);
    const reader = { authorization: `Bearer ${await token('raftbox:read')}` };
    expect((await modernPost(node.url, 'tools/list', {}, reader)).status).toBe(200);
    const denied = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: '1' } }, reader);
    expect(denied.status).toBe(403);
    expect(denied.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    const runner = { authorization: `Bearer ${await token('raftbox:run')}` };
    const ran = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: '1 + 1' } }, runner);
    expect(ran.json.result.structuredContent).toMatchObject({ result: 2 });
  });

  it('enterprise-managed authorization: an ID-JAG from a configured IdP gets a token that runs code as the asserted user', async () => {
    const now = Math.floor(Date.now() / 1000);
    const jag = await new SignJWT({ iss: IDP, sub: 'U1', aud: node.url, resource: `${node.url}/mcp`, client_id: 'machine', jti: crypto.randomUUID(), iat: now, exp: now + 300 })
      .setProtectedHeader({ alg: 'ES256', typ: 'oauth-id-jag+jwt', kid: 'idp-1' })
      .sign(idpKey);
    const res = await fetch(node.url + '/oauth/token', {
      method: 'POST',
      headers: { authorization: `Basic ${btoa(`machine:${SECRET}`)}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jag }),
    });
    expect(res.status).toBe(200);
    const { access_token: accessToken } = (await res.json()) as { access_token: string };
    const ran = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: '6 * 7' } }, { authorization: `Bearer ${accessToken}` });
    expect(ran.json.result.structuredContent).toMatchObject({ result: 42 });
  });

  it('checks the scope of the tool the body names, so a header naming a read-only tool cannot unlock run_js', async () => {
    const reader = { authorization: `Bearer ${await token('raftbox:read')}`, 'mcp-name': 'get_session' };
    const r = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: '1' } }, reader);
    expect(r.status).toBe(403);
  });
});
