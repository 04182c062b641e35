import { callDigest, callLabel, parseDescription, type Deliver, type HostCallScope } from './port.ts';
import { errorAnswer, type HostCallAnswer, type HostCallPerformer, type HostCallRecord, type HostCallRequest } from './types.ts';

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

interface InFlight {
  controller: AbortController;
  kind: string;
  label: string;
  digest: string;
}

interface Arrived {
  call: number;
  /** performance.now() when the answer was ready. */
  arrivedAt: number;
  result: HostCallAnswer;
}

interface Waiter {
  virtualNow: number;
  nextDue: number;
  since: number;
  timer: ReturnType<typeof setTimeout> | null;
}

/**
 * One live step's calls: performs them, and hands the isolate each completion when it waits, with
 * the virtual time of the delivery (the clock follows real time while the step waits). A completion
 * is delivered only if its time comes before the next timer's due time, so a replay that knows the
 * recorded time makes the same choice. Every delivered answer is recorded, in delivery order.
 */
export class LiveHostCalls implements HostCallScope {
  readonly records: HostCallRecord[] = [];
  #recordedBytes = 0;
  #issued = 0;
  #inFlight = new Map<number, InFlight>();
  #arrived: Arrived[] = [];
  #waiter: Waiter | null = null;
  #closed = false;

  readonly #performer: HostCallPerformer;
  readonly #deliver: Deliver;
  constructor(performer: HostCallPerformer, deliver: Deliver) {
    this.#performer = performer;
    this.#deliver = deliver;
  }

  issue(call: number, kind: string, descriptionJson: string, bytes: Uint8Array | null): void {
    const description = parseDescription(descriptionJson);
    const flight: InFlight = { controller: new AbortController(), kind, label: callLabel(kind, description ?? null), digest: callDigest(kind, descriptionJson, bytes) };
    this.#inFlight.set(call, flight);
    const limits = this.#performer.limits;
    const refusal =
      description === undefined
        ? errorAnswer('TypeError', `${flight.label}: the call's description is not JSON`)
        : ++this.#issued > limits.maxCalls
          ? errorAnswer('RangeError', `${flight.label}: this step already made ${limits.maxCalls} host calls, its limit`)
          : this.#inFlight.size > limits.maxConcurrent
            ? errorAnswer('RangeError', `${flight.label}: this step already has ${limits.maxConcurrent} host calls in flight, its limit; await some first`)
            : bytes !== null && bytes.byteLength > limits.maxAnswerBytes
              ? errorAnswer('RangeError', `${flight.label}: the request body of ${bytes.byteLength} bytes is over the limit of ${limits.maxAnswerBytes}`)
              : null;
    if (refusal !== null) {
      this.#arrive(call, refusal);
      return;
    }
    const request: HostCallRequest = { kind, description: description!, bytes };
    void this.#performer.perform(request, flight.controller.signal).then(
      (result) => this.#arrive(call, result),
      (err: unknown) => this.#arrive(call, errorAnswer('TypeError', `${flight.label}: ${err instanceof Error ? err.message : String(err)}`)),
    );
  }

  wait(virtualNow: number, nextDue: number): void {
    this.#waiter = { virtualNow, nextDue, since: performance.now(), timer: null };
    queueMicrotask(() => this.#pump());
  }

  cancel(call: number): void {
    this.#inFlight.get(call)?.controller.abort();
    this.#inFlight.delete(call);
    this.#arrived = this.#arrived.filter((a) => a.call !== call);
  }

  end(): void {
    this.close();
  }

  close(): void {
    this.#closed = true;
    for (const flight of this.#inFlight.values()) flight.controller.abort();
    this.#inFlight.clear();
    this.#arrived = [];
    if (this.#waiter?.timer) clearTimeout(this.#waiter.timer);
    this.#waiter = null;
  }

  #arrive(call: number, result: HostCallAnswer): void {
    if (this.#closed || !this.#inFlight.has(call)) return;
    this.#arrived.push({ call, arrivedAt: performance.now(), result });
    // Never from inside the isolate's callback: a delivery is a call into the isolate.
    queueMicrotask(() => this.#pump());
  }

  #pump(): void {
    const waiter = this.#waiter;
    if (waiter === null || this.#closed) return;
    const next = this.#arrived[0];
    if (next !== undefined) {
      const at = waiter.virtualNow + Math.max(0, next.arrivedAt - waiter.since);
      this.#endWait(waiter);
      if (at < waiter.nextDue) {
        this.#arrived.shift();
        this.#deliverAnswer(next, at);
      } else {
        this.#deliver('timeout', null);
      }
      return;
    }
    if (waiter.timer === null && Number.isFinite(waiter.nextDue)) {
      // Node fires a longer timeout at once; the step's wall-clock limit is far shorter anyway.
      const ms = Math.min(MAX_TIMEOUT_MS, Math.max(0, waiter.nextDue - waiter.virtualNow - (performance.now() - waiter.since)));
      waiter.timer = setTimeout(() => {
        if (this.#waiter !== waiter) return;
        this.#endWait(waiter);
        this.#deliver('timeout', null);
      }, ms);
    }
  }

  #endWait(waiter: Waiter): void {
    if (waiter.timer) clearTimeout(waiter.timer);
    this.#waiter = null;
  }

  /** Records the answer (or, past the step's recorded-bytes cap, an error in its place) and delivers it. */
  #deliverAnswer(arrived: Arrived, at: number): void {
    const flight = this.#inFlight.get(arrived.call)!;
    this.#inFlight.delete(arrived.call);
    const limits = this.#performer.limits;
    let result = arrived.result;
    let bytes = result.bytes ?? null;
    if (bytes !== null && bytes.byteLength > limits.maxAnswerBytes) {
      result = errorAnswer('RangeError', `${flight.label}: the answer of ${bytes.byteLength} bytes is over the limit of ${limits.maxAnswerBytes} bytes per answer`);
      bytes = null;
    }
    let record = this.#record(arrived.call, flight, at, result, bytes);
    let size = recordSize(record, bytes);
    if (this.#recordedBytes + size > limits.maxRecordedBytes && !isError(result)) {
      result = errorAnswer(
        'RangeError',
        `${flight.label}: its answer (${size} bytes) would take this step's recorded answers over their limit of ${limits.maxRecordedBytes} bytes (max-recorded-bytes)`,
      );
      bytes = null;
      record = this.#record(arrived.call, flight, at, result, null);
      size = recordSize(record, null);
    }
    this.#recordedBytes += size;
    this.records.push(record);
    this.#deliver(JSON.stringify([arrived.call, at, result.answer]), bytes);
  }

  #record(call: number, flight: InFlight, at: number, result: HostCallAnswer, bytes: Uint8Array | null): HostCallRecord {
    const record: HostCallRecord = { call, kind: flight.kind, label: flight.label, digest: flight.digest, at, answer: result.answer };
    if (bytes !== null) record.body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
    if (result.note !== undefined) record.note = result.note;
    return record;
  }
}

function isError(result: HostCallAnswer): boolean {
  const a = result.answer;
  return typeof a === 'object' && a !== null && !Array.isArray(a) && a.error !== undefined;
}

/** What a record costs against the cap: its JSON without the body, plus the body's bytes. */
function recordSize(record: HostCallRecord, bytes: Uint8Array | null): number {
  const { body: _body, ...rest } = record;
  return Buffer.byteLength(JSON.stringify(rest)) + (bytes?.byteLength ?? 0);
}
