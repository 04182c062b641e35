import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { json, SharedLog, startNode, startPublisher, type AuthNode, type Handler, type Publisher } from './harness.ts';

// Client assertions (private_key_jwt) checked with keys published at a jwks_uri, served by a key-set
// server on loopback started here: for a registered client, a metadata-document client and an
// operator-configured machine client. Callers' URLs are fetched in `loopback` mode (the development and
// test setting), the operator's as configured; each node caches a set, and refetches it for a kid it
// lacks at most once a minute.

const REDIRECT = 'http://127.0.0.1:9/callback';
const ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let sets: Publisher;
let setsUrl: string;
let served: Publisher['served'];
let fetches: Publisher['fetches'];
const publish = (path: string, ...keys: JWK[]) => served.set(path, json({ keys }));

/** The nodes' clock runs ahead of the real one by this much. */
let skewMs = 0;
const clock = () => Date.now() + skewMs;

type Pair = { privateKey: CryptoKey; jwk: JWK };
const pair = async (kid: string): Promise<Pair> => {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' } };
};
let a: Pair;
let b: Pair;

let log: SharedLog;
let n1: AuthNode;
let n2: AuthNode;
let strict: AuthNode; // the default mode (`public`) for callers' URLs

beforeAll(async () => {
  sets = await startPublisher();
  ({ url: setsUrl, served, fetches } = sets);
  [a, b] = await Promise.all([pair('a'), pair('b')]);
  const clients = [
    { clientId: 'ci', scope: 'raftbox:run raftbox:read', jwksUri: `${setsUrl}/ci.json` },
    { clientId: 'batch', scope: 'raftbox:read', jwks: { keys: [b.jwk] } },
  ];
  log = new SharedLog();
  n1 = await startNode(log, { clientMetadataDocuments: 'loopback', clock, clients });
  n2 = await startNode(log, { issuer: n1.url, clientMetadataDocuments: 'loopback', clock, clients });
  strict = await startNode(new SharedLog(), { clock, clients });
});
afterAll(async () => {
  await Promise.all([n1?.close(), n2?.close(), strict?.close()]);
  await sets?.close();
});
beforeEach(() => fetches.clear());

/** The issuer a node's assertions are addressed to: n1 and n2 share one. */
const issuerOf = (node: AuthNode) => (node === strict ? strict.url : n1.url);

/** A fresh assertion of `clientId`, signed with `key`, addressed to `aud`. */
const assertion = (clientId: string, key: Pair, aud: string) => {
  const now = Math.floor(clock() / 1000);
  return new SignJWT({ iss: clientId, sub: clientId, aud, iat: now, exp: now + 60, jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: key.jwk.kid! }).sign(key.privateKey);
};

const post = (node: AuthNode, path: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${node.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body) });

/** Authenticates `clientId` at the token endpoint with a made-up code: invalid_grant means the assertion was accepted, invalid_client that it was not. */
async function authenticate(node: AuthNode, clientId: string, key: Pair): Promise<{ status: number; error: string; error_description: string }> {
  const res = await post(node, '/oauth/token', { grant_type: 'authorization_code', code: 'made-up', client_assertion_type: ASSERTION, client_assertion: await assertion(clientId, key, issuerOf(node)) });
  return { status: res.status, ...((await res.json()) as { error: string; error_description: string }) };
}

