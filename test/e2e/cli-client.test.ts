// The client commands (`raftbox run`, `executions`, `sessions`, `login`) as a developer runs them,
// against real nodes: one open, one with the built-in OAuth server.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/index.ts';
import { cookieOf, formFields } from '../auth/harness.ts';
import type { Config } from '../../src/config/index.ts';
import { startTestNode } from './node.ts';

const bin = fileURLToPath(new URL('../../bin/raftbox.js', import.meta.url));
const home = mkdtempSync(join(tmpdir(), 'raftbox-cli-home-'));
const PASSWORD = 'correct horse battery staple';
const MACHINE_SECRET = 'machine-secret-for-cli-tests';

let open: Awaited<ReturnType<typeof startTestNode>>;
let locked: Awaited<ReturnType<typeof startTestNode>>;
beforeAll(async () => {
  open = await startTestNode();
  locked = await startTestNode({
    oauth: { enabled: true, users: { alice: await hashPassword(PASSWORD) }, clients: { ci: await hashPassword(MACHINE_SECRET) }, accessTokenTtlSecs: 600, refreshTokenTtlSecs: 3600, clientMetadataDocuments: "public", enterpriseIdps: [] } as Config["oauth"],
  });
}, 60_000);
afterAll(async () => {
  await open?.stop();
  await locked?.stop();
});

const baseEnv = { ...process.env, XDG_CONFIG_HOME: home, RAFTBOX_URL: '' };
/** The CLI as a child process; asynchronously, since the nodes it calls run in this process. */
function raftbox(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...baseEnv, ...opts.env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
}

describe('raftbox run, executions, sessions', () => {
  it('prints console output and the result, and exits 1 when the code threw', async () => {
    const file = join(home, 'sum.js');
    writeFileSync(file, 'console.log("adding"); [1, 2, 3].reduce((a, b) => a + b)');
    const ok = await raftbox(['run', file, '--url', open.url]);
    expect(ok.stdout).toBe('adding\n6\n');
    expect(ok.status).toBe(0);
    const threw = await raftbox(['run', '-', '--url', open.url], { input: 'throw new TypeError("nope")' });
    expect(threw.status).toBe(1);
    expect(threw.stderr).toMatch(/TypeError: nope/);
    const json = await raftbox(['run', '-', '--json'], { input: '({ a: 1 })', env: { RAFTBOX_URL: open.url } });
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'completed', result: { a: 1 } });
  });

  it('keeps a session across runs, and lists, shows and deletes it', async () => {
    expect((await raftbox(['run', '-', '--session', 'cli', '--url', open.url], { input: 'let total = 40' })).status).toBe(0);
    expect((await raftbox(['run', '-', '--session', 'cli', '--url', open.url], { input: 'total + 2' })).stdout).toBe('42\n');
    expect((await raftbox(['sessions', 'list', '--url', open.url])).stdout).toMatch(/^cli\s+2\s/m);
    expect((await raftbox(['sessions', 'get', 'cli', '--url', open.url])).stdout).toMatch(/--- step 1[\s\S]*let total = 40[\s\S]*--- step 2[\s\S]*total \+ 2/);
    const list = await raftbox(['executions', 'list', '--session', 'cli', '--json', '--url', open.url]);
    const { executions } = JSON.parse(list.stdout) as { executions: Array<{ execution_id: string }> };
    expect(executions).toHaveLength(2);
    expect((await raftbox(['executions', 'get', executions[0]!.execution_id, '--url', open.url])).stdout).toMatch(/completed[\s\S]*\n42\n$/);
    expect((await raftbox(['sessions', 'delete', 'cli', '--url', open.url])).stdout).toBe('deleted session cli\n');
    const gone = await raftbox(['sessions', 'get', 'cli', '--url', open.url]);
    expect(gone.status).toBe(1);
    expect(gone.stderr).toMatch(/not found/);
  });
});

