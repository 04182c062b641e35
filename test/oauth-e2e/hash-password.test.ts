import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { verifySecret } from '../../src/auth/secrets.ts';

const bin = fileURLToPath(new URL('../../bin/raftbox.js', import.meta.url));
const run = (args: string[], input: string) => spawnSync(process.execPath, [bin, 'hash-password', ...args], { cwd: tmpdir(), input, encoding: 'utf8' });

describe('raftbox hash-password', () => {
  it('prints the scrypt hash of the password piped to it, without the newline echo adds', async () => {
    const r = run([], 'correct horse $tap1e \n');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}\n$/);
    const hash = r.stdout.trim();
    expect(await verifySecret('correct horse $tap1e ', hash)).toBe(true);
    expect(await verifySecret('correct horse $tap1e \n', hash)).toBe(false);
  });

  it('refuses a password given as an argument, and an empty one', () => {
    const arg = run(['s3cret'], '');
    expect(arg.status).toBe(2);
    expect(arg.stderr).toMatch(/takes no arguments/);
    expect(arg.stdout).toBe('');
    expect(run([], '\n').stderr).toBe('raftbox: empty password\n');
  });
});
