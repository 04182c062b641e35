import * as oauth from 'oauth4webapi';
import { decodeProtectedHeader, importJWK, SignJWT, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookieOf, formFields, MACHINE_SECRET, PASSWORD, SharedLog, startNode, type AuthNode } from './harness.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
const insecure = { [oauth.allowInsecureRequests]: true };

let log: SharedLog;
let n1: AuthNode; // issuer = n1's URL: the cluster's public origin
let n2: AuthNode; // same cluster, another node
let as: oauth.AuthorizationServer;
let asAtN2: oauth.AuthorizationServer; // the same server's endpoints, reached through node 2

beforeAll(async () => {
  log = new SharedLog();
  n1 = await startNode(log);
  n2 = await startNode(log, { issuer: n1.url });
  as = await oauth.processDiscoveryResponse(new URL(n1.url), await oauth.discoveryRequest(new URL(n1.url), { algorithm: 'oauth2', ...insecure }));
  const viaN2 = (u: string | undefined) => u!.replace(n1.url, n2.url);
  asAtN2 = { ...as, token_endpoint: viaN2(as.token_endpoint), revocation_endpoint: viaN2(as.revocation_endpoint), introspection_endpoint: viaN2(as.introspection_endpoint) };
});
afterAll(async () => {
  await Promise.all([n1?.close(), n2?.close()]);
});

async function register(metadata: Record<string, unknown> = {}): Promise<oauth.Client> {
  const res = await oauth.dynamicClientRegistrationRequest(as, { redirect_uris: [REDIRECT], client_name: 'Test <Agent>', ...metadata }, insecure);
  return oauth.processDynamicClientRegistrationResponse(res);
}

const auth = (client: oauth.Client) =>
  client.token_endpoint_auth_method === 'none' ? oauth.None() : oauth.ClientSecretBasic(client.client_secret as string);

/** Browser part of the flow: authorize page → sign-in POST → consent POST → redirect carrying the code. */
async function signInAndConsent(node: AuthNode, params: Record<string, string>, user = 'alice', password = PASSWORD): Promise<URL> {
  const page = await fetch(`${node.url}/oauth/authorize?${new URLSearchParams(params)}`);
  expect(page.status).toBe(200);
  expect(page.headers.get('x-frame-options')).toBe('DENY');
  const cookie = cookieOf(page);
  const signIn = await fetch(`${node.url}/oauth/authorize`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...formFields(await page.text()), username: user, password }),
  });
  const consentHtml = await signIn.text();
  expect(signIn.status, consentHtml).toBe(200);
  expect(consentHtml).toContain('Allow access?');
  expect(consentHtml).toContain('Test &#60;Agent&#62;');
  const consent = await fetch(`${node.url}/oauth/authorize`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...formFields(consentHtml), decision: 'allow' }),
  });
  expect(consent.status).toBe(303);
  return new URL(consent.headers.get('location')!);
}

async function authorizationCode(client: oauth.Client, scope = 'raftbox:run raftbox:read') {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const params = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    scope,
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    resource: `${n1.url}/mcp`,
  };
  const callback = await signInAndConsent(n1, params);
  return { verifier, callback: oauth.validateAuthResponse(as, client, callback, state) };
}

async function tokensFor(client: oauth.Client, at = asAtN2) {
  const { verifier, callback } = await authorizationCode(client);
  const res = await oauth.authorizationCodeGrantRequest(at, client, auth(client), callback, REDIRECT, verifier, insecure);
  return oauth.processAuthorizationCodeResponse(at, client, res);
}

const call = (node: AuthNode, token: string, path = '/mcp') =>
  fetch(`${node.url}${path}`, { method: path === '/mcp' ? 'POST' : 'GET', headers: { authorization: `Bearer ${token}` } });

async function expectRejected(res: Response, status: number, error: string) {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: string };
  expect(body.error).toBe(error);
  return res;
}

const tokenRequest = (node: AuthNode, params: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${node.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(params) });