describe('against an OAuth-protected node', () => {
  it('is refused without a token, and works with client credentials', async () => {
    const refused = await raftbox(['run', '-', '--url', locked.url], { input: '1' });
    expect(refused.status).toBe(1);
    const secretFile = join(home, 'ci-secret');
    writeFileSync(secretFile, MACHINE_SECRET);
    const ok = await raftbox(['run', '-', '--url', locked.url, '--client-id', 'ci', '--client-secret-file', secretFile], { input: '2 + 2' });
    expect(ok.stdout).toBe('4\n');
  });

  it('says which origin it expects when a client names localhost for 127.0.0.1 (OAUTH.md\'s walk-through)', async () => {
    const reg = await fetch(`${locked.url}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:8765/callback'], token_endpoint_auth_method: 'none' }) });
    const { client_id } = (await reg.json()) as { client_id: string };
    const localhost = locked.url.replace('127.0.0.1', 'localhost');
    const q = new URLSearchParams({ response_type: 'code', client_id, redirect_uri: 'http://127.0.0.1:8765/callback', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256', resource: localhost });
    const res = await fetch(`${locked.url}/oauth/authorize?${q}`, { redirect: 'manual' });
    const error = new URL(res.headers.get('location')!).searchParams;
    expect(error.get('error')).toBe('invalid_target');
    expect(error.get('error_description')).toBe(`resource must be ${locked.url}, this server's origin (oauth.resource); ${localhost} reaches the same server but is another origin: use ${locked.url}`);
  });

  it('signs in with `raftbox login` (PKCE, loopback redirect), caches the token 0600, and refreshes it when due', async () => {
    const login = spawn(process.execPath, [bin, 'login', '--url', locked.url, '--no-browser'], { env: baseEnv });
    let err = '';
    login.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const done = new Promise<number | null>((resolve) => login.once('exit', resolve));
    const address = await new Promise<string>((resolve, reject) => {
      login.stderr.on('data', () => {
        const m = /^\s+(http\S+\/oauth\/authorize\S+)$/m.exec(err);
        if (m) resolve(m[1]!);
      });
      login.once('exit', () => reject(new Error(err)));
    });
    // The person in the browser: the sign-in page, then consent; the server redirects to the CLI's port.
    const page = await fetch(address);
    const cookie = cookieOf(page);
    const form = { cookie, 'content-type': 'application/x-www-form-urlencoded' };
    const consent = await fetch(`${locked.url}/oauth/authorize`, { method: 'POST', headers: form, body: new URLSearchParams({ ...formFields(await page.text()), username: 'alice', password: PASSWORD }) });
    const allowed = await fetch(`${locked.url}/oauth/authorize`, { method: 'POST', redirect: 'manual', headers: form, body: new URLSearchParams({ ...formFields(await consent.text()), decision: 'allow' }) });
    const callback = allowed.headers.get('location')!;
    expect(callback).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/);
    expect(await (await fetch(callback)).text()).toMatch(/Signed in/);
    expect(await done).toBe(0);

    const cache = join(home, 'raftbox', 'tokens.json');
    expect(statSync(cache).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'raftbox')).mode & 0o777).toBe(0o700);
    const cached = () => (JSON.parse(readFileSync(cache, 'utf8')) as Record<string, { accessToken: string; refreshToken: string; expiresAt: number }>)[locked.url]!;
    expect((await raftbox(['run', '-', '--url', locked.url], { input: '"as alice"' })).stdout).toBe('"as alice"\n');

    // Due for refresh: the next command trades the refresh token for new tokens and rewrites the cache.
    const before = cached();
    writeFileSync(cache, JSON.stringify({ [locked.url]: { ...before, expiresAt: Date.now() - 1000 } }), { mode: 0o600 });
    expect((await raftbox(['sessions', 'list', '--url', locked.url])).status).toBe(0);
    expect(cached().accessToken).not.toBe(before.accessToken);
    expect(cached().refreshToken).not.toBe(before.refreshToken);
    expect(cached().expiresAt).toBeGreaterThan(Date.now());

    expect((await raftbox(['logout', '--url', locked.url])).status).toBe(0);
    expect((await raftbox(['run', '-', '--url', locked.url], { input: '1' })).status).toBe(1);
  }, 60_000);
});