async function register(node: AuthNode, meta: Record<string, unknown>): Promise<Response> {
  return fetch(`${node.url}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt', ...meta }),
  });
}

let nextSet = 0;
/** A client registered at n1 whose keys are at a fresh path of the key-set server. */
async function registeredClient(): Promise<{ clientId: string; path: string }> {
  const path = `/registered/${++nextSet}.json`;
  const res = await register(n1, { jwks_uri: setsUrl + path });
  expect(res.status).toBe(201);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: setsUrl + path });
  expect(body.client_secret).toBeUndefined();
  return { clientId: body.client_id as string, path };
}

describe('client keys at a jwks_uri', () => {
  it('a registered client authenticates at both nodes; each node fetches its set once and then answers from its cache', async () => {
    const { clientId, path } = await registeredClient();
    publish(path, a.jwk);
    for (const node of [n1, n2, n1, n2]) expect(await authenticate(node, clientId, a)).toMatchObject({ error: 'invalid_grant' });
    expect(fetches.get(path)).toBe(2);
  });

  it('a kid the cached set lacks makes one refetch, never sooner than a minute after the last fetch', async () => {
    const { clientId, path } = await registeredClient();
    publish(path, a.jwk);
    expect(await authenticate(n1, clientId, a)).toMatchObject({ error: 'invalid_grant' });
    // The client rotates to b: within the minute, n1 does not fetch again and refuses b.
    publish(path, a.jwk, b.jwk);
    expect(await authenticate(n1, clientId, b)).toMatchObject({ status: 401, error: 'invalid_client', error_description: expect.stringMatching(/no applicable key found/) });
    expect(fetches.get(path)).toBe(1);
    skewMs += 61_000;
    expect(await authenticate(n1, clientId, b)).toMatchObject({ error: 'invalid_grant' });
    expect(fetches.get(path)).toBe(2);
    // A kid nobody published, right after: refused from the fresh set, without another fetch.
    expect(await authenticate(n1, clientId, await pair('made-up'))).toMatchObject({ status: 401, error: 'invalid_client' });
    expect(fetches.get(path)).toBe(2);
  });

  it('an operator-configured machine client gets a token with an assertion instead of a secret (jwks_uri or inline jwks), and it works on /mcp', async () => {
    publish('/ci.json', a.jwk);
    for (const [node, clientId, key, scope] of [[n2, 'ci', a, 'raftbox:run'], [strict, 'ci', a, 'raftbox:run'], [n1, 'batch', b, 'raftbox:read']] as const) {
      const res = await post(node, '/oauth/token', { grant_type: 'client_credentials', scope, client_assertion_type: ASSERTION, client_assertion: await assertion(clientId, key, issuerOf(node)) });
      const body = (await res.json()) as { access_token: string; scope: string };
      expect([clientId, res.status]).toEqual([clientId, 200]);
      expect(body.scope).toBe(scope);
      const path = scope === 'raftbox:run' ? '/mcp' : '/api/whoami';
      const used = await fetch(`${node.url}${path}`, { method: path === '/mcp' ? 'POST' : 'GET', headers: { authorization: `Bearer ${body.access_token}` } });
      expect(await used.json()).toMatchObject({ principal: { subject: `client:${clientId}`, clientId } });
    }
    // The operator's URL is fetched as configured: the default mode's public-address rule is for callers' URLs.
    expect(fetches.get('/ci.json')).toBe(2);
    // No secret exists for it: Basic credentials are refused, as is another client's key.
    const basic = await post(n1, '/oauth/token', { grant_type: 'client_credentials' }, { authorization: `Basic ${btoa('ci:guess')}` });
    expect([basic.status, ((await basic.json()) as { error: string }).error]).toEqual([401, 'invalid_client']);
    expect(await authenticate(n1, 'batch', a)).toMatchObject({ status: 401, error: 'invalid_client' });
  });

  it('a metadata-document client may publish its keys at a jwks_uri', async () => {
    const clientId = `${setsUrl}/documents/agent.json`;
    served.set('/documents/agent.json', json({ client_id: clientId, redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${setsUrl}/documents/keys.json` }));
    publish('/documents/keys.json', b.jwk);
    expect(await authenticate(n2, clientId, b)).toMatchObject({ error: 'invalid_grant' });
    expect(await authenticate(n2, clientId, a)).toMatchObject({ status: 401, error: 'invalid_client' });
  });

  it('a caller\'s jwks_uri: http on loopback only in loopback mode, no non-public address in the default mode, not beside jwks', async () => {
    const http = await register(strict, { jwks_uri: `${setsUrl}/strict.json` });
    expect([http.status, await http.json()]).toEqual([400, { error: 'invalid_client_metadata', error_description: `jwks_uri ${setsUrl}/strict.json must be an https URL` }]);
    const https = await register(strict, { jwks_uri: `${setsUrl.replace('http:', 'https:')}/strict.json` });
    expect(https.status).toBe(201);
    const { client_id: clientId } = (await https.json()) as { client_id: string };
    expect(await authenticate(strict, clientId, a)).toMatchObject({ status: 401, error: 'invalid_client', error_description: expect.stringMatching(/points at a non-public address/) });
    expect(fetches.size).toBe(0);
    const both = await register(n1, { jwks_uri: `${setsUrl}/x.json`, jwks: { keys: [a.jwk] } });
    expect(await both.json()).toEqual({ error: 'invalid_client_metadata', error_description: 'give jwks or jwks_uri, not both' });
    const neither = await register(n1, {});
    expect(await neither.json()).toEqual({ error: 'invalid_client_metadata', error_description: 'private_key_jwt needs the client\'s public keys: jwks or jwks_uri' });
  });

  it('a key set that cannot be used is invalid_client saying why', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const cases: Array<[Handler, RegExp]> = [
      [(_req, res) => res.writeHead(404).end(), /answered HTTP 404/],
      [json({ keys: [a.jwk], pad: 'x'.repeat(40_000) }), /larger than 32768 bytes/],
      [json({ keys: [await exportJWK(privateKey)] }), /must hold public keys only/],
      [json({ keys: [] }), /must hold 1 to 100 public keys/],
      [(_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{'), /is not JSON/],
      [(_req, res) => res.writeHead(302, { location: '/elsewhere' }).end(), /redirects are not followed/],
    ];
    for (const [handler, why] of cases) {
      const { clientId, path } = await registeredClient();
      served.set(path, handler);
      const answer = await authenticate(n1, clientId, a);
      expect([answer.status, answer.error]).toEqual([401, 'invalid_client']);
      expect(answer.error_description).toMatch(why);
    }
  });
});
