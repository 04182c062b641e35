import type { Limits, Step } from '../../src/sandbox/index.ts';

export const limits: Limits = { memoryMb: 64, cpuTimeoutMs: 2000, wallTimeoutMs: 5000, maxOutputBytes: 64 * 1024 };

export function step(code: string, overrides: Partial<Step> = {}): Step {
  return { code, language: 'js', seed: 'seed', clock: Date.UTC(2025, 0, 1), ...overrides };
}
