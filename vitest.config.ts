import { defineConfig } from 'vitest/config';

// isolated-vm needs --no-node-snapshot, which only a forked child can be given.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    execArgv: ['--no-node-snapshot'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    // As `raftbox` runs (src/cli/utc.ts): the sandbox's local-time Date and Intl are UTC on every node.
    env: { TZ: 'UTC' },
  },
});
