import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Installs real packages from the npm registry into `dir` (what an operator does with `npm install
 * --prefix`). Answers null, or, when the registry cannot be reached, the reason to skip with.
 */
export async function installPackages(dir: string, specs: string[]): Promise<string | null> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"private": true}');
  try {
    await promisify(execFile)('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund', ...specs], { timeout: 180_000 });
    return null;
  } catch (err) {
    return `npm install of ${specs.join(' ')} failed (the npm registry must be reachable): ${(err as Error).message.split('\n')[0]}`;
  }
}
