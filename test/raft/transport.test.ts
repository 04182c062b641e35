// The peer transport over real loopback streams: what a caller is told about a call is what the peer saw.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import { CallNotSentError, PeerTransport, type TransportHandlers } from '../../src/raft/transport.ts';
import { CLUSTER_SECRET } from '../support/index.ts';

const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

function handlers(onCall: TransportHandlers['onCall']): TransportHandlers {
  return {
    onMessages: () => {},
    onCall,
    onUnreachable: () => {},
    onSnapshotSent: () => {},
    onRefused: () => {},
    snapshotSource: () => (async function* () {})(),
    beginRestore: () => Promise.reject(new Error('these tests send no snapshots')),
    installSnapshot: () => Promise.reject(new Error('these tests send no snapshots')),
  };
}

it('a call that timed out before its link opened is never delivered (the caller was told it was not sent)', async () => {
  const served: string[] = [];
  const b = new PeerTransport('b', CLUSTER_SECRET, () => undefined, handlers(async (op) => (served.push(op), { status: 200, json: {} })));
  // b's server holds the first stream open request until told to go on: a's link stays "connecting".
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void held.then(() => b.accept(req, socket, head)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const a = new PeerTransport('a', CLUSTER_SECRET, (id) => (id === 'b' ? url : undefined), handlers(async () => ({ status: 404, json: {} })));
  closers.push(() => a.close(), () => b.close(), () => server.close());

  await expect(a.call('b', 'timed-out', new Uint8Array(), 20)).rejects.toBeInstanceOf(CallNotSentError);
  const second = a.call('b', 'second', new Uint8Array(), 10_000);
  release();
  expect((await second).status).toBe(200);
  // Frames arrive in order: had the first one left with the queue, b would have served it before the second.
  expect(served).toEqual(['second']);
});