describe('discovery', () => {
  it('publishes RFC 8414 and RFC 9728 metadata, and 401s point at it', async () => {
    expect(as.code_challenge_methods_supported).toEqual(['S256']);
    expect(as.issuer).toBe(n1.url);
    const root = await (await fetch(`${n2.url}/.well-known/oauth-protected-resource`)).json();
    expect(root).toMatchObject({ resource: n1.url, authorization_servers: [n1.url], scopes_supported: ['raftbox:run', 'raftbox:read'] });
    const mcp = (await (await fetch(`${n2.url}/.well-known/oauth-protected-resource/mcp`)).json()) as { resource: string };
    expect(mcp.resource).toBe(`${n1.url}/mcp`);

    const res = await fetch(`${n2.url}/mcp`, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${n1.url}/.well-known/oauth-protected-resource/mcp", scope="raftbox:run"`);
    const api = await fetch(`${n2.url}/api/whoami`);
    expect(api.headers.get('www-authenticate')).toContain(`resource_metadata="${n1.url}/.well-known/oauth-protected-resource/api"`);
  });
});

describe('authorization code flow across two nodes', () => {
  it('registers, signs in, consents, redeems at the other node, and calls a protected route', async () => {
    const client = await register({ token_endpoint_auth_method: 'none' });
    expect(client.client_secret).toBeUndefined();
    const tokens = await tokensFor(client);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.scope).toBe('raftbox:run raftbox:read');
    expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const res = await call(n1, tokens.access_token);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ principal: { subject: 'alice', scopes: ['raftbox:run', 'raftbox:read'], clientId: client.client_id } });
    expect((await call(n2, tokens.access_token, '/api/whoami')).status).toBe(200);
  });

  it('confidential clients authenticate with a secret (basic and post)', async () => {
    const basic = await register();
    expect(basic.client_secret).toEqual(expect.any(String));
    expect((await tokensFor(basic)).access_token).toBeTruthy();
    const post = await register({ token_endpoint_auth_method: 'client_secret_post' });
    const { verifier, callback } = await authorizationCode(post);
    const res = await oauth.authorizationCodeGrantRequest(as, post, oauth.ClientSecretPost(post.client_secret as string), callback, REDIRECT, verifier, insecure);
    expect((await oauth.processAuthorizationCodeResponse(as, post, res)).access_token).toBeTruthy();
  });

  it('returns state and iss, and answers a denial with access_denied', async () => {
    const client = await register({ token_endpoint_auth_method: 'none' });
    const page = await fetch(`${n1.url}/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, state: 'xyz', code_challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()), code_challenge_method: 'S256' })}`);
    const cookie = cookieOf(page);
    const signIn = await fetch(`${n1.url}/oauth/authorize`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ ...formFields(await page.text()), username: 'alice', password: PASSWORD }) });
    const deny = await fetch(`${n2.url}/oauth/authorize`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ ...formFields(await signIn.text()), decision: 'deny' }) });
    const location = new URL(deny.headers.get('location')!);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({ error: 'access_denied', state: 'xyz', iss: n1.url });
  });

  it('refuses a wrong password, a missing CSRF cookie, and a forged consent ticket', async () => {
    const client = await register({ token_endpoint_auth_method: 'none' });
    const q = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, code_challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()), code_challenge_method: 'S256' });
    const page = await fetch(`${n1.url}/oauth/authorize?${q}`);
    const fields = formFields(await page.text());
    const post = (body: Record<string, string>, cookie = cookieOf(page)) =>
      fetch(`${n1.url}/oauth/authorize`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
    const wrong = await post({ ...fields, username: 'alice', password: 'nope' });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('Wrong username or password');
    expect((await post({ ...fields, username: 'alice', password: PASSWORD }, '')).status).toBe(403);
    const forged = await post({ ...fields, step: 'consent', ticket: 'x.y.z', decision: 'allow' });
    expect(forged.status).toBe(401);
  });
});

