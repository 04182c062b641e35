import type Koa from 'koa';
import { principalOf } from '../http/guard.ts';

/**
 * The requests this node is answering over MCP, by who sent them and their JSON-RPC id. Over stateless
 * Streamable HTTP a `notifications/cancelled` is a POST of its own, so the SDK server that holds the
 * request never sees it: the route finds the request here and aborts it, which cancels its run (a
 * cancel that reached another node gets here through the log: cancel-requests.ts). A
 * caller is the token's subject ('' with auth off), so no one can cancel another subject's requests;
 * a request id a client reuses while its first request is still running names the newer one.
 */
export class InFlightRequests {
  readonly #requests = new Map<string, AbortController>();

  /** Tracks a request until the returned function is called; `controller` is aborted by `cancel`. */
  track(caller: string, id: unknown, controller: AbortController): () => void {
    const key = keyOf(caller, id);
    if (key === null) return () => undefined;
    this.#requests.set(key, controller);
    return () => {
      if (this.#requests.get(key) === controller) this.#requests.delete(key);
    };
  }

  /** Aborts the caller's request with that id; false when this node holds none. */
  cancel(caller: string, id: unknown, reason?: string): boolean {
    const key = keyOf(caller, id);
    const controller = key === null ? undefined : this.#requests.get(key);
    if (!controller) return false;
    controller.abort(reason);
    return true;
  }

  get size(): number {
    return this.#requests.size;
  }
}

function keyOf(caller: string, id: unknown): string | null {
  // JSON-RPC ids are strings or numbers; 1 and "1" are different ids.
  if (typeof id === 'number') return `${caller}\0n${id}`;
  if (typeof id === 'string') return `${caller}\0s${id}`;
  return null;
}

/** The request a `notifications/cancelled` message names, or undefined when the message is no such notification. */
export function cancelledRequest(message: unknown): { requestId: unknown; reason?: string } | undefined {
  const m = message as { method?: unknown; id?: unknown; params?: { requestId?: unknown; reason?: unknown } } | null;
  if (typeof m !== 'object' || m === null || m.method !== 'notifications/cancelled' || m.id !== undefined) return undefined;
  return { requestId: m.params?.requestId, ...(typeof m.params?.reason === 'string' ? { reason: m.params.reason } : {}) };
}

/** Who sent a request, for `notifications/cancelled`: the token's subject, '' with auth off. */
export function callerOf(ctx: Koa.Context): string {
  return principalOf(ctx)?.subject ?? '';
}

export interface Cancellable {
  /** Resolves with null once the request is cancelled; never settles otherwise. */
  aborted: Promise<null>;
  signal: AbortSignal;
  done(): void;
}

/**
 * How one request ends early: its client goes away (the connection closes before the answer is
 * written), or a `notifications/cancelled` names it (InFlightRequests). The SDK answers neither on its
 * own in JSON mode, so the route races the answer against `aborted`.
 */
export function cancellable(ctx: Koa.Context, inFlight: InFlightRequests, message: unknown): Cancellable {
  const controller = new AbortController();
  const id = (message as { id?: unknown; method?: unknown } | null)?.id;
  const untrack = typeof (message as { method?: unknown } | null)?.method === 'string' ? inFlight.track(callerOf(ctx), id, controller) : () => undefined;
  const onClose = () => {
    if (!ctx.res.writableFinished) controller.abort('client closed the connection');
  };
  // Kept after the answer: a stream's end (a closed listen stream) is the client going away too.
  ctx.res.once('close', onClose);
  const aborted = new Promise<null>((resolve) => controller.signal.addEventListener('abort', () => resolve(null), { once: true }));
  return {
    aborted,
    signal: controller.signal,
    done: untrack,
  };
}
