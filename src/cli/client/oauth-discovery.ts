import * as oauth from 'oauth4webapi';

/** oauth4webapi insists on https; raftbox on loopback (and behind a TLS-terminating proxy) is plain http. */
export const insecure = { [oauth.allowInsecureRequests]: true } as const;

export interface Discovered {
  /** The resource tokens must be for (RFC 8707 `resource`, RFC 9728 metadata). */
  resource: string;
  as: oauth.AuthorizationServer;
}

/**
 * Finds a server's authorization server the way MCP clients do: its protected-resource metadata
 * (RFC 9728) names the issuer, whose metadata (RFC 8414, or OpenID discovery for Keycloak) has the endpoints.
 */
export async function discover(server: string): Promise<Discovered> {
  const res = await fetch(new URL('/.well-known/oauth-protected-resource', server));
  if (res.status === 404) throw new Error(`${server} does not run with OAuth (no /.well-known/oauth-protected-resource): no sign-in needed`);
  if (!res.ok) throw new Error(`${server}/.well-known/oauth-protected-resource answered ${res.status}`);
  const prm = (await res.json()) as { resource: string; authorization_servers?: string[] };
  const issuer = prm.authorization_servers?.[0];
  if (!issuer) throw new Error(`${server} names no authorization server`);
  const issuerUrl = new URL(issuer);
  for (const algorithm of ['oauth2', 'oidc'] as const) {
    const answer = await oauth.discoveryRequest(issuerUrl, { algorithm, ...insecure });
    if (answer.status === 404) continue;
    return { resource: prm.resource, as: await oauth.processDiscoveryResponse(issuerUrl, answer) };
  }
  throw new Error(`no authorization server metadata at ${issuer}`);
}
