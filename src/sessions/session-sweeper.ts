import type { CommandLog, ReplicatedState } from '../store/index.ts';
import { GC_PREFIX, refKey, type CollectCommand, type ExpireCommand } from './session-lifecycle.ts';
import { stateKey, SESSION_MODULE, type StateObject, type SessionHead } from './session-state.ts';

/** Sessions expired per command, and state objects a collect command looks at: each command's work is bounded. */
export const EXPIRE_BATCH = 100;
export const COLLECT_BATCH = 256;

export interface SweeperOptions {
  /** Sessions idle this long expire; 0 keeps them forever. */
  ttlMs: number;
  /** How often the leader looks for work. */
  intervalMs: number;
  /** Only the leader proposes: every replica then applies the same verdicts. */
  isLeader: () => boolean;
  onError?: (err: unknown) => void;
  /** The clock expiry is decided by (default Date.now). */
  now?: () => number;
}

/**
 * The leader's side of session lifecycle (session-lifecycle.ts): it proposes `session.expire` when
 * a session is past its TTL and `session.collect` while released state objects wait in the queue,
 * each command bounded, one at a time, again at once while there is more to do.
 */
export class SessionSweeper {
  private readonly timer: NodeJS.Timeout;
  private busy = false;

  private readonly state: ReplicatedState;
  private readonly log: CommandLog;
  private readonly opts: SweeperOptions;
  constructor(state: ReplicatedState, log: CommandLog, opts: SweeperOptions) {
    this.state = state;
    this.log = log;
    this.opts = opts;
    this.timer = setInterval(() => void this.sweep(), opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Proposes until nothing is left to expire or collect (or this node stops leading). Resolves with the commands proposed. */
  async sweep(): Promise<number> {
    if (this.busy) return 0;
    this.busy = true;
    let proposed = 0;
    // Looking for due sessions reads every name; a round that found none does not look again while
    // it drains the release queue, which under load is one collect after another.
    let expiring = true;
    try {
      while (this.opts.isLeader()) {
        const expire: ExpireCommand | undefined = expiring ? this.expireCommand() : undefined;
        expiring = expire !== undefined;
        const cmd = expire ?? (await this.collectCommand());
        if (!cmd) break;
        const done = (await this.log.propose(cmd)) as { expired?: number; collected?: number; released?: number } | undefined;
        proposed++;
        // Queue entries only records still hold: look again next round, not in a loop.
        if (!done || (done.expired ?? 0) + (done.collected ?? 0) + (done.released ?? 0) === 0) break;
      }
    } catch (err) {
      // No quorum, or leadership moved: the next round (of whoever leads) goes on.
      this.opts.onError?.(err);
    } finally {
      this.busy = false;
    }
    return proposed;
  }

  private expireCommand(): ExpireCommand | undefined {
    if (this.opts.ttlMs <= 0) return undefined;
    const now = (this.opts.now ?? Date.now)();
    const due = this.state.some(SESSION_MODULE, 'name/', (v) => Date.parse((v as SessionHead).updatedAt) + this.opts.ttlMs <= now);
    return due ? { type: 'session.expire', now, ttlMs: this.opts.ttlMs, limit: EXPIRE_BATCH } : undefined;
  }

  /** The first releases in the queue, each with the chain of parents it is expected to free (read from this node's state). */
  private async collectCommand(): Promise<CollectCommand | undefined> {
    // The queue is cold (on disk): only its head is read.
    const queue = await this.state.scanCold(SESSION_MODULE, GC_PREFIX, COLLECT_BATCH);
    if (queue.length === 0) return undefined;
    const chains: CollectCommand['chains'] = [];
    let budget = COLLECT_BATCH;
    for (const [key, value] of queue) {
      if (budget <= 0) break;
      const { heap, release } = value as { heap: string; release: number };
      const heaps = [heap];
      budget--;
      // Walk up while each object is expected to lose its last holder.
      let at = heap;
      let releasing = release;
      while (budget > 0) {
        const count = (await this.state.getCold(SESSION_MODULE, refKey(at))) as number | undefined;
        const object = (await this.state.getCold(SESSION_MODULE, stateKey(at))) as StateObject | undefined;
        if (count === undefined || count - releasing > 0 || !object || object.parent === null) break;
        at = object.parent;
        releasing = 1;
        heaps.push(at);
        budget--;
      }
      chains.push({ seq: Number(key.slice(GC_PREFIX.length)), heaps });
    }
    return { type: 'session.collect', chains };
  }
}
