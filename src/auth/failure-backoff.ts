/**
 * Slows down password and client-secret guessing: after `freeFailures` wrong attempts for one key
 * (an account, a client id), each further one makes the key wait twice as long before the next
 * attempt is even checked, up to `maxWaitMs`; a success clears the key. Kept per node, in memory
 * and bounded: a cluster of n nodes lets a guesser through n times as fast, which is still seconds
 * per guess after a few dozen.
 */
export class FailureBackoff {
  private readonly failures = new Map<string, { count: number; until: number }>();

  private readonly opts: { freeFailures: number; firstWaitMs: number; maxWaitMs: number; maxKeys: number; nowMs: () => number };
  constructor(opts: { freeFailures: number; firstWaitMs: number; maxWaitMs: number; maxKeys: number; nowMs: () => number }) {
    this.opts = opts;
  }

  /** Milliseconds `key` must still wait before its next attempt is checked; 0 when it may go ahead. */
  waitMs(key: string): number {
    const entry = this.failures.get(key);
    return entry ? Math.max(0, entry.until - this.opts.nowMs()) : 0;
  }

  failed(key: string): void {
    const now = this.opts.nowMs();
    const entry = this.failures.get(key) ?? { count: 0, until: now };
    // A key quiet for the longest wait starts over.
    if (now - entry.until > this.opts.maxWaitMs) entry.count = 0;
    entry.count++;
    const over = entry.count - this.opts.freeFailures;
    entry.until = over > 0 ? now + Math.min(this.opts.maxWaitMs, this.opts.firstWaitMs * 2 ** (over - 1)) : now;
    this.failures.delete(key); // re-inserted as the newest
    this.failures.set(key, entry);
    if (this.failures.size > this.opts.maxKeys) this.failures.delete(this.failures.keys().next().value!);
  }

  succeeded(key: string): void {
    this.failures.delete(key);
  }
}

/** What the built-in server uses: 5 free guesses, then 2 s, 4 s, 8 s … up to a minute. */
export const guessBackoff = (nowMs: () => number) => new FailureBackoff({ freeFailures: 5, firstWaitMs: 2_000, maxWaitMs: 60_000, maxKeys: 10_000, nowMs });