describe('hardening (issue #12)', () => {
  const authorizeQuery = async (client: oauth.Client) =>
    new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, code_challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()), code_challenge_method: 'S256' });

  it('answers a repeated authorize parameter with a 400 page, not a 500', async () => {
    const client = await register({ token_endpoint_auth_method: 'none' });
    const res = await fetch(`${n1.url}/oauth/authorize?${await authorizeQuery(client)}&redirect_uri=b`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('parameter redirect_uri must be given once');
  });

  it('spends a consent ticket with the code it approves: posting the consent again mints nothing', async () => {
    const client = await register({ token_endpoint_auth_method: 'none' });
    const page = await fetch(`${n1.url}/oauth/authorize?${await authorizeQuery(client)}`);
    const cookie = cookieOf(page);
    const post = (node: AuthNode, body: Record<string, string>) =>
      fetch(`${node.url}/oauth/authorize`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
    const consentHtml = await (await post(n1, { ...formFields(await page.text()), username: 'alice', password: PASSWORD })).text();
    const consent = { ...formFields(consentHtml), decision: 'allow' };
    expect((await post(n1, consent)).status).toBe(303);
    const again = await post(n2, consent);
    expect(again.status).toBe(401);
    expect(await again.text()).toContain('This consent was already given');
  });

  it('tells a registered client nothing about another client\'s access token; its own and a configured client\'s still work', async () => {
    const owner = await register();
    const tokens = await tokensFor(owner);
    const introspect = (id: string, secret: string) =>
      fetch(as.introspection_endpoint!, { method: 'POST', headers: { authorization: `Basic ${btoa(`${id}:${secret}`)}`, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: tokens.access_token }) }).then((r) => r.json());
    const stranger = await register();
    expect(await introspect(stranger.client_id, stranger.client_secret as string)).toEqual({ active: false });
    expect(await introspect(owner.client_id, owner.client_secret as string)).toMatchObject({ active: true, sub: 'alice' });
    expect(await introspect('k6', MACHINE_SECRET)).toMatchObject({ active: true, sub: 'alice' });
  });

  it('slows down password guessing per account, with a clear message, and other accounts are unaffected', async () => {
    const client = await register({ token_endpoint_auth_method: 'none' });
    const page = await fetch(`${n1.url}/oauth/authorize?${await authorizeQuery(client)}`);
    const fields = formFields(await page.text());
    const signIn = (username: string, password: string) =>
      fetch(`${n1.url}/oauth/authorize`, { method: 'POST', headers: { cookie: cookieOf(page), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ ...fields, username, password }) });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await signIn('bob', `guess ${i}`)).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toContain(429);
    const locked = await signIn('bob', PASSWORD);
    expect(locked.status).toBe(429);
    expect(locked.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await locked.text()).toContain('Too many wrong passwords for this account');
    expect((await signIn('alice', PASSWORD)).status).toBe(200);
  });

  it('slows down client-secret guessing per client with 429 slow_down and Retry-After', async () => {
    const client = await register();
    const guess = (secret: string) => tokenRequest(n1, { grant_type: 'refresh_token', refresh_token: 'x.y' }, { authorization: `Basic ${btoa(`${client.client_id}:${secret}`)}` });
    for (let i = 0; i < 5; i++) await expectRejected(await guess(`wrong ${i}`), 401, 'invalid_client');
    await guess('wrong 5');
    const locked = await expectRejected(await guess(client.client_secret as string), 429, 'slow_down');
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('refresh tokens', () => {
  it('rotate on every use; a reused token revokes the whole family and its access tokens', async () => {
    const client = await register({ token_endpoint_auth_method: 'none' });
    const first = await tokensFor(client);
    const rotated = await oauth.processRefreshTokenResponse(asAtN2, client, await oauth.refreshTokenGrantRequest(asAtN2, client, oauth.None(), first.refresh_token!, insecure));
    expect(rotated.refresh_token).not.toBe(first.refresh_token);
    expect((await call(n1, rotated.access_token)).status).toBe(200);

    // The superseded token comes back (at the other node): theft assumed, everything revoked.
    const reuse = await tokenRequest(n1, { grant_type: 'refresh_token', refresh_token: first.refresh_token!, client_id: client.client_id });
    await expectRejected(reuse, 400, 'invalid_grant');
    await expectRejected(await tokenRequest(n2, { grant_type: 'refresh_token', refresh_token: rotated.refresh_token!, client_id: client.client_id }), 400, 'invalid_grant');
    await expectRejected(await call(n2, rotated.access_token), 401, 'invalid_token');
  });

  it('may narrow scope but never widen it, and belongs to its client', async () => {
    const client = await register({ token_endpoint_auth_method: 'none', scope: 'raftbox:read' });
    const { verifier, callback } = await authorizationCode(client, 'raftbox:read');
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), callback, REDIRECT, verifier, insecure));
    await expectRejected(await call(n1, tokens.access_token), 403, 'insufficient_scope');
    const other = await register({ token_endpoint_auth_method: 'none' });
    await expectRejected(await tokenRequest(n1, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: other.client_id }), 400, 'invalid_grant');
    await expectRejected(await tokenRequest(n1, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: client.client_id, scope: 'raftbox:run' }), 400, 'invalid_scope');
  });
});

