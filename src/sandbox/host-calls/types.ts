/**
 * The contract of the host-call channel (runtime/host-calls.js is the isolate's half): the isolate
 * asks with a kind and a plain-data description, the host answers with plain data. What performs a
 * call (egress for `fetch`) is given per run; what a step received is recorded, so that a replay
 * delivers the same answers and performs nothing.
 */

export type HostCallJson = null | boolean | number | string | HostCallJson[] | { [field: string]: HostCallJson | undefined };

/** A call as the isolate described it: the description is parsed JSON, `bytes` its body if any. */
export interface HostCallRequest {
  kind: string;
  description: HostCallJson;
  bytes: Uint8Array | null;
}

export interface HostCallAnswer {
  /** Delivered to the isolate: the call's result, or `{ error: { name, message } }`. */
  answer: HostCallJson;
  bytes?: Uint8Array | null;
  /** Recorded with the call but never delivered: what the host did (say, which credential rule applied, never a value). */
  note?: HostCallJson;
}

export interface HostCallLimits {
  /** Bytes a step's recorded answers may take in all (answers, bodies, notes). */
  maxRecordedBytes: number;
  /** Bytes of one answer's body, and of one request's. */
  maxAnswerBytes: number;
  /** Calls of a step in flight at once. */
  maxConcurrent: number;
  /** Calls a step may make in all. */
  maxCalls: number;
}

/** Performs calls for one run; never rejects for anything user code caused (that is an error answer). */
export interface HostCallPerformer {
  readonly limits: HostCallLimits;
  perform(request: HostCallRequest, signal: AbortSignal): Promise<HostCallAnswer>;
  /** Whether performing it may reach outside the node (false: it is refused or answered here); absent: true. */
  sendsOut?(request: HostCallRequest): boolean;
}

/**
 * One completed call of a step, in the order the isolate saw completions. `at` is the virtual time
 * of the delivery; `digest` identifies what was asked (kind, description and bytes), for the
 * divergence check of a replay. `body` is the answer's bytes in base64: the replicated state is JSON
 * throughout, and base64 keeps the bytes exactly (a body is never decoded as text).
 */
export interface HostCallRecord {
  call: number;
  kind: string;
  label: string;
  digest: string;
  at: number;
  answer: HostCallJson;
  body?: string;
  note?: HostCallJson;
  [field: string]: HostCallJson | undefined;
}

export const errorAnswer = (name: string, message: string): HostCallAnswer => ({ answer: { error: { name, message } } });
