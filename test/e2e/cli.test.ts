import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/raftbox.js', import.meta.url));
const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const env = { ...process.env, RAFTBOX_LOG_LEVEL: 'info' };

describe('raftbox command', () => {
  const raftbox = (args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) =>
    spawnSync(process.execPath, [bin, ...args], { cwd: tmpdir(), encoding: 'utf8', env: opts.env ?? env, input: opts.input, timeout: 20_000 });

  it('prints an overview, and per subcommand only the options that apply to it, from any directory', () => {
    const overview = raftbox(['--help']);
    expect(overview.status).toBe(0);
    for (const c of ['serve', 'stdio', 'cluster', 'members', 'run', 'executions', 'sessions', 'login', 'hash-password']) expect(overview.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    expect(overview.stdout).toContain('npx raftbox');
    const serve = raftbox(['serve', '--help']).stdout;
    expect(serve).toMatch(/--max-memory-mb <n>\s+\[RAFTBOX_MAX_MEMORY_MB\]/);
    // Map options take key=value pairs; users and clients are name=hash, not id=url.
    expect(serve).toMatch(/--oauth-users <key=value,...>\s+\[RAFTBOX_OAUTH_USERS\]/);
    expect(serve).toContain('(file: --oauth-users-file, RAFTBOX_OAUTH_USERS_FILE)');
    const stdio = raftbox(['stdio', '--help']).stdout;
    expect(stdio).toMatch(/--max-memory-mb/);
    expect(stdio).not.toMatch(/--oauth|--peers|--port|--cors-origins/);
    expect(raftbox(['help', 'run']).stdout).toMatch(/--session <name>[\s\S]*--url <url>/);
    expect(raftbox(['cluster', '-h']).stdout).toMatch(/--restart/);
  });

  it('prints help without loading the server', () => {
    // Help is static text: importing the server (isolated-vm, Koa, the MCP SDK) to print it took seconds.
    // A resolve hook fails any import of those, so a help that loads them exits non-zero here.
    const hook = `import { registerHooks } from 'node:module';
      registerHooks({ resolve(s, c, next) { if (/isolated-vm|server\\.ts$|@modelcontextprotocol/.test(s)) throw new Error('help loaded ' + s); return next(s, c); } });`;
    for (const command of ['run', 'serve', 'stdio', 'cluster', 'members', 'executions', 'sessions', 'login', 'logout', 'hash-password']) {
      const h = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, main, command, '--help'], { encoding: 'utf8', env });
      expect(h.stderr, command).toBe('');
      expect(h.status, command).toBe(0);
    }
  });

  it('refuses bad flags and commands with a clear message, a suggestion, and exit code 2', () => {
    const flag = raftbox(['serve', '--prot', '1']);
    expect(flag.status).toBe(2);
    expect(flag.stderr).toBe('raftbox: unknown flag --prot; did you mean --port? (see raftbox --help)\n');
    const cmd = raftbox(['srve']);
    expect(cmd.status).toBe(2);
    expect(cmd.stderr).toMatch(/unknown command "srve"; did you mean serve\?/);
    const run = raftbox(['run', '-', '--sesion', 'a'], { input: '1' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/unknown option --sesion; did you mean --session\?/);
  });

  it('refuses options that cannot apply to stdio, from flags and the environment alike', () => {
    const flag = raftbox(['stdio', '--oauth']);
    expect(flag.status).toBe(2);
    expect(flag.stderr).toMatch(/^raftbox: --oauth does not apply to `raftbox stdio`/);
    const fromEnv = raftbox(['stdio'], { env: { ...env, RAFTBOX_PEERS: 'n1=http://127.0.0.1:1' } });
    expect(fromEnv.status).toBe(2);
    expect(fromEnv.stderr).toMatch(/RAFTBOX_PEERS does not apply to `raftbox stdio`/);
  });

  it('exits with a clear message for a data dir it cannot create, instead of hanging', () => {
    for (const [dir, reason] of [['/proc/raftbox-data', /cannot create data dir \/proc\/raftbox-data: ENOENT/], ['/etc/hostname/data', /cannot use data dir \/etc\/hostname\/data: ENOTDIR/]] as const) {
      const r = spawnSync(process.execPath, [bin, 'serve', '--port', '0', '--data-dir', dir], { cwd: tmpdir(), encoding: 'utf8', env, timeout: 20_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(reason);
    }
  });

  it('serves, then shuts down cleanly on SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'raftbox-cli-'));
    const child = spawn(process.execPath, [bin, '--port', '0', '--data-dir', dataDir], { cwd: tmpdir(), env });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', () => {
        const m = /"url":"([^"]+)"/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    expect((await fetch(url + '/healthz')).status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toMatch(/"msg":"stopped"/);
    await rm(dataDir, { recursive: true, force: true });
  });
});
