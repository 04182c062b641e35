// Issue 5's proof over real processes: three raftbox nodes with the built-in authorization server,
// driven by a real OAuth client (oauth4webapi) and the MCP SDK's client. Every node is started with
// the same public origin as its issuer (what a load balancer would serve); each OAuth request picks
// the node it lands on, the way a round-robin balancer would.
import * as oauth from 'oauth4webapi';
import { decodeJwt } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/index.ts';
import { TestCluster, type ClusterNode } from '../cluster/harness.ts';
import { waitFor } from '../support/index.ts';
import { cookieOf, formFields } from '../auth/harness.ts';
import { call } from '../e2e/mcp-tools.ts';

const PUBLIC = 'http://raftbox.test'; // never resolved: requests are routed to a chosen node below
const REDIRECT = 'http://127.0.0.1:9/callback';
const PASSWORD = 'alice-password-0f3c';
const MACHINE = { id: 'ci', secret: 'ci-secret-7Hq2' };
const issuer = new URL(PUBLIC);

let c: TestCluster;
let as: oauth.AuthorizationServer;
const machine: oauth.Client = { client_id: MACHINE.id };
let n1: ClusterNode, n2: ClusterNode, n3: ClusterNode;

beforeAll(async () => {
  const [userHash, machineHash] = await Promise.all([hashPassword(PASSWORD), hashPassword(MACHINE.secret)]);
  c = await TestCluster.start({
    args: ['--oauth', '--oauth-issuer', PUBLIC, '--oauth-users', `alice=${userHash}`, '--oauth-clients', `${MACHINE.id}=${machineHash}`],
  });
  [n1, n2, n3] = [c.node('n1'), c.node('n2'), c.node('n3')];
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...at(n1) }));
}, 60_000);
afterAll(() => c?.close());

/** oauth4webapi options that send a request for the public origin to one node. */
function at(node: ClusterNode) {
  return {
    [oauth.allowInsecureRequests]: true,
    [oauth.customFetch]: (url: string, init: RequestInit) => fetch(url.replace(PUBLIC, node.url), init),
  };
}

