import type { CommandLog, Json, ReplicatedState, StateModule } from '../store/index.ts';
import type { InFlightRequests } from './in-flight.ts';

/**
 * `notifications/cancelled` across the cluster. Over stateless Streamable HTTP a cancel is a POST of
 * its own, and a round-robin balancer sends it to any node; a synchronous run_js is not in the
 * replicated state until it ends, so only the node answering the request knows it. A cancel that
 * finds no request on its node is therefore replicated (`cancels.cancel`), and every node hands the
 * cancels it has not seen yet to its own InFlightRequests: the node that holds the request aborts it,
 * the others find nothing.
 *
 * Why the log and not a call to each peer: the log already reaches every member (the one that holds
 * the request may be the one a peer list is stale about), it needs no new node-to-node endpoint or
 * credential, and a cancel is rare enough that one small proposal is cheap. The state is one hot key,
 * a ring of the last RING_SIZE cancels with a sequence number: bounded whatever the traffic, and a
 * node that applied a batch of cancels at once (or a snapshot) still sees each one that is newer than
 * the last it looked at. A cancel older than the ring, or one for a request that has not reached its
 * node yet, cancels nothing: MCP lets a cancel race its request, and the client ignores a late answer.
 *
 * The caller is the token's subject ('' with auth off), matched by InFlightRequests with the request
 * id: no one cancels another subject's request.
 */

export const CANCELS_MODULE = 'cancels';
const RING_KEY = 'ring';
/** Cancels kept: a node behind by more than this many cancels misses the oldest (they are seconds old). */
const RING_SIZE = 64;
/** JSON-RPC ids and subjects are short; a longer one is no request this cluster answers (ids) or holds (subjects). */
export const MAX_REQUEST_ID_CHARS = 256;
const MAX_CALLER_CHARS = 512;
/** The reason is only passed to the abort; longer ones are cut. */
export const MAX_REASON_CHARS = 256;

/** The node's replicated state and its write path. */
export interface ReplicatedStore {
  state: ReplicatedState;
  log: CommandLog;
}

interface Cancel {
  seq: number;
  caller: string;
  requestId: string | number;
  reason?: string;
  [field: string]: Json | undefined;
}

interface Ring {
  seq: number;
  cancels: Cancel[];
  [field: string]: Json | undefined;
}

const EMPTY: Ring = { seq: 0, cancels: [] };

function validRequestId(id: unknown): id is string | number {
  return (typeof id === 'string' && id.length <= MAX_REQUEST_ID_CHARS) || (typeof id === 'number' && Number.isFinite(id));
}

export const cancelRequestsModule: StateModule = {
  name: CANCELS_MODULE,
  apply(cmd, tx) {
    if (cmd.type !== `${CANCELS_MODULE}.cancel`) return { ok: false, reason: `unknown command ${cmd.type}` };
    const { caller, requestId, reason } = cmd;
    if (typeof caller !== 'string' || caller.length > MAX_CALLER_CHARS || !validRequestId(requestId)) return { ok: false, reason: 'invalid' };
    const ring = (tx.get(RING_KEY) as Ring | undefined) ?? EMPTY;
    const seq = ring.seq + 1;
    const cancel: Cancel = { seq, caller, requestId, ...(typeof reason === 'string' ? { reason: reason.slice(0, MAX_REASON_CHARS) } : {}) };
    tx.put(RING_KEY, { seq, cancels: [...ring.cancels.slice(-(RING_SIZE - 1)), cancel] });
    return { ok: true };
  },
};

/** Cancels that reach this node: local ones at once, others through the log to the node that holds the request. */
export class CancelRelay {
  #seen: number;
  readonly #unsubscribe: () => void;

  readonly #inFlight: InFlightRequests;
  readonly #store: ReplicatedStore | undefined;
  /** Without `store` (a node's edges tested over a stand-in domain) cancels stay on this node. */
  constructor(inFlight: InFlightRequests, store?: ReplicatedStore) {
    this.#inFlight = inFlight;
    this.#store = store;
    // Cancels from before this node started are for requests it never held.
    this.#seen = this.#ring().seq;
    this.#unsubscribe =
      store?.state.onChange((module, key) => {
        if (module === CANCELS_MODULE && (key === RING_KEY || key === null)) this.#applied();
      }) ?? (() => undefined);
  }

  /**
   * Cancels the caller's request: here if this node holds it, else on whichever node does. Resolves
   * once the cancel is in the log (or could not be: a notification has no answer to fail, so a cluster
   * without a leader just cancels nothing).
   */
  async cancel(caller: string, requestId: unknown, reason?: string): Promise<void> {
    if (this.#inFlight.cancel(caller, requestId, reason) || !this.#store) return;
    if (!validRequestId(requestId) || caller.length > MAX_CALLER_CHARS) return;
    const cmd = { type: `${CANCELS_MODULE}.cancel`, caller, requestId, ...(reason === undefined ? {} : { reason: reason.slice(0, MAX_REASON_CHARS) }) };
    await this.#store.log.propose(cmd).catch(() => undefined);
  }

  close(): void {
    this.#unsubscribe();
  }

  #ring(): Ring {
    return (this.#store?.state.get(CANCELS_MODULE, RING_KEY) as Ring | undefined) ?? EMPTY;
  }

  #applied(): void {
    const ring = this.#ring();
    for (const c of ring.cancels) if (c.seq > this.#seen) this.#inFlight.cancel(c.caller, c.requestId, c.reason);
    this.#seen = ring.seq;
  }
}
