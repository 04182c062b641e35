import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CHUNK_BYTES, CHUNK_MS, LiveOutput, type OutputChunk, type OutputVerdict } from '../../src/executions/live-output.ts';

// The chunking of a running execution's console (by size or time, one chunk in flight), on a fake
// clock: what goes out when is decided by the rules, not by how fast this machine is.

const line = (text: string) => ({ level: 'log' as const, text });

describe('LiveOutput', () => {
  let sent: OutputChunk[];
  let answers: Array<(v: OutputVerdict | Error) => void>;
  let seen: number[];
  let out: LiveOutput;
  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    answers = [];
    seen = [];
    out = new LiveOutput(
      'x',
      (chunk) => {
        sent.push(chunk);
        return new Promise((resolve, reject) => answers.push((v) => (v instanceof Error ? reject(v) : resolve(v))));
      },
      (lines) => seen.push(lines.length),
    );
  });
  afterEach(() => vi.useRealTimers());

  const settle = async (v: OutputVerdict | Error = { ok: true }) => {
    answers.shift()!(v);
    await vi.advanceTimersByTimeAsync(0);
  };

  it('sends small output once its first line is CHUNK_MS old', async () => {
    out.line(line('a'));
    out.line(line('b'));
    await vi.advanceTimersByTimeAsync(CHUNK_MS - 1);
    expect(sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toEqual([{ id: 'x', from: 0, lines: [line('a'), line('b')], truncated: false }]);
    expect(seen).toEqual([2]);
  });

  it('sends at once when a chunk reaches CHUNK_BYTES, and one chunk at a time, in order', async () => {
    out.line(line('x'.repeat(CHUNK_BYTES)));
    expect(sent.map((c) => c.from)).toEqual([0]);
    out.line(line('later'));
    out.line(line('x'.repeat(CHUNK_BYTES)));
    expect(sent).toHaveLength(1); // the first is not applied yet
    await settle();
    expect(sent[1]).toMatchObject({ from: 1, lines: [line('later'), expect.anything()] });
  });

  it('sends again from where the replicated console ends after a lost or refused chunk', async () => {
    out.line(line('a'));
    await vi.advanceTimersByTimeAsync(CHUNK_MS);
    await settle(new Error('no leader'));
    await vi.advanceTimersByTimeAsync(CHUNK_MS);
    expect(sent[1]).toMatchObject({ from: 0, lines: [line("a")] });
    out.line(line('b'));
    await settle({ ok: false, have: 0 });
    await vi.advanceTimersByTimeAsync(CHUNK_MS);
    expect(sent[2]).toMatchObject({ from: 0, lines: [line('a'), line('b')] });
  });

  it('carries the truncation mark, and sends nothing once closed', async () => {
    out.line(line('[console output truncated]'), true);
    await vi.advanceTimersByTimeAsync(CHUNK_MS);
    expect(sent[0]!.truncated).toBe(true);
    await settle();
    out.line(line('late'));
    out.close();
    await vi.advanceTimersByTimeAsync(10 * CHUNK_MS);
    expect(sent).toHaveLength(1);
  });
});