describe('revocation and introspection', () => {
  it('a revocation at node 1 is enforced at node 2; introspection reports it', async () => {
    const client = await register();
    const tokens = await tokensFor(client);
    const introspect = async (token: string) =>
      (await fetch(asAtN2.introspection_endpoint!, { method: 'POST', headers: { authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }) })).json();
    expect(await introspect(tokens.access_token)).toMatchObject({ active: true, sub: 'alice', client_id: client.client_id, aud: n1.url, iss: n1.url });
    expect(await introspect(tokens.refresh_token!)).toMatchObject({ active: true, token_type: 'refresh_token' });

    const revoked = await oauth.revocationRequest(as, client, auth(client), tokens.access_token, insecure);
    await oauth.processRevocationResponse(revoked);
    await expectRejected(await call(n2, tokens.access_token), 401, 'invalid_token');
    expect(await introspect(tokens.access_token)).toEqual({ active: false });

    await oauth.processRevocationResponse(await oauth.revocationRequest(asAtN2, client, auth(client), tokens.refresh_token!, insecure));
    expect(await introspect(tokens.refresh_token!)).toEqual({ active: false });
    await expectRejected(await tokenRequest(n1, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` }), 400, 'invalid_grant');
  });

  it('introspection needs client authentication', async () => {
    const res = await fetch(as.introspection_endpoint!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=abc' });
    await expectRejected(res, 401, 'invalid_client');
  });
});

describe('client credentials', () => {
  it('issues machine tokens to configured clients only', async () => {
    const machine: oauth.Client = { client_id: 'k6' };
    const res = await oauth.clientCredentialsGrantRequest(asAtN2, machine, oauth.ClientSecretBasic(MACHINE_SECRET), { scope: 'raftbox:run' }, insecure);
    const tokens = await oauth.processClientCredentialsResponse(asAtN2, machine, res);
    expect(tokens.refresh_token).toBeUndefined();
    expect(await (await call(n1, tokens.access_token)).json()).toEqual({ principal: { subject: 'client:k6', scopes: ['raftbox:run'], clientId: 'k6' } });
    await expectRejected(await call(n1, tokens.access_token, '/api/whoami'), 403, 'insufficient_scope');
    // A dynamically registered client cannot use the grant: registration would be a way around sign-in.
    const dynamic = await register();
    await expectRejected(await tokenRequest(n1, { grant_type: 'client_credentials' }, { authorization: `Basic ${btoa(`${dynamic.client_id}:${dynamic.client_secret}`)}` }), 400, 'unauthorized_client');
    const reg = await fetch(as.registration_endpoint!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [REDIRECT], grant_types: ['client_credentials'] }) });
    await expectRejected(reg, 400, 'invalid_client_metadata');
  });
});

describe('registration validation', () => {
  it.each([
    ['http://example.com/cb', 'invalid_redirect_uri'],
    ['https://example.com/cb#frag', 'invalid_redirect_uri'],
    ['javascript:alert(1)', 'invalid_redirect_uri'],
  ])('refuses redirect_uri %s', async (uri, error) => {
    const res = await fetch(as.registration_endpoint!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [uri] }) });
    await expectRejected(res, 400, error);
  });
});

describe('negative cases', () => {
  let client: oauth.Client;
  beforeAll(async () => {
    client = await register();
  });
  const basic = () => ({ authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` });

  it('no token: 401 without an error code', async () => {
    await expectRejected(await fetch(`${n1.url}/mcp`, { method: 'POST' }), 401, 'unauthorized');
  });

  it('token in the query string: 400 invalid_request', async () => {
    const { access_token } = await tokensFor(client);
    const res = await fetch(`${n1.url}/api/whoami?access_token=${access_token}`);
    await expectRejected(res, 400, 'invalid_request');
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_request"');
  });

  it('tampered token: 401 invalid_token', async () => {
    const { access_token } = await tokensFor(client);
    const [h, p, s] = access_token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'mallory' })).toString('base64url')}.${s}`;
    const res = await expectRejected(await call(n2, forged), 401, 'invalid_token');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer resource_metadata="[^"]+", scope="raftbox:run", error="invalid_token"/);
  });

  it('expired token: 401 invalid_token (a node whose clock is two hours ahead)', async () => {
    const { access_token } = await tokensFor(client);
    const later = await startNode(log, { issuer: n1.url, clockOffsetMs: 2 * 3600_000 });
    try {
      const res = await expectRejected(await call(later, access_token), 401, 'invalid_token');
      expect(res.headers.get('www-authenticate'), res.headers.get('www-authenticate')!).toContain('expired');
    } finally {
      await later.close();
    }
  });

  /** Signs claims with the cluster's real active key, to change exactly one claim. */
  async function signWithClusterKey(overrides: Record<string, unknown>) {
    const kid = n1.state.get('oauth', 'active-key') as string;
    const key = n1.state.get('oauth', `key/${kid}`) as { privateJwk: JWK };
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ scope: 'raftbox:run', client_id: client.client_id, ...overrides })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
      .setIssuer((overrides.iss as string) ?? n1.url)
      .setAudience((overrides.aud as string) ?? n1.url)
      .setSubject('alice')
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .setJti('t-' + Math.random())
      .sign(await importJWK(key.privateJwk, 'ES256'));
  }

  it('control: a token signed with the cluster key and the right claims is accepted', async () => {
    expect((await call(n2, await signWithClusterKey({}))).status).toBe(200);
  });

  it('wrong aud: 401 invalid_token', async () => {
    await expectRejected(await call(n2, await signWithClusterKey({ aud: 'https://elsewhere.example' })), 401, 'invalid_token');
  });

  it('wrong iss: 401 invalid_token', async () => {
    await expectRejected(await call(n2, await signWithClusterKey({ iss: 'https://evil.example' })), 401, 'invalid_token');
  });

  it('untrusted key (our kid, someone else\'s key; and an unknown kid): 401 invalid_token', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const kid = n1.state.get('oauth', 'active-key') as string;
    const now = Math.floor(Date.now() / 1000);
    for (const k of [kid, 'unknown-kid']) {
      const token = await new SignJWT({ scope: 'raftbox:run', client_id: 'x' })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: k })
        .setIssuer(n1.url).setAudience(n1.url).setSubject('alice').setIssuedAt(now).setExpirationTime(now + 60).setJti('j')
        .sign(privateKey);
      await expectRejected(await call(n2, token), 401, 'invalid_token');
    }
  });

  it('revoked token: 401 invalid_token', async () => {
    const { access_token } = await tokensFor(client);
    await tokenRequest(n1, {}, {}); // an unrelated malformed request changes nothing
    await fetch(`${n1.url}/oauth/revoke`, { method: 'POST', headers: { ...basic(), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: access_token }) });
    await expectRejected(await call(n2, access_token), 401, 'invalid_token');
  });

  it('plain PKCE: the authorization request is refused with invalid_request', async () => {
    const res = await fetch(`${n1.url}/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, state: 's', code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' })}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('state')).toBe('s');
  });

  it('unregistered redirect_uri at authorize: an error page, never a redirect', async () => {
    const res = await fetch(`${n1.url}/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: 'https://evil.example/cb', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' })}`, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  it('wrong resource: redirected with invalid_target', async () => {
    const res = await fetch(`${n1.url}/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, resource: 'https://other.example', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' })}`, { redirect: 'manual' });
    expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('invalid_target');
  });

  it('wrong verifier: 400 invalid_grant', async () => {
    const { callback } = await authorizationCode(client);
    const res = await tokenRequest(n2, { grant_type: 'authorization_code', code: callback.get('code')!, redirect_uri: REDIRECT, code_verifier: oauth.generateRandomCodeVerifier() }, basic());
    await expectRejected(res, 400, 'invalid_grant');
  });

  it('reused code: 400 invalid_grant, and the tokens of the first redeem are revoked', async () => {
    const { verifier, callback } = await authorizationCode(client);
    const params = { grant_type: 'authorization_code', code: callback.get('code')!, redirect_uri: REDIRECT, code_verifier: verifier };
    const first = await tokenRequest(n1, params, basic());
    expect(first.status).toBe(200);
    const { access_token, refresh_token } = (await first.json()) as { access_token: string; refresh_token: string };
    await expectRejected(await tokenRequest(n2, params, basic()), 400, 'invalid_grant');
    await expectRejected(await call(n1, access_token), 401, 'invalid_token');
    await expectRejected(await tokenRequest(n1, { grant_type: 'refresh_token', refresh_token }, basic()), 400, 'invalid_grant');
  });

  it('concurrent redeems of one code at two nodes: exactly one wins', async () => {
    const { verifier, callback } = await authorizationCode(client);
    const params = { grant_type: 'authorization_code', code: callback.get('code')!, redirect_uri: REDIRECT, code_verifier: verifier };
    const statuses = (await Promise.all([tokenRequest(n1, params, basic()), tokenRequest(n2, params, basic())])).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 400]);
  });

  it('wrong redirect_uri at the token endpoint: 400 invalid_grant', async () => {
    const { verifier, callback } = await authorizationCode(client);
    const res = await tokenRequest(n2, { grant_type: 'authorization_code', code: callback.get('code')!, redirect_uri: 'http://127.0.0.1:9/other', code_verifier: verifier }, basic());
    await expectRejected(res, 400, 'invalid_grant');
  });

  it('wrong client secret: 401 invalid_client', async () => {
    const { verifier, callback } = await authorizationCode(client);
    const res = await tokenRequest(n2, { grant_type: 'authorization_code', code: callback.get('code')!, redirect_uri: REDIRECT, code_verifier: verifier }, { authorization: `Basic ${btoa(`${client.client_id}:wrong`)}` });
    await expectRejected(res, 401, 'invalid_client');
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="raftbox"');
  });
});

