import { readFileSync } from 'node:fs';
import * as oauth from 'oauth4webapi';
import type { UpstreamServerConfig } from '../config/schema.ts';

/**
 * The bearer token the host sends to one upstream server, or null for none. The configuration names
 * only where a secret lives (a variable, a file); the value is read here, on the host, and goes into
 * the upstream request's Authorization header only: never into the isolate, a record or a log line.
 */
export interface UpstreamCredentials {
  token(): Promise<string | null>;
  /** The upstream refused the token (401): the next `token()` fetches a new one where it can. */
  refused(): void;
}

export class UpstreamCredentialError extends Error {
  override readonly name = 'UpstreamCredentialError';
}

const NONE: UpstreamCredentials = { token: async () => null, refused: () => undefined };

// A token is renewed this long before its stated expiry, so a call in flight does not carry a dead one.
const EXPIRY_MARGIN_MS = 30_000;

export function credentialsOf(server: UpstreamServerConfig, env: NodeJS.ProcessEnv = process.env): UpstreamCredentials {
  const auth = server.auth;
  if (auth === undefined) return NONE;
  if ('bearerEnv' in auth) return staticToken(() => readEnv(env, auth.bearerEnv, server.name));
  if ('bearerFile' in auth) return staticToken(() => readFile(auth.bearerFile, server.name));
  const secret = () => (auth.clientSecretEnv !== undefined ? readEnv(env, auth.clientSecretEnv, server.name) : readFile(auth.clientSecretFile!, server.name));
  return clientCredentials(auth.tokenUrl, auth.clientId, secret, auth.scope);
}

/** Read again after a refusal: a rotated file or variable is picked up without a restart. */
function staticToken(read: () => string): UpstreamCredentials {
  let token: string | null = null;
  return {
    token: async () => (token ??= read()),
    refused: () => (token = null),
  };
}

/** OAuth client credentials (RFC 6749 §4.4): obtained on first use, renewed before expiry or after a refusal. */
function clientCredentials(tokenUrl: string, clientId: string, secret: () => string, scope: string | undefined): UpstreamCredentials {
  const url = new URL(tokenUrl);
  const as: oauth.AuthorizationServer = { issuer: url.origin, token_endpoint: tokenUrl };
  const client: oauth.Client = { client_id: clientId };
  // oauth4webapi insists on https; an authorization server on loopback or behind a TLS proxy may be http.
  const options = url.protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {};
  let current: { token: string; expiresAt: number } | null = null;
  let pending: Promise<string> | null = null;
  const obtain = async (): Promise<string> => {
    const parameters = new URLSearchParams(scope !== undefined ? { scope } : {});
    const clientAuth = oauth.ClientSecretBasic(secret()); // a missing secret is said as such, not as the endpoint's refusal
    let answer;
    try {
      const response = await oauth.clientCredentialsGrantRequest(as, client, clientAuth, parameters, options);
      answer = await oauth.processClientCredentialsResponse(as, client, response);
    } catch (err) {
      // The library's message names the endpoint and the OAuth error, never the secret.
      throw new UpstreamCredentialError(`the token endpoint ${tokenUrl} refused client ${clientId}: ${(err as Error).message}`);
    }
    const lifetimeMs = (answer.expires_in ?? 3600) * 1000;
    current = { token: answer.access_token, expiresAt: Date.now() + Math.max(lifetimeMs - EXPIRY_MARGIN_MS, lifetimeMs / 2) };
    return answer.access_token;
  };
  return {
    token: () => {
      if (current !== null && Date.now() < current.expiresAt) return Promise.resolve(current.token);
      return (pending ??= obtain().finally(() => (pending = null)));
    },
    refused: () => (current = null),
  };
}

function readEnv(env: NodeJS.ProcessEnv, name: string, server: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new UpstreamCredentialError(`upstream ${server}: environment variable ${name} (its credential) is not set`);
  return value;
}

function readFile(path: string, server: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new UpstreamCredentialError(`upstream ${server}: cannot read its credential file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
