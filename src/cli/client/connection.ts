// What every client command (run, executions, sessions) shares: its connection options, and a typed
// REST client with the right bearer token.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import * as oauth from 'oauth4webapi';
import { createRaftboxClient, type RaftboxApi } from '../../../clients/typescript/src/index.ts';
import { ConfigError, didYouMean, readSecretFile } from '../../config/index.ts';
import { discover, insecure } from './oauth-discovery.ts';
import { cachedLogin, saveLogin, type CachedLogin } from './token-cache.ts';

export const DEFAULT_URL = 'http://127.0.0.1:3000';
/** Refresh a cached token this long before it expires, so a request never leaves with a dying one. */
const REFRESH_MARGIN_MS = 30_000;

type Options = NonNullable<ParseArgsConfig['options']>;

export const CONNECTION_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret-file': { type: 'string' },
  json: { type: 'boolean' },
} satisfies Options;

export const CONNECTION_HELP = `Connection (every client command):
  --url <url>                  a node or the load balancer (default ${DEFAULT_URL}) [RAFTBOX_URL]
  --token <token>              a bearer token for an OAuth-protected server [RAFTBOX_TOKEN]
  --client-id <id>             a machine client (client_credentials) [RAFTBOX_CLIENT_ID], with
  --client-secret-file <path>  its secret from a file [RAFTBOX_CLIENT_SECRET_FILE, or RAFTBOX_CLIENT_SECRET]
  --json                       print the API's JSON answer instead of text
  Without a token or a client, the token \`raftbox login --url …\` cached is used (refreshed when due).`;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** node:util's parseArgs, with its errors turned into usage errors that suggest the flag meant. */
export function parseCommand(argv: readonly string[], options: Options, usage: string): Parsed {
  const all = { ...CONNECTION_OPTIONS, ...options };
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: all, allowPositionals: true, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    const unknown = /Unknown option '(--?[^']+)'/.exec((err as Error).message)?.[1];
    const hint = unknown ? didYouMean(unknown.replace(/^-+/, ''), Object.keys(all)).replace(/mean /, 'mean --') : '';
    throw new ConfigError(`${unknown ? `unknown option ${unknown}${hint}` : (err as Error).message}\n${usage}`);
  }
}

export interface Connection {
  url: string;
  api: RaftboxApi;
}

export function connect(values: Parsed['values'], env: NodeJS.ProcessEnv = process.env): Connection {
  const url = ((values.url as string | undefined) ?? env.RAFTBOX_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  if (!URL.canParse(url)) throw new ConfigError(`--url expects a URL such as ${DEFAULT_URL}, got "${url}"`);
  const token = (values.token as string | undefined) ?? env.RAFTBOX_TOKEN;
  const clientId = (values['client-id'] as string | undefined) ?? env.RAFTBOX_CLIENT_ID;
  const secretFile = (values['client-secret-file'] as string | undefined) ?? env.RAFTBOX_CLIENT_SECRET_FILE;
  let bearer: () => Promise<string | undefined>;
  if (token) bearer = async () => token;
  else if (clientId) {
    const secret = secretFile ? readSecretFile(secretFile, '--client-secret-file') : env.RAFTBOX_CLIENT_SECRET;
    if (!secret) throw new ConfigError('--client-id needs its secret: --client-secret-file <path> or RAFTBOX_CLIENT_SECRET');
    bearer = memo(() => clientCredentials(url, clientId, secret));
  } else bearer = () => cachedToken(url, env);
  return { url, api: createRaftboxClient({ baseUrl: url, token: bearer }) };
}

/** One token per process for a machine client, fetched on the first request that needs it. */
function memo(get: () => Promise<string>): () => Promise<string> {
  let token: Promise<string> | undefined;
  return () => (token ??= get());
}

async function clientCredentials(url: string, clientId: string, secret: string): Promise<string> {
  const { as, resource } = await discover(url);
  const answer = await oauth.clientCredentialsGrantRequest(as, { client_id: clientId }, oauth.ClientSecretBasic(secret), new URLSearchParams({ scope: 'raftbox:run raftbox:read', resource }), insecure);
  return (await oauth.processClientCredentialsResponse(as, { client_id: clientId }, answer)).access_token;
}

/** The cached login's access token, refreshed (and the cache rewritten) when it is about to expire. */
async function cachedToken(url: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const login = cachedLogin(url, env);
  if (!login) return undefined;
  if (login.expiresAt - REFRESH_MARGIN_MS > Date.now()) return login.accessToken;
  if (!login.refreshToken) return undefined;
  const as: oauth.AuthorizationServer = { issuer: login.issuer, token_endpoint: login.tokenEndpoint };
  const client: oauth.Client = { client_id: login.clientId };
  try {
    const answer = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), login.refreshToken, { ...insecure, additionalParameters: { resource: login.resource } });
    const tokens = await oauth.processRefreshTokenResponse(as, client, answer);
    saveLogin(url, loginOf(login, tokens), env);
    return tokens.access_token;
  } catch (err) {
    throw new Error(`the cached sign-in for ${url} has expired and could not be refreshed (${(err as Error).message}): run \`raftbox login --url ${url}\``);
  }
}

export function loginOf(base: Omit<CachedLogin, 'accessToken' | 'refreshToken' | 'expiresAt'>, tokens: oauth.TokenEndpointResponse): CachedLogin {
  return {
    issuer: base.issuer,
    tokenEndpoint: base.tokenEndpoint,
    clientId: base.clientId,
    resource: base.resource,
    accessToken: tokens.access_token,
    // A rotated refresh token replaces the old one, which the server has now revoked.
    refreshToken: tokens.refresh_token ?? null,
    expiresAt: Date.now() + (tokens.expires_in ?? 300) * 1000,
  };
}

/** Prints an answer: its JSON with --json, else the command's text form. */
export function print(values: Parsed['values'], data: unknown, text: () => string): void {
  process.stdout.write(values.json ? `${JSON.stringify(data, null, 2)}\n` : text());
}
