import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** What `raftbox login` keeps per server, enough to use and refresh the token without asking again. */
export interface CachedLogin {
  issuer: string;
  tokenEndpoint: string;
  clientId: string;
  resource: string;
  accessToken: string;
  refreshToken: string | null;
  /** Epoch ms. */
  expiresAt: number;
}

/**
 * The token cache: one JSON file, `$XDG_CONFIG_HOME/raftbox/tokens.json` (default ~/.config), keyed by
 * server origin. Its directory is 0700 and the file 0600 (tokens are bearer credentials); it is written
 * to a temp file of that mode and renamed, so a reader never sees half of it.
 */
export function tokenCachePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'raftbox', 'tokens.json');
}

function readAll(path: string): Record<string, CachedLogin> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, CachedLogin>;
  } catch {
    return {};
  }
}

export function cachedLogin(server: string, env?: NodeJS.ProcessEnv): CachedLogin | null {
  return readAll(tokenCachePath(env))[new URL(server).origin] ?? null;
}

export function saveLogin(server: string, login: CachedLogin | null, env?: NodeJS.ProcessEnv): string {
  const path = tokenCachePath(env);
  const all = readAll(path);
  const key = new URL(server).origin;
  if (login) all[key] = login;
  else delete all[key];
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  chmodSync(dirname(path), 0o700);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
  return path;
}
