import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Whether an executable of this name is on PATH. */
export function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * A test's system prerequisite (a Debian package the suite never installs itself: tests do not change
 * the machine). Answers null when it is there, else the reason to skip, printed once with what to install.
 * Under `.ci/run` (REQUIRE_TEST_PREREQUISITES=1) a missing prerequisite fails the file instead,
 * so CI cannot pass with those tests quietly skipped.
 */
export function missingPrerequisite(what: string, available: boolean): string | null {
  if (available) return null;
  const reason = `${what} is not installed (install it with \`npm run setup:e2e\`, or: apt-get install ${what})`;
  if (process.env.REQUIRE_TEST_PREREQUISITES === '1') throw new Error(`REQUIRE_TEST_PREREQUISITES=1 but ${reason}`);
  console.warn(`SKIPPED: ${reason}`);
  return reason;
}
