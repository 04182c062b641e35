import { randomUUID } from 'node:crypto';
import { errorAnswer, type HostCallPerformer } from '../sandbox/index.ts';
import type { CommandLog } from '../store/index.ts';
import type { ClaimCommand, ClaimVerdict, ReleaseCommand } from './session-claims.ts';

/** How long past the step's wall-clock limit a claim lasts: time for its commit through Raft. */
export const CLAIM_COMMIT_MARGIN_MS = 10_000;

/**
 * The session claim of one attempt of a step, taken through Raft just before the step's first
 * external call (never for a step that makes none): once it is committed, no other step is accepted
 * on the session until this one commits (which releases it), releases it, or it expires. A step that
 * holds it therefore cannot lose its compare-and-set, and is never run again after it sent requests.
 * If the claim is refused (the session moved under a stale head, or another node's step holds it),
 * the call fails before anything is sent, and the attempt says why (`refusal`).
 */
export class StepClaim {
  readonly id = randomUUID();
  #taken: Promise<ClaimVerdict> | null = null;
  #verdict: ClaimVerdict | null = null;

  readonly #log: CommandLog;
  readonly #target: { session: string; subject: string | null; expect: string | null; node: string };
  readonly #holdMs: number;
  constructor(log: CommandLog, target: { session: string; subject: string | null; expect: string | null; node: string }, wallTimeoutMs: number) {
    this.#log = log;
    this.#target = target;
    this.#holdMs = wallTimeoutMs + CLAIM_COMMIT_MARGIN_MS;
  }

  /** Whether the claim was taken (so the step's commit must carry it, and a failure must release it). */
  get held(): boolean {
    return this.#verdict?.ok === true;
  }

  /** Why the claim was refused, or null (not refused, or never asked for). */
  get refusal(): Exclude<ClaimVerdict, { ok: true }> | null {
    return this.#verdict !== null && !this.#verdict.ok ? this.#verdict : null;
  }

  /** `performer` with the claim taken before its first call; a refused claim fails every call unsent. */
  guard(performer: HostCallPerformer): HostCallPerformer {
    return {
      limits: performer.limits,
      perform: async (request, signal) => {
        // A call the rules refuse changes nothing outside: no claim needed.
        if (performer.sendsOut?.(request) === false) return performer.perform(request, signal);
        const verdict = await this.#take();
        if (!verdict.ok) {
          const why = verdict.reason === 'moved' ? 'the session moved on another node while this step ran (it is run again on the new state)' : `a step on node ${verdict.node} holds the session`;
          return errorAnswer('TypeError', `not sent: ${why}`);
        }
        return performer.perform(request, signal);
      },
    };
  }

  /** Gives the claim back after a step that will not commit (stopped, refused); best effort: it expires anyway. */
  async release(): Promise<void> {
    if (!this.held) return;
    const cmd: ReleaseCommand = { type: 'session.release', session: this.#target.session, subject: this.#target.subject, claim: this.id };
    await this.#log.propose(cmd).catch(() => undefined);
  }

  #take(): Promise<ClaimVerdict> {
    this.#taken ??= (async () => {
      const at = Date.now();
      try {
        const cmd: ClaimCommand = { type: 'session.claim', ...this.#target, claim: this.id, at, until: at + this.#holdMs };
        this.#verdict = (await this.#log.propose(cmd)) as ClaimVerdict;
      } catch {
        // No quorum: nothing is sent. The step fails its call; the claim may still commit later and then expires.
        this.#verdict = { ok: false, reason: 'claimed', node: '(unknown: the claim could not be committed)', until: at };
      }
      return this.#verdict;
    })();
    return this.#taken;
  }
}
