// Wire and disk encoding (src/raft/codec.ts): every field of every message survives a round trip,
// and a frame that is not one of ours is refused, not half-read.
import { describe, expect, it } from 'vitest';
import { decodeEntryValue, decodeMessages, decodeSnapshotMeta, encodeEntryValue, encodeMessages, encodeSnapshotMeta, WIRE_VERSION } from '../../src/raft/codec.ts';
import { EntryType, MessageType, message, type Message } from '../../src/raft/types.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('codec', () => {
  it('round-trips messages with entries, context, flags and a snapshot', () => {
    const msgs: Message[] = [
      message({ type: MessageType.App, from: 'a', to: 'b', term: 7, logTerm: 6, index: 41, commit: 40, entries: [{ index: 42, term: 7, type: EntryType.Normal, data: bytes('put x') }, { index: 43, term: 7, type: EntryType.ConfChange, data: bytes('{}') }] }),
      message({ type: MessageType.AppResp, from: 'b', to: 'a', term: 7, index: 40, reject: true, rejectHint: 39 }),
      message({ type: MessageType.App, from: 'a', to: 'c', term: 7, index: 43, logTerm: 7, commit: 43, commitOnly: true }),
      message({ type: MessageType.Heartbeat, from: 'a', to: 'b', term: 7, commit: 43, context: bytes('read-1') }),
      message({ type: MessageType.Snap, from: 'a', to: 'd', term: 7, snapshot: { meta: { index: 40, term: 6, conf: { voters: ['a', 'b'], learners: ['d'], addrs: { d: 'http://d' } } }, data: bytes('state') } }),
      message({ type: MessageType.Vote, from: 'ü', to: 'b', term: 2 ** 40, logTerm: 3, index: 2 ** 52 }),
    ];
    expect(decodeMessages(encodeMessages(msgs))).toEqual(msgs);
  });

  it('an empty batch is a frame too', () => {
    expect(decodeMessages(encodeMessages([]))).toEqual([]);
  });

  it('refuses another wire version, a truncated frame and trailing bytes', () => {
    const frame = encodeMessages([message({ type: MessageType.Heartbeat, from: 'a', to: 'b', context: bytes('ctx') })]);
    const other = Uint8Array.from(frame);
    other[0] = WIRE_VERSION + 1;
    expect(() => decodeMessages(other)).toThrow(/unsupported raft wire version/);
    expect(() => decodeMessages(frame.subarray(0, frame.length - 1))).toThrow();
    expect(() => decodeMessages(Uint8Array.of(...frame, 0))).toThrow(/trailing bytes/);
  });

  it('stores an entry by its value (type, term, data); the index is the key', () => {
    const e = { index: 9, term: 3, type: EntryType.ConfChange, data: bytes('{"type":"remove","id":"c"}') };
    expect(decodeEntryValue(9, encodeEntryValue(e))).toEqual(e);
  });

  it('reads snapshot metadata written before members had addresses', () => {
    const meta = { index: 5, term: 2, conf: { voters: ['a'], learners: [], addrs: { a: 'http://a' } } };
    expect(decodeSnapshotMeta(encodeSnapshotMeta(meta))).toEqual(meta);
    const old = bytes(JSON.stringify({ index: 5, term: 2, conf: { voters: ['a'], learners: [] } }));
    expect(decodeSnapshotMeta(old).conf.addrs).toEqual({});
  });
});
