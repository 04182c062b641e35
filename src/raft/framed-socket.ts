// Length-prefixed, MAC'd frames over an upgraded socket: [u32 length][u8 kind][payload][16-byte MAC],
// the MAC over (sequence number, kind, payload) with this direction's key (see stream-handshake.ts).
// A frame that does not authenticate, or one out of sequence (forged, replayed, reordered or one
// dropped before it), destroys the socket.
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

const MAC_BYTES = 16;
const MAX_FRAME = 64 << 20;

/** A peer the upgrade or a frame did not authenticate, or a connection that broke. */
export class PeerLinkError extends Error {}

export class FramedSocket {
  private sendSeq = 0n;
  private recvSeq = 0n;
  /** Received bytes not yet parsed, kept as chunks until a whole frame is there (a 1 MB snapshot chunk arrives in many). */
  private chunks: Buffer[] = [];
  private received = 0;
  private needed = 4;
  private corked = false;
  readonly closed: Promise<Error | null>;

  private readonly socket: Duplex;
  // KeyObjects, made once: an HMAC keyed with a Buffer imports the key again for every frame (~5× the MAC's cost).
  private readonly recvKey: KeyObject;
  private readonly sendKey: KeyObject;
  private readonly onFrame: (kind: number, payload: Uint8Array) => void;
  constructor(socket: Duplex, recvKey: Buffer, sendKey: Buffer, onFrame: (kind: number, payload: Uint8Array) => void) {
    this.socket = socket;
    this.recvKey = createSecretKey(recvKey);
    this.sendKey = createSecretKey(sendKey);
    this.onFrame = onFrame;
    let error: Error | null = null;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve(error)));
    socket.on('error', (e: Error) => (error = e));
    socket.on('data', (chunk: Buffer) => this.push(chunk));
    const tcp = socket as Partial<Socket>;
    tcp.setNoDelay?.(true);
    // Long-lived by design: no idle timeout (an HTTP server may have set one), keep-alive probes instead.
    tcp.setTimeout?.(0);
    tcp.setKeepAlive?.(true, 10_000);
  }

  /** Bytes written but not yet taken by the kernel: a peer that stopped reading makes this grow. */
  get buffered(): number {
    return this.socket.writableLength;
  }

  write(kind: number, payload: Uint8Array): void {
    if (this.socket.destroyed) return;
    const head = Buffer.allocUnsafe(5);
    head.writeUInt32BE(1 + payload.length + MAC_BYTES, 0);
    head.writeUInt8(kind, 4);
    const tag = frameMac(this.sendKey, this.sendSeq++, head.subarray(4), payload);
    // Frames written in one turn of the event loop go out in one write.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(head);
    this.socket.write(payload);
    this.socket.write(tag);
  }

  /** Bytes from the socket (or the upgrade's `head`); every whole frame in them is handed to `onFrame`. */
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.received < this.needed) return;
    const buf = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.received);
    let off = 0;
    let needed = 4;
    try {
      while (buf.length - off >= 4) {
        const len = buf.readUInt32BE(off);
        if (len < 1 + MAC_BYTES || len > MAX_FRAME) throw new PeerLinkError(`bad frame length ${len}`);
        if (buf.length - off < 4 + len) {
          needed = 4 + len;
          break;
        }
        const kind = buf.subarray(off + 4, off + 5);
        const payload = buf.subarray(off + 5, off + 4 + len - MAC_BYTES);
        const tag = buf.subarray(off + 4 + len - MAC_BYTES, off + 4 + len);
        if (!timingSafeEqual(tag, frameMac(this.recvKey, this.recvSeq++, kind, payload))) throw new PeerLinkError('frame failed authentication');
        off += 4 + len;
        this.onFrame(kind[0]!, payload);
      }
    } catch (e) {
      this.socket.destroy(e as Error);
      return;
    }
    const rest = buf.subarray(off);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.received = rest.length;
    this.needed = needed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function frameMac(key: KeyObject, seq: bigint, kind: Uint8Array, payload: Uint8Array): Buffer {
  const s = Buffer.allocUnsafe(8);
  s.writeBigUInt64BE(seq);
  return createHmac('sha256', key).update(s).update(kind).update(payload).digest().subarray(0, MAC_BYTES);
}
