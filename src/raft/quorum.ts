// Majority math over a set of voters (etcd's quorum/majority.go). Single-server membership
// changes mean one majority config at a time, so there is no joint config here.
import type { NodeId } from './types.ts';

export type VoteResult = 'pending' | 'lost' | 'won';

/** The largest index that a majority of `voters` have acknowledged. Missing voters count as 0. */
export function committedIndex(voters: readonly NodeId[], acked: (id: NodeId) => number | undefined): number {
  const n = voters.length;
  if (n === 0) return Number.MAX_SAFE_INTEGER; // an empty config never holds back commit (etcd's convention)
  const idx = voters.map((id) => acked(id) ?? 0).sort((a, b) => b - a);
  return idx[Math.floor(n / 2)]!;
}

export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'won';
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = Math.floor(voters.length / 2) + 1;
  if (granted >= q) return 'won';
  if (granted + missing >= q) return 'pending';
  return 'lost';
}

export function hasQuorum(voters: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  const yes = voters.filter(active).length;
  return yes >= Math.floor(voters.length / 2) + 1;
}
