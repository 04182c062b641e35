import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Debian's chromium, installed with apt when missing (the tests run as root in CI). Answers why it is
 * unavailable instead of throwing, so the browser test can be skipped with that reason.
 */
export function ensureChromium(): string | null {
  if (existsSync(CHROMIUM)) return null;
  try {
    execSync('apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium', { stdio: 'ignore', timeout: 300_000 });
  } catch (err) {
    return `chromium is not installed and apt-get could not install it (${(err as Error).message.split('\n')[0]})`;
  }
  return existsSync(CHROMIUM) ? null : `apt-get ran but ${CHROMIUM} is still missing`;
}

/** Headless chromium with a fresh profile (playwright passes it as --user-data-dir). */
export async function launchChromium(): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), 'raftbox-chromium-'));
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
