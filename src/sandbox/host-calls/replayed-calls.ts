import { callDigest, callLabel, parseDescription, type Deliver, type HostCallScope } from './port.ts';
import type { HostCallRecord } from './types.ts';

/** A replay asked for something its journal does not hold: the session cannot be rebuilt by guessing. */
export class SessionDivergedError extends Error {
  override readonly name = 'SessionDivergedError';
}

/**
 * One replayed step's calls: performs nothing. Each wait is answered with the next recorded
 * completion when the call it answers has been issued and its recorded time comes before the next
 * timer (the rule the live step followed), else with 'timeout' if a timer is pending. A call that
 * differs from the record, a wait the record cannot answer, or a step that ends with answers left
 * over is a divergence, reported once through `diverged`.
 */
export class ReplayedHostCalls implements HostCallScope {
  #next = 0;
  #issued = new Set<number>();
  #closed = false;

  readonly #step: number;
  readonly #records: readonly HostCallRecord[];
  readonly #deliver: Deliver;
  readonly #diverged: (error: SessionDivergedError) => void;
  constructor(step: number, records: readonly HostCallRecord[], deliver: Deliver, diverged: (error: SessionDivergedError) => void) {
    this.#step = step;
    this.#records = records;
    this.#deliver = deliver;
    this.#diverged = diverged;
  }

  issue(call: number, kind: string, descriptionJson: string, bytes: Uint8Array | null): void {
    const recorded = this.#records.find((r) => r.call === call);
    if (recorded !== undefined && recorded.digest !== callDigest(kind, descriptionJson, bytes)) {
      const asked = callLabel(kind, parseDescription(descriptionJson) ?? null);
      throw this.#diverge(`call ${call + 1} asks for ${asked}${asked === recorded.label ? ' (with other headers or body)' : ''}, the journal answered ${recorded.label}`);
    }
    this.#issued.add(call);
  }

  wait(_virtualNow: number, nextDue: number): void {
    const record = this.#records[this.#next];
    let message: string;
    let bytes: Uint8Array | null = null;
    if (record !== undefined && this.#issued.has(record.call) && record.at < nextDue) {
      this.#next++;
      message = JSON.stringify([record.call, record.at, record.answer]);
      if (record.body !== undefined) bytes = new Uint8Array(Buffer.from(record.body, 'base64'));
    } else if (Number.isFinite(nextDue)) {
      message = 'timeout';
    } else {
      this.#diverge(record === undefined ? 'it waits for a host call the journal has no answer for' : `it waits, but never asked for ${record.label}, which the journal answered next`);
      return;
    }
    setImmediate(() => {
      if (!this.#closed) this.#deliver(message, bytes);
    });
  }

  cancel(): void {}

  end(): void {
    if (this.#next < this.#records.length) this.#diverge(`it ended before the journal's answer to ${this.#records[this.#next]!.label} was delivered`);
  }

  close(): void {
    this.#closed = true;
  }

  #diverge(detail: string): SessionDivergedError {
    const error = new SessionDivergedError(`session diverged from its journal at step ${this.#step}: ${detail}`);
    if (!this.#closed) this.#diverged(error);
    this.#closed = true;
    return error;
  }
}
