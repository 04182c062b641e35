import type { IncomingMessage, ServerResponse } from 'node:http';
import * as oauth from 'oauth4webapi';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cookieOf, formFields, json, PASSWORD, SharedLog, startNode, startPublisher, type AuthNode, type Publisher } from './harness.ts';

// Client ID Metadata Documents against a real document server on loopback, started here: the client's
// id is the URL of its metadata, which every node fetches (in `loopback` mode, the development/test
// setting that allows http and loopback addresses) and caches.

const REDIRECT = 'http://127.0.0.1:9/callback';

/** The client's side: serves documents by path, counting fetches. */
let docs: Publisher;
let docsUrl: string;
let served: Publisher['served'];
let fetches: Publisher['fetches'];

let log: SharedLog;
let n1: AuthNode;
let n2: AuthNode;
let strict: AuthNode; // the default mode (`public`): refuses loopback documents
let off: AuthNode;

beforeAll(async () => {
  docs = await startPublisher();
  ({ url: docsUrl, served, fetches } = docs);
  log = new SharedLog();
  n1 = await startNode(log, { clientMetadataDocuments: 'loopback' });
  n2 = await startNode(log, { issuer: n1.url, clientMetadataDocuments: 'loopback' });
  strict = await startNode(new SharedLog());
  off = await startNode(new SharedLog(), { clientMetadataDocuments: 'off' });
});
afterAll(async () => {
  await Promise.all([n1?.close(), n2?.close(), strict?.close(), off?.close()]);
  await docs?.close();
});
beforeEach(() => fetches.clear());

let nextPath = 0;
/** A document at a fresh path on the document server; answers its client_id. */
function publish(doc: (id: string) => Record<string, unknown> | ((req: IncomingMessage, res: ServerResponse) => void)): string {
  const path = `/clients/${++nextPath}.json`;
  const id = docsUrl + path;
  const d = doc(id);
  served.set(path, typeof d === 'function' ? d : json(d));
  return id;
}

