import { openReplica, type Replica } from '../../src/replication/index.ts';
import type { StateModule } from '../../src/store/index.ts';

/**
 * The product's write path for tests of the layers above it: a real single-node RaftNode (a cluster
 * of one, elected at start) over a ReplicatedState, in `dir` (`state/` and `raft/`).
 */
export function singleNodeReplica(dir: string, modules: StateModule[]): Promise<Replica> {
  return openReplica({ nodeId: 'n1', peers: {}, dataDir: dir, modules });
}
