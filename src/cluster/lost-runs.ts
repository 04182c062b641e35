import { UserError } from '../errors.ts';
import type { RaftNode } from '../raft/index.ts';
import type { ExecutionService } from '../executions/index.ts';
import { silentAfterMs } from './status.ts';

interface Log {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * Ends executions whose node is gone, so none stays `running` forever:
 * - this node's own records left by an earlier boot ("node restarted"), once a quorum accepts the
 *   proposal: a cluster node starts serving Raft before one exists, so this retries in the background;
 * - on the leader, the records of a node it has not heard from for a few election timeouts, or of a
 *   node that is no longer a member ("node lost"). Only the leader decides, from its own contact
 *   times. A node that was merely partitioned keeps running, but its finish can no longer overwrite
 *   the verdict (finished records never change).
 */
export class LostRuns {
  private readonly timer: NodeJS.Timeout;
  private recovered = false;
  private busy = false;

  private readonly raft: RaftNode;
  private readonly executions: ExecutionService;
  private readonly electionMs: number;
  private readonly log: Log;
  constructor(
    raft: RaftNode,
    executions: ExecutionService,
    electionMs: number,
    log: Log,
  ) {
    this.raft = raft;
    this.executions = executions;
    this.electionMs = electionMs;
    this.log = log;
    this.timer = setInterval(() => void this.check(), electionMs);
    this.timer.unref();
    void this.check();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      if (!this.recovered) {
        const failed = await this.executions.recover();
        this.recovered = true;
        if (failed > 0) this.log.info({ failed }, 'failed the executions an earlier run of this node left unfinished');
      }
      await this.failLostNodes();
    } catch (err) {
      // No quorum yet (normal while a cluster starts), or a leadership change: the next check tries again.
      if (err instanceof UserError) this.log.debug({ reason: err.message }, 'lost runs not settled yet');
      else this.log.warn({ err }, 'settling lost runs failed');
    } finally {
      this.busy = false;
    }
  }

  private async failLostNodes(): Promise<void> {
    const s = this.raft.status();
    if (s.role !== 'leader') return;
    for (const node of this.executions.activeOwners()) {
      if (node === s.id) continue;
      const peer = s.peers[node];
      const gone = !peer || (peer.lastContactMs !== null && peer.lastContactMs > silentAfterMs(this.electionMs));
      if (!gone) continue;
      const failed = await this.executions.nodeLost(node);
      if (failed > 0) this.log.info({ lostNode: node, failed }, 'failed the executions of a lost node');
    }
  }
}
