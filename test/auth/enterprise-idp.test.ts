import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/index.ts';
import { IdentityAssertionGrant } from '../../src/auth/identity-assertion-grant.ts';
import { ProtectedResource } from '../../src/auth/protected-resource.ts';
import { RemoteKeySets } from '../../src/auth/remote-key-sets.ts';
import { json, MACHINE_SECRET, SharedLog, startNode, startPublisher, type AuthNode, type Publisher } from './harness.ts';

// MCP enterprise-managed authorization at the built-in server: a client presents an ID-JAG, minted here
// as an enterprise IdP would after its token exchange, with the jwt-bearer grant. The IdP's keys are
// served by a JWKS endpoint on loopback started here; two nodes share one log, so a jti spent at one
// is spent at the other.

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const IDP = 'https://idp.example.com';
const OTHER_IDP = 'https://other-idp.example.com';
const DOWN_IDP = 'https://down-idp.example.com';
const USER = 'U019488227';

let jwks: Publisher;
let idpKey: { privateKey: CryptoKey; jwk: JWK };
let otherIdpKey: { privateKey: CryptoKey; jwk: JWK };

let log: SharedLog;
let n1: AuthNode;
let n2: AuthNode;
let plain: AuthNode; // no enterprise IdP configured

const keyPair = async (kid: string) => {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' } };
};

beforeAll(async () => {
  [idpKey, otherIdpKey] = await Promise.all([keyPair('idp-1'), keyPair('other-1')]);
  jwks = await startPublisher();
  jwks.served.set('/idp/jwks', json({ keys: [idpKey.jwk] }, { 'content-type': 'application/jwk-set+json' }));
  jwks.served.set('/down/jwks', (_req, res) => res.writeHead(500).end());
  const secretHash = await hashPassword(MACHINE_SECRET);
  const clients = ['agent', 'other-agent', 'unlisted'].map((clientId) => ({ clientId, secretHash, scope: 'raftbox:run raftbox:read' }));
  const enterpriseIdps = [
    { issuer: IDP, jwksUri: `${jwks.url}/idp/jwks`, clients: ['agent', 'other-agent'] },
    { issuer: OTHER_IDP, jwks: { keys: [otherIdpKey.jwk] }, clients: ['*'], scopes: ['raftbox:read'] },
    { issuer: DOWN_IDP, jwksUri: `${jwks.url}/down/jwks`, clients: ['*'] },
  ];
  log = new SharedLog();
  n1 = await startNode(log, { clients, enterpriseIdps });
  n2 = await startNode(log, { issuer: n1.url, clients, enterpriseIdps });
  plain = await startNode(new SharedLog());
});
afterAll(async () => {
  await Promise.all([n1?.close(), n2?.close(), plain?.close()]);
  await jwks?.close();
});
beforeEach(() => jwks.fetches.clear());

/** An ID-JAG as IDP issues it to `agent` for this server, unless `claims` or `header` say otherwise. */
function idJag(claims: Record<string, unknown> = {}, header: { typ?: string; kid?: string } = {}, key = idpKey.privateKey): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: IDP, sub: USER, aud: n1.url, resource: n1.url, client_id: 'agent', scope: 'raftbox:run raftbox:read', jti: crypto.randomUUID(), iat: now, exp: now + 300, ...claims };
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'oauth-id-jag+jwt', kid: 'idp-1', ...header }).sign(key);
}

