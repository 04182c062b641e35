import { afterAll, describe, expect, it } from 'vitest';
import { IsolatePool, type RunOutcome } from '../../src/sandbox/index.ts';
import { limits, step } from './helpers.ts';

const pool = new IsolatePool({ maxIsolates: 2 });
afterAll(() => pool.close());

const BUDGET = 64 * 1024;
// Each field cut by the budget carries one mark of this size at most.
const MARK_BYTES = 100;
const utf8 = (text: string | null | undefined) => Buffer.byteLength(text ?? '');

/** The UTF-8 bytes of everything the outcome carries out of the sandbox. */
function outcomeBytes(o: RunOutcome): number {
  const console = o.console.reduce((n, l) => n + utf8(l.text), 0);
  return console + utf8(o.resultText) + utf8(o.error?.name) + utf8(o.error?.message) + utf8(o.error?.stack);
}

describe('one UTF-8 byte budget for everything that leaves the sandbox', () => {
  it('cuts a huge error message and its stack, and marks them', async () => {
    const outcome = await pool.run(step('throw new Error("A".repeat(2e6))'), { ...limits, memoryMb: 128, maxOutputBytes: BUDGET });
    expect(outcome.status).toBe('failed');
    expect(outcome.error!.name).toBe('Error');
    expect(outcome.error!.message).toMatch(/^A+… \[error message truncated: output limit of 65536 bytes\]$/);
    expect(outcomeBytes(outcome)).toBeLessThanOrEqual(BUDGET + 3 * MARK_BYTES);
  });

  it('cuts an error name and a thrown non-error value', async () => {
    const named = await pool.run(step('const e = new Error("m"); e.name = "N".repeat(1e6); throw e'), { ...limits, maxOutputBytes: BUDGET });
    expect(outcomeBytes(named)).toBeLessThanOrEqual(BUDGET + 3 * MARK_BYTES);
    const value = await pool.run(step('throw { text: "x".repeat(1e6) }'), { ...limits, maxOutputBytes: BUDGET });
    expect(outcomeBytes(value)).toBeLessThanOrEqual(BUDGET + MARK_BYTES);
  });

  it('counts a result in UTF-8 bytes and cuts it on a character boundary', async () => {
    const euro = await pool.run(step('"€".repeat(3e4)'), { ...limits, maxOutputBytes: BUDGET });
    expect(euro.result).toBeNull();
    expect(euro.resultText).toMatch(/^"€+… \[result truncated: output limit of 65536 bytes\]$/);
    expect(utf8(euro.resultText)).toBeLessThanOrEqual(BUDGET + MARK_BYTES);
    const emoji = await pool.run(step('"😀".repeat(3e4)'), { ...limits, maxOutputBytes: BUDGET });
    expect(emoji.resultText).toMatch(/^"(😀)+… \[result truncated/u);
  });

  it('charges console and result to the same budget', async () => {
    const code = 'for (let i = 0; i < 1e4; i++) console.log("é".repeat(100)); "r".repeat(1e5)';
    const outcome = await pool.run(step(code), { ...limits, maxOutputBytes: BUDGET });
    expect(outcome.consoleTruncated).toBe(true);
    expect(outcome.resultText).toMatch(/… \[result truncated/);
    expect(outcomeBytes(outcome)).toBeLessThanOrEqual(BUDGET + 2 * MARK_BYTES);
  });

  it('bounds a flood of empty console lines by their count as well', async () => {
    const outcome = await pool.run(step('for (let i = 0; i < 1e6; i++) console.log("")'), { ...limits, maxOutputBytes: BUDGET });
    expect(outcome.consoleTruncated).toBe(true);
    expect(outcome.console.length).toBeLessThan(BUDGET / 8);
  });

  it('keeps room for the error after a full console', async () => {
    const outcome = await pool.run(step('for (let i = 0; i < 1e5; i++) console.log("line", i); throw new TypeError("the reason")'), { ...limits, maxOutputBytes: BUDGET });
    expect(outcome.consoleTruncated).toBe(true);
    expect(outcome.error).toMatchObject({ name: 'TypeError', message: 'the reason' });
  });
});
