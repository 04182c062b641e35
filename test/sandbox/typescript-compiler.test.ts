import { afterAll, describe, expect, it } from 'vitest';
import { CompilerFailure, IsolatePool } from '../../src/sandbox/index.ts';
import { limits, step } from './helpers.ts';

const pool = new IsolatePool({ maxIsolates: 2 });
afterAll(() => pool.close());
const ts = (code: string) => step(code, { language: 'ts' });

describe('one TypeScript cell cannot disable TypeScript for the node', () => {
  it('refuses brackets nested too deep before they reach the compiler', async () => {
    const outcome = await pool.run(ts(`let x: number = ${'('.repeat(300_000)}1${')'.repeat(300_000)}`), limits);
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatchObject({ name: 'SyntaxError', message: expect.stringMatching(/nested deeper than 1000/), line: 1 });
    // Deep but allowed nesting, and brackets in strings, templates and comments, still compile.
    const fine = await pool.run(ts(`let s: string = "${'('.repeat(2000)}" + \`${'['.repeat(2000)}\`; /* ${'{'.repeat(2000)} */ let n: number = ${'('.repeat(500)}1${')'.repeat(500)}; [s.length, n]`), limits);
    expect(fine).toMatchObject({ status: 'completed', result: [4000, 1] });
  });

  it('makes a compiler crash that cell\'s error only, and restarts the compiler for the others', async () => {
    const crashing = pool.run(ts(`let x: number = ${'!'.repeat(300_000)}1`), limits);
    const innocent = pool.run(ts('let y: number = 41; y + 1'), limits);
    await expect(crashing).rejects.toBeInstanceOf(CompilerFailure);
    await expect(crashing).rejects.toThrow(/crashed on this cell/);
    expect(await innocent).toMatchObject({ status: 'completed', result: 42 });
    expect(await pool.run(ts('const z: string = "after"; z'), limits)).toMatchObject({ status: 'completed', result: 'after' });
  });
});
