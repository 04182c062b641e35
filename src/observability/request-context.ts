import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The request a piece of async work is done for. Node-to-node calls made on a request's behalf (a
 * follower forwarding a proposal to the leader) read it to send the same `X-Request-Id`, so one id
 * finds a request in every node's log without threading it through the domain's signatures.
 */
const context = new AsyncLocalStorage<{ requestId: string }>();

export function withRequestId<T>(requestId: string, fn: () => T): T {
  return context.run({ requestId }, fn);
}

/** Headers to add to an outgoing node-to-node request: the current request id, if any. */
export function requestIdHeaders(): Record<string, string> {
  const id = context.getStore()?.requestId;
  return id === undefined ? {} : { 'x-request-id': id };
}
