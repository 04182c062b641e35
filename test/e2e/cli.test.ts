import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/raftbox.js', import.meta.url));
const env = { ...process.env, RAFTBOX_LOG_LEVEL: 'info' };

describe('raftbox command', () => {
  it('prints help from any directory', () => {
    const r = spawnSync(process.execPath, [bin, '--help'], { cwd: tmpdir(), encoding: 'utf8', env });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/raftbox \[serve\]/);
    expect(r.stdout).toMatch(/--max-memory-mb <n>\s+\[RAFTBOX_MAX_MEMORY_MB\]/);
    // Map options take key=value pairs; users and clients are name=hash, not id=url.
    expect(r.stdout).toMatch(/--oauth-users <key=value,...>\s+\[RAFTBOX_OAUTH_USERS\]/);
    expect(r.stdout).not.toMatch(/--oauth-(users|clients) <id=url/);
  });

  it('refuses bad flags and commands with a clear message and exit code 2', () => {
    const flag = spawnSync(process.execPath, [bin, 'serve', '--prot', '1'], { cwd: tmpdir(), encoding: 'utf8', env });
    expect(flag.status).toBe(2);
    expect(flag.stderr).toBe('raftbox: unknown flag --prot (see raftbox --help)\n');
    const cmd = spawnSync(process.execPath, [bin, 'srve'], { cwd: tmpdir(), encoding: 'utf8', env });
    expect(cmd.status).toBe(2);
    expect(cmd.stderr).toMatch(/unknown command "srve"/);
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
