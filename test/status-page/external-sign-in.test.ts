import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.ts';
import { freePort } from '../support/index.ts';
import { startTestNode } from '../e2e/node.ts';
import { launchChromium, missingChromium } from './chromium.ts';

// The status page of a node that delegates to an external authorization server (oidc-provider on
// loopback, its development login and consent pages standing in for Keycloak's): "Sign in" sends the
// user there with the public client the operator registered for the page, and the page gets a token.
const unavailable = missingChromium();

let browser: BrowserContext;
let providerServer: Server;
let issuer: string;
let nodePort: number;

beforeAll(async () => {
  if (unavailable) return;
  nodePort = await freePort();
  const nodeOrigin = `http://127.0.0.1:${nodePort}`;
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  let provider: Provider | undefined;
  providerServer = createServer((req, res) => provider!.callback()(req, res));
  await new Promise<void>((resolve) => providerServer.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(providerServer.address() as { port: number }).port}`;
  provider = new Provider(issuer, {
    clients: [
      // What an operator registers at the provider for the page: public, PKCE, the node's origin as redirect.
      { client_id: 'raftbox-status', token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: [`${nodeOrigin}/`], scope: 'raftbox:read' },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'op-key', alg: 'ES256', use: 'sig' }] },
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    scopes: ['raftbox:run', 'raftbox:read'],
    features: {
      resourceIndicators: {
        enabled: true,
        defaultResource: () => nodeOrigin,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => ({ scope: 'raftbox:read', audience: indicator, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
      },
    },
  });
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  providerServer?.closeAllConnections();
  await new Promise((resolve) => providerServer?.close(resolve));
});

describe.skipIf(unavailable !== null)('the status page with an external provider', () => {
  it('signs the operator in at the provider with the page\'s configured client, not a pasted token', async () => {
    const node = await startTestNode({
      port: nodePort,
      oauth: { providerUrl: issuer, tokenFormat: 'jwt', statusPageClientId: 'raftbox-status' } as Config['oauth'],
    });
    try {
      const signIn = (await (await fetch(`${node.url}/status-page/sign-in.json`)).json()) as Record<string, string>;
      expect(signIn).toEqual({ authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, client_id: 'raftbox-status' });
      const page = await browser.newPage();
      await page.goto(`${node.url}/`);
      await expect.poll(() => page.locator('#auth').isVisible()).toBe(true);
      await page.locator('#signin').click();
      // oidc-provider's development interactions: any login, then consent.
      await page.locator('input[name=login]').fill('operator');
      await page.locator('input[name=password]').fill('any');
      await page.locator('button[type=submit]').click();
      await page.locator('button[type=submit]').click();
      await expect.poll(() => page.url(), { timeout: 10_000 }).toBe(`${node.url}/`);
      await expect.poll(() => page.locator('#meta').innerText(), { timeout: 10_000 }).toMatch(/^seen from n1 \(leader/);
      expect(await page.locator('#auth').isHidden()).toBe(true);
      expect(await page.locator('#error').innerText()).toBe('');
      await page.close();
    } finally {
      await node.stop();
    }
  }, 60_000);

  it('without a configured client, the page has no external sign-in and asks for a token', async () => {
    const node = await startTestNode({ oauth: { providerUrl: issuer, tokenFormat: 'jwt' } as Config['oauth'] });
    try {
      const res = await fetch(`${node.url}/status-page/sign-in.json`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: 'not_found', message: expect.stringContaining('oauth.statusPageClientId') });
    } finally {
      await node.stop();
    }
  });
});
