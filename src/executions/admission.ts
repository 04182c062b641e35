import { overloaded } from '../errors.ts';

export class AdmissionCancelled extends Error {}

/** A place in admission control: running, or waiting in the queue for a slot. */
export interface Ticket {
  /** Resolves when the ticket holds a slot; rejects with AdmissionCancelled when released from the queue. */
  readonly started: Promise<void>;
  /** Frees the slot, or leaves the queue. Safe to call more than once. */
  release(): void;
}

/**
 * Bounded concurrency for sandbox runs with a bounded FIFO queue in front of it. Past the queue the
 * answer is `overloaded` at once (429 + Retry-After), so a burst degrades into refusals rather than
 * into a pile of requests that all time out.
 */
export class Admission {
  private active = 0;
  private readonly queue: AdmissionTicket[] = [];

  private readonly maxConcurrent: number;
  private readonly maxQueue: number;
  constructor(
    maxConcurrent: number,
    maxQueue: number,
  ) {
    this.maxConcurrent = maxConcurrent;
    this.maxQueue = maxQueue;
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.queue.length;
  }

  admit(): Ticket {
    const ticket = new AdmissionTicket(this);
    if (this.active < this.maxConcurrent) {
      this.active++;
      ticket.grant();
    } else if (this.queue.length < this.maxQueue) {
      this.queue.push(ticket);
    } else {
      throw overloaded(`server busy: ${this.active} runs in progress and ${this.queue.length} queued; retry shortly`);
    }
    return ticket;
  }

  /** @internal A slot came free: hand it to the oldest ticket. */
  free(): void {
    const next = this.queue.shift();
    if (next) next.grant();
    else this.active--;
  }

  /** @internal */
  leave(ticket: AdmissionTicket): boolean {
    const at = this.queue.indexOf(ticket);
    if (at >= 0) this.queue.splice(at, 1);
    return at >= 0;
  }
}

class AdmissionTicket implements Ticket {
  readonly started: Promise<void>;
  private holding = false;
  private resolve!: () => void;
  private reject!: (err: Error) => void;

  private readonly admission: Admission;
  constructor(admission: Admission) {
    this.admission = admission;
    this.started = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.started.catch(() => undefined); // a ticket released from the queue may never be awaited
  }

  grant(): void {
    this.holding = true;
    this.resolve();
  }

  release(): void {
    if (this.holding) {
      this.holding = false;
      this.admission.free();
    } else if (this.admission.leave(this)) {
      this.reject(new AdmissionCancelled('left the queue before starting'));
    }
  }
}
