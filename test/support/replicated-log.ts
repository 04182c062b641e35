import { openReplicatedLog, type ReplicatedLog } from '../../src/cluster/index.ts';
import type { StateModule } from '../../src/store/index.ts';

/**
 * The product's write path for tests of the layers above it: a real single-node RaftNode (a cluster
 * of one, elected at start) over a ReplicatedState, in `dir` (`state/` and `raft/`).
 */
export function singleNodeLog(dir: string, modules: StateModule[]): Promise<ReplicatedLog> {
  return openReplicatedLog({ nodeId: 'n1', peers: {}, dataDir: dir, modules });
}
