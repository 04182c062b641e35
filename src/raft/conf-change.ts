// Membership changes travel through the log as ConfChange entries (§6, single-server changes).
// A fresh cluster starts from identical bootstrap entries on every initial member (etcd's
// StartNode): term 1, one addVoter per member, already committed — so a node that joins later
// learns the initial membership by replicating the log like anything else.
import { EntryType, type ConfChange, type HardState, type LogEntry, type NodeId } from './types.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return enc.encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  return JSON.parse(dec.decode(data)) as ConfChange;
}

export function bootstrapLog(ids: readonly NodeId[]): { entries: LogEntry[]; hardState: HardState } {
  const sorted = [...new Set(ids)].sort();
  const entries = sorted.map((id, i) => ({
    index: i + 1,
    term: 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: 'addVoter', id }),
  }));
  return { entries, hardState: { term: 1, vote: null, commit: entries.length } };
}
