// When a learner may become a voter. One that lags would make the new quorum wait for it, so it is
// promoted only once it has every committed entry; one the leader never hears from (not started,
// wrong address or secret) is refused within seconds rather than at the request's timeout.
import type { PeerStatus } from './raft.ts';

/** A live learner answers every heartbeat; this many election timeouts of silence means it is not there. */
export const LEARNER_SILENCE_ELECTIONS = 10;

export type LearnerReadiness = 'caught-up' | 'catching-up' | 'silent' | 'unknown';

/** The leader's verdict on a learner from its progress (`undefined`: not a member), its commit index and the silence allowed in ticks. */
export function learnerReadiness(pr: PeerStatus | undefined, committed: number, silenceTicks: number): LearnerReadiness {
  if (pr === undefined) return 'unknown';
  if (pr.ticksSinceContact > silenceTicks) return 'silent';
  return pr.match >= committed ? 'caught-up' : 'catching-up';
}
