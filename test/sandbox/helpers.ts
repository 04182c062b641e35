import { IsolatePool, LiveSession, type Limits, type RunOutcome, type Step } from '../../src/sandbox/index.ts';

export const limits: Limits = { memoryMb: 64, cpuTimeoutMs: 2000, wallTimeoutMs: 5000, maxOutputBytes: 64 * 1024 };

export function step(code: string, overrides: Partial<Step> = {}): Step {
  return { code, language: 'js', seed: 'seed', clock: Date.UTC(2025, 0, 1), ...overrides };
}

export interface Sandbox {
  run(code: string): Promise<RunOutcome>;
  close(): void;
}

/** The two kinds of context user code runs in: a pooled (stateless, locked-down) one and a session's. */
export const SANDBOX_MODES: Array<[string, () => Promise<Sandbox>]> = [
  [
    'pooled context',
    async () => {
      const pool = new IsolatePool({ maxIsolates: 1 });
      return { run: (code) => pool.run(step(code), limits), close: () => pool.close() };
    },
  ],
  [
    'session context',
    async () => {
      const session = await LiveSession.create(64);
      return { run: (code) => session.run(step(code), limits), close: () => session.dispose() };
    },
  ],
];
