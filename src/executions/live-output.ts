import type { ConsoleLine } from '../sandbox/index.ts';

/** A chunk of a running execution's console goes out once it holds this many bytes… */
export const CHUNK_BYTES = 64 * 1024;
/** …or once its first line is this old, whichever comes first. */
export const CHUNK_MS = 250;

/** `execution.output`: console lines `from` onwards of a running execution (see execution-state.ts). */
export interface OutputChunk {
  id: string;
  from: number;
  lines: ConsoleLine[];
  truncated: boolean;
}

/** What applying a chunk answers: `have` is the replicated line count when the chunk did not start there. */
export type OutputVerdict = { ok: true } | { ok: false; have?: number };

/**
 * The console of a run on its way to the other nodes while it runs: lines from the sandbox
 * (RunHooks.onConsole) are batched into chunks by size and time, and each chunk is handed to `send`
 * (a replicated command) one at a time, in order; lines that come meanwhile wait for the next chunk.
 * Bounded by the run's output cap, which the sandbox enforces before a line gets here. `seen` is
 * called with every line at once, for the owner node's own view of the run.
 */
export class LiveOutput {
  readonly #lines: ConsoleLine[] = [];
  #truncated = false;
  /** Lines already handed to `send`. */
  #sent = 0;
  #pendingBytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<unknown> | undefined;
  #closed = false;

  readonly #id: string;
  readonly #send: (chunk: OutputChunk) => Promise<OutputVerdict | undefined>;
  readonly #seen: (lines: readonly ConsoleLine[], truncated: boolean) => void;
  constructor(id: string, send: (chunk: OutputChunk) => Promise<OutputVerdict | undefined>, seen: (lines: readonly ConsoleLine[], truncated: boolean) => void) {
    this.#id = id;
    this.#send = send;
    this.#seen = seen;
  }

  /** A console line as the run printed it (the sandbox's truncation mark last, then nothing). */
  line(line: ConsoleLine, truncationMark = false): void {
    if (this.#closed) return;
    this.#lines.push(line);
    if (truncationMark) this.#truncated = true;
    this.#pendingBytes += line.text.length + 16;
    if (this.#pendingBytes >= CHUNK_BYTES) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), CHUNK_MS);
  }

  /** The run ended: its final record carries the whole console, so nothing more goes out. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed || this.#sent === this.#lines.length) return;
    this.#seen(this.#lines, this.#truncated);
    // One chunk in flight at a time: the next starts where the last one ended, after it is applied.
    if (this.#inFlight) return;
    const chunk: OutputChunk = { id: this.#id, from: this.#sent, lines: this.#lines.slice(this.#sent), truncated: this.#truncated };
    this.#sent = this.#lines.length;
    this.#pendingBytes = 0;
    this.#inFlight = this.#send(chunk).then(
      (verdict) => {
        // The replicated console holds a different count (a chunk was lost, or the record is not
        // there yet): go on from what it has, at the next tick.
        if (verdict && !verdict.ok && typeof verdict.have === 'number') this.#sent = Math.min(this.#sent, verdict.have);
        return verdict?.ok !== false;
      },
      // Not committed (no leader for a moment): sent again at the next tick. Best effort either
      // way: the final record has every line.
      () => {
        this.#sent = Math.min(this.#sent, chunk.from);
        return false;
      },
    ).then((ok) => {
      this.#inFlight = undefined;
      if (this.#sent === this.#lines.length) return;
      // A full chunk waiting goes at once after a success; anything else at the next tick, so a
      // refusal is never retried in a loop.
      if (ok && this.#pendingBytes >= CHUNK_BYTES) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), CHUNK_MS);
    });
  }
}