const goodDoc = (id: string) => ({ client_id: id, client_name: 'Doc <Agent>', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'] });

async function authorizePage(node: AuthNode, clientId: string, redirectUri = REDIRECT, verifier = oauth.generateRandomCodeVerifier()) {
  const params = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: 'raftbox:run',
    state: 's1',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  };
  return fetch(`${node.url}/oauth/authorize?${new URLSearchParams(params)}`, { redirect: 'manual' });
}

describe('Client ID Metadata Documents', () => {
  it('are advertised in the authorization server metadata, unless turned off', async () => {
    const meta = async (node: AuthNode) => (await (await fetch(`${node.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect((await meta(n1)).client_id_metadata_document_supported).toBe(true);
    expect((await meta(strict)).client_id_metadata_document_supported).toBe(true);
    expect((await meta(off)).client_id_metadata_document_supported).toBe(false);
  });

  it('a client known only by its document signs a user in at one node and redeems the code at another', async () => {
    const clientId = publish(goodDoc);
    const verifier = oauth.generateRandomCodeVerifier();
    const page = await authorizePage(n1, clientId, REDIRECT, verifier);
    const html = await page.text();
    expect(page.status, html).toBe(200);
    const cookie = cookieOf(page);
    const signIn = await fetch(`${n1.url}/oauth/authorize`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...formFields(html), username: 'alice', password: PASSWORD }),
    });
    const consentHtml = await signIn.text();
    expect(signIn.status, consentHtml).toBe(200);
    // The name the document claims, and the host that published it.
    expect(consentHtml).toContain(`Doc &#60;Agent&#62; (${new URL(docsUrl).host})`);
    const consent = await fetch(`${n1.url}/oauth/authorize`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...formFields(consentHtml), decision: 'allow' }),
    });
    expect(consent.status).toBe(303);
    const code = new URL(consent.headers.get('location')!).searchParams.get('code')!;
    const token = await fetch(`${n2.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, client_id: clientId, redirect_uri: REDIRECT, code_verifier: verifier }),
    });
    const tokens = (await token.json()) as { access_token: string; refresh_token: string; scope: string };
    expect(token.status, JSON.stringify(tokens)).toBe(200);
    expect(tokens.scope).toBe('raftbox:run');
    const whoami = await fetch(`${n2.url}/mcp`, { method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(await whoami.json()).toEqual({ principal: { subject: 'alice', scopes: ['raftbox:run'], clientId } });
    // n1 fetched the document once for the page and its two posts (cached); n2 once for the token.
    expect(fetches.get(new URL(clientId).pathname)).toBe(2);
  });

  it('redirect_uri must be one the document lists: otherwise an error page, never a redirect', async () => {
    const clientId = publish(goodDoc);
    const page = await authorizePage(n1, clientId, 'http://127.0.0.1:9/elsewhere');
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('The redirect_uri is not registered for this client.');
  });

  it('refuses a document that does not name its own URL, holds a secret, wants a secret method, or is not JSON, saying why', async () => {
    const cases: Array<[(id: string) => ReturnType<Parameters<typeof publish>[0]>, RegExp]> = [
      [(id) => ({ ...goodDoc(id), client_id: `${id}x` }), /is not its own URL/],
      [(id) => ({ ...goodDoc(id), client_secret: 'shh' }), /must not contain a client secret/],
      [(id) => ({ ...goodDoc(id), token_endpoint_auth_method: 'client_secret_basic' }), /token_endpoint_auth_method client_secret_basic is not supported/],
      [(id) => ({ ...goodDoc(id), redirect_uris: ['http://evil.example/cb'] }), /redirect_uri must be https/],
      [() => (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>'), /not application\/json/],
      [() => (_req, res) => res.writeHead(302, { location: '/elsewhere' }).end(), /redirects are not followed/],
      [() => (_req, res) => res.writeHead(500).end(), /answered HTTP 500/],
      [() => json({ pad: 'x'.repeat(40_000) }), /larger than 32768 bytes/],
    ];
    for (const [doc, why] of cases) {
      const page = await authorizePage(n1, publish(doc));
      const text = await page.text();
      expect(page.status, text).toBe(400);
      expect(text).toMatch(/The client&#39;s metadata document cannot be used|The client's metadata document cannot be used/);
      expect(text).toMatch(why);
    }
  });

  it('refuses client_id URLs the draft forbids: fragment, credentials, no path, dot segments', async () => {
    for (const [id, why] of [
      [`${docsUrl}/clients/1.json#x`, /fragment/],
      [docsUrl.replace('http://', 'http://user:pw@') + '/c.json', /credentials/],
      [`${docsUrl}/`, /must have a path/],
      [`${docsUrl}/a/../c.json`, /\. or \.\. path segments/],
    ] as const) {
      const text = await (await authorizePage(n1, id)).text();
      expect(text).toMatch(why);
    }
  });

  it('in the default (public) mode, never fetches from a loopback address; when off, a URL is an unknown client', async () => {
    const clientId = publish(goodDoc);
    const page = await authorizePage(strict, clientId);
    expect(page.status).toBe(400);
    expect(await page.text()).toMatch(/must be an https URL/);
    const https = await authorizePage(strict, clientId.replace('http://', 'https://'));
    expect(await https.text()).toMatch(/non-public address/);
    const local = await authorizePage(strict, `https://localhost:${new URL(docsUrl).port}/c.json`);
    expect(await local.text()).toMatch(/resolves to a non-public address/);
    expect(fetches.size).toBe(0);
    const unknown = await authorizePage(off, clientId);
    expect(await unknown.text()).toContain('Unknown client.');
  });

  it('the token endpoint refuses a metadata-document client it cannot fetch with invalid_client', async () => {
    const res = await fetch(`${n2.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x', client_id: `${docsUrl}/missing.json`, code_verifier: 'v'.repeat(43) }),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'invalid_client', error_description: expect.stringMatching(/answered HTTP 404/) });
  });

  it('a document with private_key_jwt and its public keys: the client authenticates with an assertion', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    const clientId = publish((id) => ({ ...goodDoc(id), token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } }));
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ iss: clientId, sub: clientId, aud: n1.url, exp: now + 60, jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
    const form = { grant_type: 'authorization_code', code: 'nope', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion };
    const res = await fetch(`${n2.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
    // Authenticated (the made-up code is what fails), where the same request without a valid assertion is invalid_client.
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
    const unsigned = await fetch(`${n2.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'authorization_code', code: 'nope', client_id: clientId }) });
    expect(await unsigned.json()).toMatchObject({ error: 'invalid_client' });
  });
});
