import * as oauth from 'oauth4webapi';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookieOf, formFields, PASSWORD, SharedLog, startNode, type AuthNode } from './harness.ts';

// Client authentication with a signed JWT (RFC 7523, private_key_jwt) at the built-in server: a
// registered client with a public key, on two nodes sharing one log (a jti spent at one node is
// spent at the other).

const REDIRECT = 'http://127.0.0.1:9/callback';
const insecure = { [oauth.allowInsecureRequests]: true };
const ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let log: SharedLog;
let n1: AuthNode;
let n2: AuthNode;
let as: oauth.AuthorizationServer;
let keys: { privateKey: CryptoKey; publicKey: CryptoKey };
let client: oauth.Client;

beforeAll(async () => {
  log = new SharedLog();
  n1 = await startNode(log);
  n2 = await startNode(log, { issuer: n1.url });
  as = await oauth.processDiscoveryResponse(new URL(n1.url), await oauth.discoveryRequest(new URL(n1.url), { algorithm: 'oauth2', ...insecure }));
  keys = await generateKeyPair('ES256', { extractable: true });
  const res = await oauth.dynamicClientRegistrationRequest(
    as,
    { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(keys.publicKey)), alg: 'ES256' }] } },
    insecure,
  );
  client = await oauth.processDynamicClientRegistrationResponse(res);
});
afterAll(async () => {
  await Promise.all([n1?.close(), n2?.close()]);
});

/** A code for `client`, through the sign-in and consent pages. */
async function codeFor(verifier: string): Promise<URLSearchParams> {
  const params = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    scope: 'raftbox:read',
    state: 's',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  };
  const page = await fetch(`${n1.url}/oauth/authorize?${new URLSearchParams(params)}`);
  const cookie = cookieOf(page);
  const form = (html: string, extra: Record<string, string>) =>
    fetch(`${n1.url}/oauth/authorize`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ ...formFields(html), ...extra }) });
  const consent = await form(await page.text(), { username: 'alice', password: PASSWORD });
  const done = await form(await consent.text(), { decision: 'allow' });
  return oauth.validateAuthResponse(as, client, new URL(done.headers.get('location')!), 's');
}

/** An assertion for `client`, valid unless `claims` says otherwise. */
const assertion = (claims: Record<string, unknown> = {}, key: CryptoKey = keys.privateKey) => {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: client.client_id, sub: client.client_id, aud: n1.url, iat: now, exp: now + 60, jti: crypto.randomUUID(), ...claims };
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256' }).sign(key);
};

const token = (node: AuthNode, form: Record<string, string>) =>
  fetch(`${node.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });

describe('private_key_jwt client authentication', () => {
  it('is advertised, and registration keeps the public key and hands out no secret', async () => {
    expect(as.token_endpoint_auth_methods_supported).toContain('private_key_jwt');
    expect(as.token_endpoint_auth_signing_alg_values_supported).toContain('ES256');
    expect(client.client_secret).toBeUndefined();
    expect(client.token_endpoint_auth_method).toBe('private_key_jwt');
  });

  it('redeems a code at another node with an assertion signed by the registered key (oauth4webapi\'s PrivateKeyJwt)', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const callback = await codeFor(verifier);
    const at2 = { ...as, token_endpoint: as.token_endpoint!.replace(n1.url, n2.url) };
    const res = await oauth.authorizationCodeGrantRequest(at2, client, oauth.PrivateKeyJwt(keys.privateKey), callback, REDIRECT, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(at2, client, res);
    expect(tokens.scope).toBe('raftbox:read');
  });

  it('refuses an assertion used twice, even at the other node', async () => {
    const once = await assertion();
    const form = (code: string) => ({ grant_type: 'authorization_code', code, client_assertion_type: ASSERTION, client_assertion: once, redirect_uri: REDIRECT, code_verifier: 'v'.repeat(43) });
    // The first use authenticates (the code itself is wrong: invalid_grant, after authentication).
    expect(await (await token(n1, form('nope'))).json()).toMatchObject({ error: 'invalid_grant' });
    const replay = await token(n2, form('nope'));
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: 'invalid_client', error_description: expect.stringMatching(/already used/) });
  });

  it('refuses a wrong key, a wrong audience, an expired or too long-lived assertion, and no jti, each with invalid_client', async () => {
    const other = await generateKeyPair('ES256');
    const cases: Array<[Promise<string>, RegExp]> = [
      [assertion({}, other.privateKey), /no applicable key found|signature verification failed/],
      [assertion({ aud: 'https://elsewhere.example' }), /"aud" claim/],
      [assertion({ exp: Math.floor(Date.now() / 1000) - 120 }), /"exp" claim/],
      [assertion({ exp: Math.floor(Date.now() / 1000) + 3600 }), /lives too long/],
      [assertion({ jti: undefined }), /"jti" claim/],
    ];
    for (const [made, why] of cases) {
      const res = await token(n1, { grant_type: 'authorization_code', code: 'x', client_assertion_type: ASSERTION, client_assertion: await made });
      const body = (await res.json()) as { error: string; error_description: string };
      expect([res.status, body.error], body.error_description).toEqual([401, 'invalid_client']);
      expect(body.error_description).toMatch(why);
    }
  });

  it('refuses two authentication methods at once, a wrong assertion type, and an assertion from a client registered with a secret', async () => {
    const both = await fetch(`${n1.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa('a:b')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x', client_assertion_type: ASSERTION, client_assertion: await assertion() }),
    });
    expect(await both.json()).toMatchObject({ error: 'invalid_request', error_description: 'use one client authentication method' });
    const type = await token(n1, { grant_type: 'authorization_code', code: 'x', client_assertion_type: 'urn:other', client_assertion: await assertion() });
    expect(await type.json()).toMatchObject({ error: 'invalid_request' });
    const secretClient = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, { redirect_uris: [REDIRECT] }, insecure));
    const forged = await assertion({ iss: secretClient.client_id, sub: secretClient.client_id });
    const res = await token(n1, { grant_type: 'authorization_code', code: 'x', client_assertion_type: ASSERTION, client_assertion: forged });
    expect(await res.json()).toMatchObject({ error: 'invalid_client', error_description: 'this client does not authenticate with private_key_jwt' });
  });

  it('registration refuses private_key_jwt without public keys, or with private ones (keys at a jwks_uri: client-jwks-uri.test.ts)', async () => {
    const register = (meta: Record<string, unknown>) => fetch(`${n1.url}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt', ...meta }) });
    expect(await (await register({})).json()).toMatchObject({ error: 'invalid_client_metadata', error_description: 'private_key_jwt needs the client\'s public keys: jwks or jwks_uri' });
    const priv = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
    expect(await (await register({ jwks: { keys: [priv] } })).json()).toMatchObject({ error: 'invalid_client_metadata', error_description: 'jwks must hold public keys only' });
  });
});
