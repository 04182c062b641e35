// `raftbox login`: signs a person in to an OAuth-protected server from a terminal, as `gh auth login`
// does: the authorization code flow with PKCE, in the browser, answered on a loopback redirect
// (RFC 8252 §7.3); the tokens go into the 0600 token cache for the client commands.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'oauth4webapi';
import { ConfigError } from '../../config/index.ts';
import { DEFAULT_URL, loginOf, parseCommand } from './connection.ts';
import { discover, insecure } from './oauth-discovery.ts';
import { saveLogin } from './token-cache.ts';

const LOGIN_USAGE = 'usage: raftbox login [--url <url>] [--client-id <id>] [--no-browser]';
const SCOPE = 'raftbox:run raftbox:read';
/** How long the browser may take to come back before login gives up. */
const WAIT_FOR_BROWSER_MS = 5 * 60_000;

export const LOGIN_HELP = `${LOGIN_USAGE}

Signs you in to an OAuth-protected raftbox server: opens its sign-in page in your browser
(authorization code with PKCE; the browser comes back to a one-time port on 127.0.0.1) and caches
the tokens, refreshed when due, for \`raftbox run\`, \`executions\` and \`sessions\`. The cache is
$XDG_CONFIG_HOME/raftbox/tokens.json (default ~/.config/raftbox/tokens.json), readable by you only (0600).

Options:
  --url <url>        the server (default ${DEFAULT_URL}) [RAFTBOX_URL]
  --client-id <id>   a public client registered at the authorization server (e.g. in Keycloak) with
                     redirect http://127.0.0.1/*; default: register one (the built-in server allows it)
  --no-browser       only print the address to open
`;

export const LOGOUT_HELP = `usage: raftbox logout [--url <url>]

Forgets the cached tokens of a server (default ${DEFAULT_URL}, or RAFTBOX_URL).
`;

export async function loginCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseCommand(argv, { 'no-browser': { type: 'boolean' } }, LOGIN_USAGE);
  if (positionals.length) throw new ConfigError(LOGIN_USAGE);
  const url = ((values.url as string | undefined) ?? env.RAFTBOX_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  const { as, resource } = await discover(url);
  if (!as.authorization_endpoint || !as.token_endpoint) throw new Error(`${as.issuer} offers no authorization code flow`);

  const callback = await listenOnLoopback();
  try {
    const redirectUri = `http://127.0.0.1:${callback.port}/callback`;
    const clientId = (values['client-id'] as string | undefined) ?? (await register(as, redirectUri));
    const client: oauth.Client = { client_id: clientId };
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const authorize = new URL(as.authorization_endpoint);
    authorize.search = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      scope: SCOPE,
      state,
      resource,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();
    process.stderr.write(`Sign in to ${url} in your browser:\n  ${authorize}\n`);
    if (!values['no-browser']) openBrowser(authorize.toString());

    const answer = await callback.next();
    const params = oauth.validateAuthResponse(as, client, answer, state);
    const grant = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, verifier, { ...insecure, additionalParameters: { resource } });
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, grant);
    const path = saveLogin(url, loginOf({ issuer: as.issuer, tokenEndpoint: as.token_endpoint, clientId, resource }, tokens), env);
    process.stderr.write(`Signed in to ${url}; token cached in ${path}\n`);
    return 0;
  } finally {
    callback.close();
  }
}

export async function logoutCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseCommand(argv, {}, 'usage: raftbox logout [--url <url>]');
  const url = ((values.url as string | undefined) ?? env.RAFTBOX_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  const path = saveLogin(url, null, env);
  process.stderr.write(`Forgot the sign-in for ${url} (${path})\n`);
  return 0;
}

/** Dynamic client registration (RFC 7591) of a public client for this one redirect. */
async function register(as: oauth.AuthorizationServer, redirectUri: string): Promise<string> {
  if (!as.registration_endpoint) throw new ConfigError(`${as.issuer} does not register clients: pass --client-id of a public client registered there`);
  const answer = await oauth.dynamicClientRegistrationRequest(
    as,
    { redirect_uris: [redirectUri], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], client_name: 'raftbox CLI' },
    insecure,
  );
  return (await oauth.processDynamicClientRegistrationResponse(answer)).client_id;
}

interface Callback {
  port: number;
  /** The URL the browser came back to. */
  next(): Promise<URL>;
  close(): void;
}

/** A one-shot HTTP server on 127.0.0.1 (a port of the kernel's choosing) that takes the redirect. */
async function listenOnLoopback(): Promise<Callback> {
  let arrived: (u: URL) => void = () => {};
  const came = new Promise<URL>((resolve) => (arrived = resolve));
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (u.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    const failed = u.searchParams.has('error');
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end(failed ? `Sign-in failed: ${u.searchParams.get('error')}. You can close this tab.\n` : 'Signed in to raftbox. You can close this tab and return to the terminal.\n');
    arrived(u);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let timer: NodeJS.Timeout | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    next: () =>
      Promise.race([
        came,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no sign-in within ${WAIT_FOR_BROWSER_MS / 60_000} minutes`)), WAIT_FOR_BROWSER_MS);
        }),
      ]),
    close: () => {
      clearTimeout(timer);
      server.closeAllConnections();
      server.close();
    },
  };
}

function openBrowser(url: string): void {
  const [cmd, args] = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
  const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
  child.on('error', () => process.stderr.write('(could not open a browser: open the address above yourself)\n'));
  child.unref();
}
