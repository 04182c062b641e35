// Node-to-node RPC over one long-lived TCP stream per peer and direction, opened as an HTTP
// upgrade on the node's own port (`GET /raft/stream`). A per-request HTTP exchange cost more CPU
// than the Raft work it carried (parsing, a signed request per batch), and at one request in flight
// it batched nothing; a stream carries every message as a small frame, and frames written in one
// turn of the event loop leave in one write.
//
// Who may open a stream, and the keys its frames are MAC'd with: stream-handshake.ts. The frames
// themselves: framed-socket.ts. This file is the links between them: dialling, calls and replies,
// snapshots streamed as chunks (snapshot-chunks.ts).
import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { decodeMessages, encodeMessages } from './codec.ts';
import { FramedSocket, PeerLinkError } from './framed-socket.ts';
import { chunkMeta, SnapshotReceiver } from './snapshot-chunks.ts';
import { openRequest, StreamGate } from './stream-handshake.ts';
import { MessageType, type Message, type NodeId, type SnapshotRestore } from './types.ts';

export const RAFT_PREFIX = '/raft';
export const RAFT_STREAM_PATH = `${RAFT_PREFIX}/stream`;
/** Bytes a peer that stopped reading may leave buffered before messages to it are dropped (raft resends). */
const MAX_BUFFERED = 32 << 20;
const MAX_PENDING_FRAMES = 4096;
const CONNECT_TIMEOUT_MS = 2_000;
const MAX_RETRY_MS = 500;

/** A frame's kind, its first byte. */
const Kind = {
  /** Raft messages (no answer). */
  Messages: 1,
  /** A request answered by a Reply with the same id: [u32 id][op][meta JSON][body]. */
  Call: 2,
  /** [u32 id][u16 status][JSON]. */
  Reply: 3,
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];

export interface TransportHandlers {
  /** Raft messages received from a peer (already authenticated and decoded). */
  onMessages(msgs: Message[]): void;
  /** A non-raft RPC (forwarded proposal, membership change): bytes in, JSON out. `meta` holds the caller's headers (its request id). */
  onCall(op: string, body: Uint8Array, meta: Record<string, string>): Promise<{ status: number; json: unknown }>;
  /** A send to `peer` failed; `snapshot` says whether it was a snapshot (reported to the core). */
  onUnreachable(peer: NodeId, snapshot: boolean | null): void;
  onSnapshotSent(peer: NodeId): void;
  /** The state machine's chunks of the snapshot a Snap message to send stands for, read as they are sent. */
  snapshotSource(m: Message): AsyncIterable<Uint8Array>;
  /** Starts restoring a snapshot being received. */
  beginRestore(): Promise<SnapshotRestore>;
  /** Every chunk of a snapshot is written into `restore`; `msgs` holds its Snap message. Finish it, then step the message. */
  installSnapshot(restore: SnapshotRestore, msgs: Message[]): Promise<void>;
  /** A peer answered but would not open a stream (wrong secret, wrong node, not a raftbox node): a setup error to report. */
  onRefused(peer: NodeId, reason: string): void;
}

interface PendingCall {
  resolve(v: { status: number; json: unknown }): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
  /** Written to a connected socket: the peer may have received it, even if no answer comes. */
  sent: boolean;
}

/** A call that failed before its frame reached any socket: the peer never saw it, so it is safe to make again. */
export class CallNotSentError extends Error {
  override readonly name = 'CallNotSentError';
}

export class PeerTransport {
  private readonly links = new Map<NodeId, OutgoingLink>();
  private readonly accepted = new Set<FramedSocket>();
  private readonly gate: StreamGate;
  private closed = false;

  private readonly selfId: NodeId;
  private readonly secret: string;
  private readonly resolve: (id: NodeId) => string | undefined;
  private readonly handlers: TransportHandlers;
  constructor(
    selfId: NodeId,
    secret: string,
    resolve: (id: NodeId) => string | undefined,
    handlers: TransportHandlers,
  ) {
    this.selfId = selfId;
    this.secret = secret;
    this.resolve = resolve;
    this.handlers = handlers;
    this.gate = new StreamGate(selfId, secret);
  }

  // ---- client side ---------------------------------------------------------------------------

