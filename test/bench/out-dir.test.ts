import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const repo = new URL('../../', import.meta.url).pathname;

describe('bench/out', () => {
  it('exists in a fresh clone, so k6 (which cannot create directories) can write its result file there', () => {
    // Tracked by git: a clone has it. Everything else under it is ignored.
    expect(execFileSync('git', ['ls-files', 'bench/out'], { cwd: repo, encoding: 'utf8' }).trim()).toBe('bench/out/.gitkeep');
    // `git check-ignore` exits non-zero (and execFileSync throws) for a path git would track.
    execFileSync('git', ['check-ignore', '-q', 'bench/out/k6-single-stateless-100.json'], { cwd: repo });
    expect(existsSync(`${repo}bench/out`)).toBe(true);
  });
});
