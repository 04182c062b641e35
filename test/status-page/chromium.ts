import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { missingPrerequisite } from '../deploy/prerequisites.ts';

export const CHROMIUM = '/usr/bin/chromium';

/** Debian's chromium, or why the browser test is skipped (tests never install it: `npm run setup:e2e` does). */
export function missingChromium(): string | null {
  return missingPrerequisite('chromium', existsSync(CHROMIUM));
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
