import { createHash } from 'node:crypto';
import ivm from 'isolated-vm';
import type { HostCallJson } from './types.ts';

/**
 * The host's half of one step's calls: what the isolate's `hostCall(op, scope, …)` reaches. `issue`
 * may throw (the error goes to the code that called); everything else answers later, through
 * `deliver`, never from inside the callback.
 */
export interface HostCallScope {
  issue(call: number, kind: string, descriptionJson: string, bytes: Uint8Array | null): void;
  /** The driver waits: answer with the next completion if it comes before `nextDue` (virtual ms), else 'timeout'. */
  wait(virtualNow: number, nextDue: number): void;
  cancel(call: number): void;
  /** The step is over inside the isolate. */
  end(): void;
  /** The driver call is over (or the isolate is gone): nothing may be delivered any more. */
  close(): void;
}

/** Hands the isolate a delivery: 'timeout', or `[call, at, answer]` as JSON with the answer's bytes. */
export type Deliver = (message: string, bytes: Uint8Array | null) => void;

type DriverRef = ivm.Reference<(command: 'deliver', ...args: unknown[]) => string>;

// A description is small (method, URL, headers); the body travels as bytes beside it.
const MAX_DESCRIPTION_CHARS = 256 * 1024;

/**
 * The channel of one context: a synchronous callback the runtime calls, and deliveries made by
 * calling its driver. Each run (or replayed step) opens a scope; a call naming a scope that is not
 * open is ignored, so nothing from a finished run can reach the next one.
 */
export class HostCallPort {
  readonly callback: ivm.Callback;
  #scopes = new Map<number, HostCallScope>();
  #nextScope = 1;
  #driver: DriverRef | null = null;

  constructor() {
    this.callback = new ivm.Callback((op: unknown, scope: unknown, a: unknown, b: unknown, c: unknown, d: unknown) => {
      const handler = typeof scope === 'number' ? this.#scopes.get(scope) : undefined;
      if (handler === undefined) return;
      if (op === 'issue') {
        if (typeof a !== 'number' || typeof b !== 'string' || typeof c !== 'string' || c.length > MAX_DESCRIPTION_CHARS) {
          throw new TypeError('malformed host call');
        }
        handler.issue(a, b, c, d instanceof ArrayBuffer ? new Uint8Array(d) : null);
      } else if (op === 'wait' && typeof a === 'number' && typeof b === 'number') handler.wait(a, b);
      else if (op === 'cancel' && typeof a === 'number') handler.cancel(a);
      else if (op === 'end') handler.end();
    });
  }

  attach(driver: DriverRef): void {
    this.#driver = driver;
  }

  /** Opens a scope; `make` receives the scope's way to deliver answers. Returns the scope's number for the step's payload. */
  open(make: (deliver: Deliver) => HostCallScope): number {
    const scope = this.#nextScope++;
    const deliver: Deliver = (message, bytes) => {
      const driver = this.#driver;
      if (driver === null || !this.#scopes.has(scope)) return;
      const copy = bytes === null ? null : new ivm.ExternalCopy(toArrayBuffer(bytes)).copyInto({ release: true });
      // A failure here is the isolate's end (a limit, a disposal): the run's own call reports it.
      driver.apply(undefined, ['deliver', scope, message, copy]).catch(() => undefined);
    };
    this.#scopes.set(scope, make(deliver));
    return scope;
  }

  close(scope: number): void {
    const handler = this.#scopes.get(scope);
    this.#scopes.delete(scope);
    handler?.close();
  }
}

/** The bytes alone in a buffer of their own (a Buffer's may be a slab shared with other data). */
function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return new Uint8Array(bytes).buffer;
}

/** What identifies a call for the divergence check: its kind, description text and bytes. */
export function callDigest(kind: string, descriptionJson: string, bytes: Uint8Array | null): string {
  const hash = createHash('sha256').update(kind).update('\u0000').update(descriptionJson).update('\u0000');
  if (bytes !== null) hash.update(bytes);
  return hash.digest('hex');
}

const MAX_LABEL_CHARS = 200;

/** A short name for a call in records and errors: `GET https://…` for a description with a method and URL, `mcp github.search` for a tool call. */
export function callLabel(kind: string, description: HostCallJson): string {
  let label = kind;
  if (typeof description === 'object' && description !== null && !Array.isArray(description)) {
    const { method, url, server, tool } = description;
    if (typeof method === 'string' && typeof url === 'string') label = `${method} ${url}`;
    else if (typeof server === 'string' && typeof tool === 'string') label = `${kind} ${server}.${tool}`;
  }
  return label.length > MAX_LABEL_CHARS ? `${label.slice(0, MAX_LABEL_CHARS - 1)}…` : label;
}

export function parseDescription(descriptionJson: string): HostCallJson | undefined {
  try {
    return JSON.parse(descriptionJson) as HostCallJson;
  } catch {
    return undefined;
  }
}
