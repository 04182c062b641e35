// Binary wire and disk encoding. A frame is [version][count][message...]; entries' data stays
// opaque bytes. Numbers are float64 (exact for integers below 2^53, far beyond any index or term).
import { type ConfState, type LogEntry, type Message, type MessageType, type Snapshot, type SnapshotMeta } from './types.ts';

export const WIRE_VERSION = 1;

const enc = new TextEncoder();
const dec = new TextDecoder();

const F_REJECT = 1;
const F_SNAPSHOT = 2;
const F_CONTEXT = 4;
// 8 flagged a per-request lease read, which nothing asks for any more: a frame that sets it reads as a plain ReadIndex.
const F_COMMIT_ONLY = 16;

class Writer {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v);
    this.pos += 4;
  }

  num(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  str(s: string): void {
    this.bytes(enc.encode(s));
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

class Reader {
  private view: DataView;
  private pos = 0;

  private readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  u8(): number {
    return this.view.getUint8(this.pos++);
  }

  u32(): number {
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  num(): number {
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(): Uint8Array {
    const n = this.u32();
    if (this.pos + n > this.buf.length) throw new Error('truncated frame');
    const b = this.buf.slice(this.pos, this.pos + n); // copy: the frame buffer may be reused
    this.pos += n;
    return b;
  }

  str(): string {
    return dec.decode(this.bytes());
  }

  done(): boolean {
    return this.pos === this.buf.length;
  }
}

function writeEntry(w: Writer, e: LogEntry): void {
  w.num(e.index);
  w.num(e.term);
  w.u8(e.type);
  w.bytes(e.data);
}

function readEntry(r: Reader): LogEntry {
  const index = r.num();
  const term = r.num();
  const type = r.u8() as LogEntry['type'];
  return { index, term, type, data: r.bytes() };
}

export function encodeSnapshotMeta(m: SnapshotMeta): Uint8Array {
  return enc.encode(JSON.stringify(m));
}

export function decodeSnapshotMeta(b: Uint8Array): SnapshotMeta {
  const m = JSON.parse(dec.decode(b)) as SnapshotMeta;
  const conf: ConfState = { voters: m.conf.voters, learners: m.conf.learners, addrs: m.conf.addrs ?? {} };
  return { index: m.index, term: m.term, conf };
}

export function encodeMessages(msgs: readonly Message[]): Uint8Array {
  const w = new Writer();
  w.u8(WIRE_VERSION);
  w.u32(msgs.length);
  for (const m of msgs) {
    w.u8(m.type);
    w.u8((m.reject ? F_REJECT : 0) | (m.snapshot ? F_SNAPSHOT : 0) | (m.context ? F_CONTEXT : 0) | (m.commitOnly ? F_COMMIT_ONLY : 0));
    w.str(m.from);
    w.str(m.to);
    w.num(m.term);
    w.num(m.logTerm);
    w.num(m.index);
    w.num(m.commit);
    w.num(m.rejectHint);
    w.u32(m.entries.length);
    for (const e of m.entries) writeEntry(w, e);
    if (m.context) w.bytes(m.context);
    if (m.snapshot) {
      w.bytes(encodeSnapshotMeta(m.snapshot.meta));
      w.bytes(m.snapshot.data);
    }
  }
  return w.finish();
}

export function decodeMessages(buf: Uint8Array): Message[] {
  const r = new Reader(buf);
  const version = r.u8();
  if (version !== WIRE_VERSION) throw new Error(`unsupported raft wire version ${version}`);
  const n = r.u32();
  const out: Message[] = [];
  for (let i = 0; i < n; i++) {
    const type = r.u8() as MessageType;
    const flags = r.u8();
    const m: Message = {
      type,
      reject: (flags & F_REJECT) !== 0,
      from: r.str(),
      to: r.str(),
      term: r.num(),
      logTerm: r.num(),
      index: r.num(),
      commit: r.num(),
      rejectHint: r.num(),
      entries: [],
    };
    const ne = r.u32();
    for (let j = 0; j < ne; j++) m.entries.push(readEntry(r));
    if (flags & F_CONTEXT) m.context = r.bytes();
    if (flags & F_COMMIT_ONLY) m.commitOnly = true;
    if (flags & F_SNAPSHOT) {
      const meta = decodeSnapshotMeta(r.bytes());
      const s: Snapshot = { meta, data: r.bytes() };
      m.snapshot = s;
    }
    out.push(m);
  }
  if (!r.done()) throw new Error('trailing bytes in raft frame');
  return out;
}

/** Disk encoding of one entry (the index is the key). */
export function encodeEntryValue(e: LogEntry): Uint8Array {
  const out = new Uint8Array(9 + e.data.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, e.type);
  v.setFloat64(1, e.term);
  out.set(e.data, 9);
  return out;
}

export function decodeEntryValue(index: number, b: Uint8Array): LogEntry {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { index, type: v.getUint8(0) as LogEntry['type'], term: v.getFloat64(1), data: b.slice(9) };
}