  send(msgs: readonly Message[]): void {
    if (this.closed) return;
    // One frame per peer per call: the core's Ready holds everything produced since the last one.
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of msgs) {
      if (m.type === MessageType.Snap) {
        void this.sendSnapshot(m);
        continue;
      }
      let batch = byPeer.get(m.to);
      if (!batch) byPeer.set(m.to, (batch = []));
      batch.push(m);
    }
    for (const [peer, batch] of byPeer) this.link(peer).sendMessages(encodeMessages(batch));
  }

  /** A non-raft RPC to a peer; returns its status and JSON answer. */
  call(peer: NodeId, op: string, body: Uint8Array, timeoutMs: number, meta: Record<string, string> = {}): Promise<{ status: number; json: unknown }> {
    if (this.closed) return Promise.reject(new PeerLinkError('transport closed'));
    return this.link(peer).call(op, body, meta, timeoutMs);
  }

  private async sendSnapshot(m: Message): Promise<void> {
    const id = randomBytes(8).toString('hex');
    const send = async (body: Uint8Array, seq: number, last: boolean) => {
      const res = await this.call(m.to, SNAPSHOT_OP, body, SNAPSHOT_CALL_TIMEOUT_MS, chunkMeta(id, seq, last));
      if (res.status !== 204) throw new PeerLinkError(`snapshot chunk refused: ${res.status}`);
    };
    try {
      // Chunks go one at a time, each acknowledged: a snapshot never floods the link.
      let seq = 0;
      for await (const chunk of this.handlers.snapshotSource(m)) await send(chunk, seq++, false);
      await send(encodeMessages([m]), seq, true);
      this.handlers.onSnapshotSent(m.to);
    } catch {
      this.handlers.onUnreachable(m.to, true);
    }
  }

  private link(peer: NodeId): OutgoingLink {
    let l = this.links.get(peer);
    if (!l) {
      l = new OutgoingLink(peer, this.selfId, this.secret, () => this.resolve(peer), {
        unreachable: () => this.handlers.onUnreachable(peer, null),
        refused: (reason) => this.handlers.onRefused(peer, reason),
      });
      this.links.set(peer, l);
    }
    return l;
  }

  // ---- server side ---------------------------------------------------------------------------

  /**
   * Takes an HTTP upgrade for `/raft/stream` (from the server's `upgrade` event). Anything else, or a
   * request that does not authenticate, is answered with an HTTP error and closed.
   */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, reason: string) => {
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${JSON.stringify({ error: reason })}`);
    };
    if (this.closed) return refuse(503, 'stopped');
    if (new URL(req.url ?? '/', 'http://x').pathname !== RAFT_STREAM_PATH) return refuse(404, 'not found');
    const gate = this.gate.check(req);
    if (!gate.ok) return refuse(gate.status, gate.reason);
    socket.write(gate.response);
    const from = gate.from;
    const conn = new FramedSocket(socket, gate.keys.toServer, gate.keys.toClient, (kind, payload) => this.serveFrame(conn, from, kind, payload));
    this.accepted.add(conn);
    conn.closed.then(() => this.accepted.delete(conn));
    if (head.length > 0) conn.push(head);
  }

  private restoreEnded: Promise<unknown> = Promise.resolve();
  // A new transfer's restore opens only once the one it replaces is aborted (both write one place).
  private readonly snapshots = new SnapshotReceiver<Promise<SnapshotRestore>>(
    () => this.restoreEnded.then(() => this.handlers.beginRestore()),
    (restore) => {
      this.restoreEnded = restore.then((r) => r.abort()).catch(() => undefined);
    },
  );

  private serveFrame(conn: FramedSocket, from: NodeId, kind: number, payload: Uint8Array): void {
    if (kind === Kind.Messages) {
      this.handlers.onMessages(decodeMessages(payload));
      return;
    }
    if (kind !== Kind.Call) throw new PeerLinkError(`unexpected frame kind ${kind}`);
    const call = decodeCall(payload);
    const answer = (status: number, json: unknown) => conn.write(Kind.Reply, encodeReply(call.id, status, json));
    if (call.op === SNAPSHOT_OP) {
      const restore = this.snapshots.accept(from, call.meta);
      if (!restore) return answer(409, { error: 'snapshot chunk out of order' });
      const last = call.meta.last === '1';
      const done = last ? restore.then((r) => this.handlers.installSnapshot(r, decodeMessages(call.body))) : restore.then((r) => r.write(call.body));
      done.then(
        () => answer(204, null),
        (e: unknown) => {
          if (last) this.restoreEnded = restore.then((r) => r.abort()).catch(() => undefined);
          else this.snapshots.dropCurrent();
          answer(500, { error: String((e as Error)?.message ?? e) });
        },
      );
      return;
    }
    this.handlers.onCall(call.op, call.body, call.meta).then(
      (out) => answer(out.status, out.json),
      (e: unknown) => answer(500, { error: String((e as Error)?.message ?? e) }),
    );
  }

  close(): void {
    this.closed = true;
    this.snapshots.dropCurrent();
    for (const l of this.links.values()) l.close();
    for (const c of this.accepted) c.destroy();
  }
}

const SNAPSHOT_OP = 'snapshot';
// A chunk is written to disk before it is acknowledged, and the last call waits for the restore to be swapped in.
const SNAPSHOT_CALL_TIMEOUT_MS = 60_000;

/** This node's stream to one peer: dialled on first use, redialled after a failure with a short backoff. */
class OutgoingLink {
  private conn: FramedSocket | null = null;
  private connecting = false;
  /** Frames written while the link is being opened. */
  private pending: { kind: Kind; payload: Uint8Array; callId?: number }[] = [];
  private readonly calls = new Map<number, PendingCall>();
  private nextCallId = 1;
  private failures = 0;
  private retryAt = 0;
  private redial: NodeJS.Timeout | null = null;
  private closed = false;

  private readonly peer: NodeId;
  private readonly selfId: NodeId;
  private readonly secret: string;
  private readonly address: () => string | undefined;
  private readonly report: { unreachable(): void; refused(reason: string): void };
  constructor(
    peer: NodeId,
    selfId: NodeId,
    secret: string,
    address: () => string | undefined,
    report: { unreachable(): void; refused(reason: string): void },
  ) {
    this.peer = peer;
    this.selfId = selfId;
    this.secret = secret;
    this.address = address;
    this.report = report;
  }

  sendMessages(frame: Uint8Array): void {
    this.write(Kind.Messages, frame, true);
  }

  call(op: string, body: Uint8Array, meta: Record<string, string>, timeoutMs: number): Promise<{ status: number; json: unknown }> {
    return new Promise((resolve, reject) => {
      const id = this.nextCallId++;
      const timer = setTimeout(() => {
        const c = this.calls.get(id);
        this.calls.delete(id);
        const why = `${op} to ${this.peer}: no answer in ${timeoutMs} ms`;
        if (c?.sent !== false) return reject(new PeerLinkError(why));
        // Still queued for the link: it must never leave now, since the caller is told it was not sent
        // (and may make it again elsewhere: a forwarded proposal would be appended twice).
        this.pending = this.pending.filter((f) => f.callId !== id);
        reject(new CallNotSentError(why));
      }, timeoutMs);
      const call: PendingCall = { resolve, reject, timer, sent: false };
      this.calls.set(id, call);
      const written = this.write(Kind.Call, encodeCall(id, op, meta, body), false, id);
      if (written === 'sent') call.sent = true;
      if (!written) {
        clearTimeout(timer);
        this.calls.delete(id);
        reject(new CallNotSentError(`${this.peer} is unreachable`));
      }
    });
  }

  /** Writes a frame ('sent') or queues it until the link opens ('queued'); false when it was dropped (the peer is down or not draining). */
  private write(kind: Kind, payload: Uint8Array, droppable: boolean, callId?: number): 'sent' | 'queued' | false {
    if (this.closed) return false;
    if (this.conn) {
      if (droppable && this.conn.buffered > MAX_BUFFERED) return false;
      this.conn.write(kind, payload);
      return 'sent';
    }
    if (!this.connecting) {
      const wait = this.retryAt - Date.now();
      // Raft messages are resent by the core; a call (a forwarded proposal) waits for the redial instead,
      // bounded by its own timeout, so a link just healed does not refuse the first write after it.
      if (wait > 0 && droppable) return false;
      if (wait > 0) this.redialIn(wait);
      else this.dial();
    }
    if (this.pending.length >= MAX_PENDING_FRAMES) return false;
    this.pending.push({ kind, payload, ...(callId === undefined ? {} : { callId }) });
    return 'queued';
  }

  private redialIn(ms: number): void {
    if (this.redial) return;
    this.redial = setTimeout(() => {
      this.redial = null;
      if (!this.conn && !this.connecting && !this.closed) this.dial();
    }, ms);
  }

  private dial(): void {
    const base = this.address();
    if (!base) {
      this.failed(new PeerLinkError(`no address for ${this.peer}`));
      return;
    }
    this.connecting = true;
    const open = openRequest(this.secret, this.selfId, this.peer);
    const req = http.request(base.replace(/\/$/, '') + RAFT_STREAM_PATH, { method: 'GET', agent: false, headers: open.headers });
    const timer = setTimeout(() => req.destroy(new PeerLinkError(`connecting to ${this.peer} timed out`)), CONNECT_TIMEOUT_MS);
    req.on('error', (e) => {
      clearTimeout(timer);
      this.failed(e);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      res.resume();
      const reason = `${this.peer} refused the raft stream: HTTP ${res.statusCode}`;
      this.report.refused(reason);
      this.failed(new PeerLinkError(reason));
    });
    req.on('upgrade', (res, socket, head) => {
      clearTimeout(timer);
      const keys = open.accepted(res);
      if (!keys) {
        socket.destroy();
        const reason = `${this.peer} did not prove it holds the cluster secret`;
        this.report.refused(reason);
        this.failed(new PeerLinkError(reason));
        return;
      }
      const conn = new FramedSocket(socket, keys.toClient, keys.toServer, (kind, payload) => this.onFrame(kind, payload));
      if (head.length > 0) conn.push(head);
      this.opened(conn);
    });
    req.end();
  }

  private opened(conn: FramedSocket): void {
    this.connecting = false;
    if (this.closed) return conn.destroy();
    this.conn = conn;
    this.failures = 0;
    for (const f of this.pending) {
      conn.write(f.kind, f.payload);
      const c = f.callId === undefined ? undefined : this.calls.get(f.callId);
      if (c) c.sent = true;
    }
    this.pending = [];
    void conn.closed.then((err) => {
      if (this.conn === conn) this.conn = null;
      this.failed(err ?? new PeerLinkError(`${this.peer} closed the raft stream`));
    });
  }

  private onFrame(kind: number, payload: Uint8Array): void {
    if (kind !== Kind.Reply) throw new PeerLinkError(`unexpected frame kind ${kind}`);
    const r = decodeReply(payload);
    const c = this.calls.get(r.id);
    if (!c) return; // timed out already
    this.calls.delete(r.id);
    clearTimeout(c.timer);
    c.resolve({ status: r.status, json: r.json });
  }

  /** Messages in flight are lost (raft resends them); calls fail; the next send redials after a backoff. */
  private failed(err: unknown): void {
    this.connecting = false;
    this.pending = [];
    for (const c of this.calls.values()) {
      clearTimeout(c.timer);
      c.reject(c.sent ? err : new CallNotSentError(`${this.peer} is unreachable`, { cause: err }));
    }
    this.calls.clear();
    if (this.closed) return;
    this.failures++;
    this.retryAt = Date.now() + Math.min(MAX_RETRY_MS, 25 * 2 ** Math.min(this.failures, 5));
    this.report.unreachable();
  }

  close(): void {
    this.closed = true;
    if (this.redial) clearTimeout(this.redial);
    this.conn?.destroy();
    this.failed(new PeerLinkError('transport closed'));
  }
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function encodeCall(id: number, op: string, meta: Record<string, string>, body: Uint8Array): Uint8Array {
  const opBytes = utf8.encode(op);
  const metaBytes = utf8.encode(JSON.stringify(meta));
  const out = Buffer.allocUnsafe(4 + 2 + opBytes.length + 4 + metaBytes.length + body.length);
  let p = out.writeUInt32BE(id, 0);
  p = out.writeUInt16BE(opBytes.length, p);
  out.set(opBytes, p);
  p += opBytes.length;
  p = out.writeUInt32BE(metaBytes.length, p);
  out.set(metaBytes, p);
  out.set(body, p + metaBytes.length);
  return out;
}

function decodeCall(b: Uint8Array): { id: number; op: string; meta: Record<string, string>; body: Uint8Array } {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const id = buf.readUInt32BE(0);
  const opLen = buf.readUInt16BE(4);
  const op = fromUtf8.decode(buf.subarray(6, 6 + opLen));
  const metaLen = buf.readUInt32BE(6 + opLen);
  const metaStart = 10 + opLen;
  const meta = JSON.parse(fromUtf8.decode(buf.subarray(metaStart, metaStart + metaLen))) as Record<string, string>;
  return { id, op, meta, body: buf.subarray(metaStart + metaLen) };
}

function encodeReply(id: number, status: number, json: unknown): Uint8Array {
  const text = utf8.encode(json === null || json === undefined ? '' : JSON.stringify(json));
  const out = Buffer.allocUnsafe(6 + text.length);
  out.writeUInt32BE(id, 0);
  out.writeUInt16BE(status, 4);
  out.set(text, 6);
  return out;
}

function decodeReply(b: Uint8Array): { id: number; status: number; json: unknown } {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const text = fromUtf8.decode(buf.subarray(6));
  return { id: buf.readUInt32BE(0), status: buf.readUInt16BE(4), json: text ? (JSON.parse(text) as unknown) : null };
}