describe('signing keys and pruning', () => {
  it('rotation keeps old keys published and valid until their tokens expire; expired state is pruned', async () => {
    const client = await register({ token_endpoint_auth_method: 'none' });
    const old = await tokensFor(client);
    const oldKid = decodeProtectedHeader(old.access_token).kid;
    // A node 31 days ahead finds the key due for rotation, installs a new one for the whole cluster.
    const future = await startNode(log, { issuer: n1.url, clockOffsetMs: 31 * 86400_000 });
    try {
      const machine: oauth.Client = { client_id: 'k6' };
      const asAtFuture = { ...as, token_endpoint: `${future.url}/oauth/token` };
      const res = await oauth.clientCredentialsGrantRequest(asAtFuture, machine, oauth.ClientSecretBasic(MACHINE_SECRET), {}, insecure);
      const fresh = await oauth.processClientCredentialsResponse(asAtFuture, machine, res);
      const newKid = decodeProtectedHeader(fresh.access_token).kid;
      expect(newKid).not.toBe(oldKid);
      const jwks = (await (await fetch(`${n2.url}/oauth/jwks`)).json()) as { keys: Array<{ kid: string }> };
      expect(jwks.keys.map((k) => k.kid).sort()).toEqual([oldKid, newKid].sort());
      expect((await call(n2, old.access_token)).status).toBe(200); // old key still trusted
      expect((await call(n2, fresh.access_token)).status).toBe(200); // new key trusted everywhere

      expect(n1.state.scan('oauth', 'code/').length).toBeGreaterThan(0);
      await future.gate.pruneExpired();
      expect(n1.state.scan('oauth', 'code/')).toEqual([]);
      expect(n2.state.scan('oauth', 'revoked/')).toEqual([]);
    } finally {
      await future.close();
    }
  });
});