/** The browser's part: the authorize page, the sign-in form POST, the consent POST; answers the redirect. */
async function signInAndConsent(node: ClusterNode, params: Record<string, string>): Promise<URL> {
  const page = await fetch(`${node.url}/oauth/authorize?${new URLSearchParams(params)}`);
  expect(page.status).toBe(200);
  const cookie = cookieOf(page);
  const post = (fields: Record<string, string>) =>
    fetch(`${node.url}/oauth/authorize`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
  const signIn = await post({ ...formFields(await page.text()), username: 'alice', password: PASSWORD });
  const consentPage = await signIn.text();
  expect(signIn.status, consentPage).toBe(200);
  expect(consentPage).toContain('Signed in as <strong>alice</strong>');
  const consent = await post({ ...formFields(consentPage), decision: 'allow' });
  expect(consent.status).toBe(303);
  return new URL(consent.headers.get('location')!);
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A bearer call's status on a node: 200 while the token is good, 401 once it is not. */
const apiStatus = (node: ClusterNode, token: string) => fetch(`${node.url}/api/executions?limit=1`, { headers: bearer(token) }).then((r) => r.status);

async function mcpClient(node: ClusterNode, token: string): Promise<Client> {
  const client = new Client({ name: 'oauth-e2e', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', node.url), { requestInit: { headers: bearer(token) } }));
  return client;
}

async function machineToken(node: ClusterNode, scope: string): Promise<string> {
  const res = await oauth.clientCredentialsGrantRequest(as, machine, oauth.ClientSecretBasic(MACHINE.secret), { scope }, at(node));
  return (await oauth.processClientCredentialsResponse(as, machine, res)).access_token;
}

describe('OAuth 2.1 across a three-node cluster', { timeout: 60_000 }, () => {
  let agent: oauth.Client;
  let alice: oauth.TokenEndpointResponse;
  let executionId: string;

  it('registers at n2, authorizes with PKCE at n1, redeems the code at n3, runs run_js over MCP at n2', async () => {
    const registered = await oauth.dynamicClientRegistrationRequest(
      as,
      { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', client_name: 'e2e agent' },
      at(n2),
    );
    agent = await oauth.processDynamicClientRegistrationResponse(registered);

    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const redirect = await signInAndConsent(n1, {
      response_type: 'code',
      client_id: agent.client_id,
      redirect_uri: REDIRECT,
      scope: 'raftbox:run raftbox:read',
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      resource: `${PUBLIC}/mcp`,
    });
    const callback = oauth.validateAuthResponse(as, agent, redirect, state); // checks state and iss
    const res = await oauth.authorizationCodeGrantRequest(as, agent, oauth.None(), callback, REDIRECT, verifier, at(n3));
    alice = await oauth.processAuthorizationCodeResponse(as, agent, res);
    expect(alice.scope).toBe('raftbox:run raftbox:read');
    expect(alice.refresh_token).toEqual(expect.any(String));
    // Whichever node signed it, the token names the cluster's public origin, so every node accepts it.
    expect(decodeJwt(alice.access_token)).toMatchObject({ iss: PUBLIC, aud: PUBLIC, sub: 'alice', client_id: agent.client_id });

    const mcp = await mcpClient(n2, alice.access_token);
    const { isError, out } = await call(mcp, 'run_js', { code: '1 + 1', session: 'alice-notes' });
    await mcp.close();
    expect(isError).toBe(false);
    expect(out).toMatchObject({ status: 'completed', result: 2, node: 'n2' });
    executionId = out.execution_id;
  });

  it('hides one subject\'s executions and sessions from another (404, as if they did not exist)', async () => {
    expect((await fetch(`${n3.url}/api/executions/${executionId}`, { headers: bearer(alice.access_token) })).status).toBe(200);
    const other = await machineToken(n3, 'raftbox:run raftbox:read');
    for (const path of [`/api/executions/${executionId}`, `/api/executions/${executionId}/output`, '/api/sessions/alice-notes']) {
      const res = await fetch(`${n1.url}${path}`, { headers: bearer(other) });
      expect(res.status, path).toBe(404);
    }
    const mcp = await mcpClient(n1, other);
    const seen = await call(mcp, 'get_execution', { execution_id: executionId });
    await mcp.close();
    expect(seen.isError).toBe(true);
    expect(seen.text).toMatch(/^not_found/);
  });

  it('refuses run_js to a token without raftbox:run: HTTP 403 insufficient_scope with the challenge', async () => {
    const readOnly = await machineToken(n1, 'raftbox:read');
    const res = await fetch(`${n2.url}/mcp`, {
      method: 'POST',
      headers: { ...bearer(readOnly), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'run_js', arguments: { code: '1' } } }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toMatch(
      new RegExp(`^Bearer resource_metadata="${PUBLIC}/.well-known/oauth-protected-resource/mcp", scope="raftbox:run", error="insufficient_scope"`),
    );
    // The same token may still do what its scope allows.
    const mcp = await mcpClient(n2, readOnly);
    expect((await call(mcp, 'list_executions', {})).isError).toBe(false);
    await mcp.close();
  });

  it('applies a revocation made at n1 on n2 and n3', async () => {
    for (const node of [n2, n3]) expect(await apiStatus(node, alice.access_token)).toBe(200);
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, agent, oauth.None(), alice.access_token, at(n1)));
    for (const node of [n2, n3]) await waitFor(`revocation applied on ${node.id}`, async () => (await apiStatus(node, alice.access_token)) === 401, 10_000);
  });

  it('rotates the refresh token at n1 and detects the old one\'s reuse at n3, revoking the grant', async () => {
    const rotated = await oauth.processRefreshTokenResponse(as, agent, await oauth.refreshTokenGrantRequest(as, agent, oauth.None(), alice.refresh_token!, at(n1)));
    expect(rotated.refresh_token).not.toBe(alice.refresh_token);
    expect(await apiStatus(n2, rotated.access_token)).toBe(200);

    const reuse = oauth.refreshTokenGrantRequest(as, agent, oauth.None(), alice.refresh_token!, at(n3)).then((r) => oauth.processRefreshTokenResponse(as, agent, r));
    await expect(reuse).rejects.toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/reuse detected/) });
    // The whole family is gone: the rotated refresh token and the access token issued with it.
    const next = oauth.refreshTokenGrantRequest(as, agent, oauth.None(), rotated.refresh_token!, at(n2)).then((r) => oauth.processRefreshTokenResponse(as, agent, r));
    await expect(next).rejects.toMatchObject({ error: 'invalid_grant' });
    for (const node of [n1, n2]) await waitFor(`family revoked on ${node.id}`, async () => (await apiStatus(node, rotated.access_token)) === 401, 10_000);
  });
});