/** The jwt-bearer grant at `node`, `client` authenticating with its secret. */
async function exchange(node: AuthNode, assertion: string, client = 'agent', extra: Record<string, string> = {}) {
  const res = await fetch(`${node.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`${client}:${MACHINE_SECRET}`)}` },
    body: new URLSearchParams({ grant_type: JWT_BEARER, assertion, ...extra }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

describe('enterprise-managed authorization (ID-JAG with the jwt-bearer grant)', () => {
  it('is advertised when an IdP is configured, and is an unsupported grant type otherwise', async () => {
    const meta = async (node: AuthNode) => ((await (await fetch(`${node.url}/.well-known/oauth-authorization-server`)).json()) as { grant_types_supported: string[] }).grant_types_supported;
    expect(await meta(n1)).toContain(JWT_BEARER);
    expect(await meta(plain)).not.toContain(JWT_BEARER);
    const res = await fetch(`${plain.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`k6:${MACHINE_SECRET}`)}` },
      body: new URLSearchParams({ grant_type: JWT_BEARER, assertion: await idJag() }),
    });
    expect([res.status, await res.json()]).toEqual([400, { error: 'unsupported_grant_type', error_description: `grant_type ${JWT_BEARER} is not supported` }]);
  });

  it('accepts an ID-JAG: an access token for the user the IdP asserted, no refresh token, good on /mcp at another node', async () => {
    const { status, body } = await exchange(n2, await idJag());
    expect(status).toBe(200);
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'raftbox:run raftbox:read', expires_in: 600 });
    expect(body.refresh_token).toBeUndefined();
    const mcp = await fetch(`${n1.url}/mcp`, { method: 'POST', headers: { authorization: `Bearer ${body.access_token}` } });
    expect(mcp.status).toBe(200);
    expect(await mcp.json()).toEqual({ principal: { subject: `${IDP}#${USER}`, scopes: ['raftbox:run', 'raftbox:read'], clientId: 'agent' } });
    expect(jwks.fetches.get('/idp/jwks')).toBe(1);
  });

  it('refuses a replayed ID-JAG, even at the other node', async () => {
    const once = await idJag();
    expect((await exchange(n1, once)).status).toBe(200);
    expect(await exchange(n2, once)).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'the ID-JAG was already used (its jti)' } });
  });

  it('refuses a wrong audience, an untrusted issuer, an expired, too long-lived or future ID-JAG, another resource, another typ, another key, no jti: invalid_grant saying why', async () => {
    const now = Math.floor(Date.now() / 1000);
    const stranger = await keyPair('idp-1');
    const cases: Array<[Promise<string>, RegExp]> = [
      [idJag({ aud: 'https://elsewhere.example' }), /unexpected "aud" claim value/],
      [idJag({ aud: `${n1.url}/oauth/token` }), /unexpected "aud" claim value/],
      [idJag({ iss: 'https://evil.example' }), /issuer https:\/\/evil.example is not a trusted identity provider/],
      [idJag({ iat: now - 900, exp: now - 600 }), /"exp" claim timestamp check failed/],
      [idJag({ exp: now + 7200 }), /lives too long/],
      [idJag({ iat: now + 120 }), /"iat" claim timestamp check failed \(it should be in the past\)/],
      [idJag({ resource: 'https://other-mcp.example' }), /for another resource/],
      [idJag({}, { typ: 'JWT' }), /unexpected "typ" JWT header value/],
      [idJag({}, {}, stranger.privateKey), /signature verification failed/],
      [idJag({ jti: undefined }), /missing required "jti" claim/],
      [idJag({ client_id: undefined }), /missing required "client_id" claim/],
    ];
    for (const [made, why] of cases) {
      const { status, body } = await exchange(n1, await made);
      expect([status, body.error], body.error_description).toEqual([400, 'invalid_grant']);
      expect(body.error_description).toMatch(why);
    }
  });

  it('binds the ID-JAG to its client: another client, a client the IdP config does not list, a public client, a wrong secret', async () => {
    // Issued to agent, presented by other-agent (which the IdP config lists): not its grant.
    expect(await exchange(n1, await idJag(), 'other-agent')).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'the ID-JAG was issued to another client (its client_id is not the authenticated client)' },
    });
    const unlisted = await exchange(n1, await idJag({ client_id: 'unlisted' }), 'unlisted');
    expect(unlisted).toEqual({ status: 400, body: { error: 'unauthorized_client', error_description: `client unlisted may not present ID-JAGs from ${IDP}` } });
    const registered = await fetch(`${n1.url}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', JWT_BEARER] }),
    });
    const { client_id: publicClient } = (await registered.json()) as { client_id: string };
    const res = await fetch(`${n1.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: JWT_BEARER, client_id: publicClient, assertion: await idJag({ iss: OTHER_IDP, client_id: publicClient }, { kid: 'other-1' }, otherIdpKey.privateKey) }),
    });
    expect([res.status, await res.json()]).toEqual([400, { error: 'unauthorized_client', error_description: 'the jwt-bearer grant needs client authentication (a secret or private_key_jwt)' }]);
    const wrongSecret = await fetch(`${n1.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa('agent:wrong')}` },
      body: new URLSearchParams({ grant_type: JWT_BEARER, assertion: await idJag() }),
    });
    expect(wrongSecret.status).toBe(401);
  });

  it('issues at most the scopes the IdP config, the client and the ID-JAG allow; the request may narrow them', async () => {
    expect((await exchange(n1, await idJag(), 'agent', { scope: 'raftbox:read' })).body.scope).toBe('raftbox:read');
    expect((await exchange(n1, await idJag({ scope: 'raftbox:read openid' }))).body.scope).toBe('raftbox:read');
    expect(await exchange(n1, await idJag({ scope: 'raftbox:read' }), 'agent', { scope: 'raftbox:run' })).toEqual({ status: 400, body: { error: 'invalid_scope', error_description: 'scope not available: raftbox:run' } });
    expect((await exchange(n1, await idJag({ scope: 'openid' }))).body.error).toBe('invalid_scope');
    // OTHER_IDP's tokens are configured read-only, whatever its ID-JAG says.
    const other = await exchange(n1, await idJag({ iss: OTHER_IDP }, { kid: 'other-1' }, otherIdpKey.privateKey));
    expect(other.body.scope).toBe('raftbox:read');
  });

  it('keeps tenants apart: the same sub from two IdPs is two subjects', async () => {
    const first = await exchange(n1, await idJag());
    const second = await exchange(n1, await idJag({ iss: OTHER_IDP }, { kid: 'other-1' }, otherIdpKey.privateKey));
    const whoami = async (token: string) => ((await (await fetch(`${n1.url}/api/whoami`, { headers: { authorization: `Bearer ${token}` } })).json()) as { principal: { subject: string } }).principal.subject;
    expect(await whoami(first.body.access_token!)).toBe(`${IDP}#${USER}`);
    expect(await whoami(second.body.access_token!)).toBe(`${OTHER_IDP}#${USER}`);
    // And the read-only one cannot run.
    expect((await fetch(`${n1.url}/mcp`, { method: 'POST', headers: { authorization: `Bearer ${second.body.access_token}` } })).status).toBe(403);
  });

  it('an IdP whose keys cannot be fetched: 503 temporarily_unavailable, saying why', async () => {
    const { status, body } = await exchange(n1, await idJag({ iss: DOWN_IDP }));
    expect(status).toBe(503);
    expect(body).toMatchObject({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/the keys of https:\/\/down-idp.example.com cannot be had: .*answered HTTP 500/) });
  });

  it('a misconfigured IdP stops the server at start, naming it', () => {
    const settings = { issuer: 'https://as.example', resource: new ProtectedResource('https://as.example', 'https://as.example'), store: {} as never, keySets: new RemoteKeySets(() => 0), nowSecs: () => 0 };
    const keys = { jwksUri: 'https://idp.example.com/jwks' };
    const make = (idp: Record<string, unknown>) => () => new IdentityAssertionGrant([{ issuer: IDP, clients: ['a'], ...idp } as never], settings);
    expect(make({ ...keys, clients: [] })).toThrow(`oauth.enterpriseIdps ${IDP}: names no clients (use "*" for any client that authenticates)`);
    expect(make({ ...keys, scopes: ['admin'] })).toThrow(/unknown scopes admin/);
    expect(make({ jwksUri: 'http://idp.example.com/jwks' })).toThrow(/must be an https URL \(or http on a loopback address\)/);
    expect(make({ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } })).toThrow(/jwks must hold EC, RSA or OKP public keys only/);
    expect(() => new IdentityAssertionGrant([{ issuer: IDP, clients: ['a'], ...keys }, { issuer: IDP, clients: ['b'], ...keys }], settings)).toThrow(/is named twice/);
  });
});
