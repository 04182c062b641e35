import { UserError } from '../errors.ts';
import { SESSION_MODULE, sessionNameKey, sessionNamePrefix, usageKey } from '../sessions/index.ts';
import type { ReplicatedState } from '../store/index.ts';
import type { CheckedRequest } from './run-request.ts';

/** Per-subject caps (0: none). With OAuth off every caller is one subject. */
export interface QuotaLimits {
  liveSessions: number;
  stepsPerSession: number;
  storedMb: number;
  concurrentRuns: number;
  cpuSecsPerMinute: number;
}

export const NO_QUOTAS: QuotaLimits = { liveSessions: 0, stepsPerSession: 0, storedMb: 0, concurrentRuns: 0, cpuSecsPerMinute: 0 };

export interface Usage {
  subject: string | null;
  liveSessions: number;
  storedBytes: number;
  concurrentRuns: number;
  cpuSecsLastMinute: number;
  limits: QuotaLimits;
}

const WINDOW_MS = 60_000;
// Subjects whose CPU of the last minute is remembered on this node: beyond it the oldest is dropped.
const MAX_TRACKED_SUBJECTS = 10_000;

/**
 * The quotas of one subject. Sizes (sessions, steps, stored bytes) are read from the replicated
 * state, so every node counts the same; rates (runs at once, CPU per minute) are this node's own
 * count, the work it does. Over a size: 403; over a rate: 429 with Retry-After. The message names
 * the quota, the limit and the current use.
 */
export class SubjectQuotas {
  private readonly running = new Map<string, number>();
  private readonly cpu = new Map<string, Array<{ at: number; ms: number }>>();

  private readonly state: ReplicatedState;
  private readonly limits: QuotaLimits;
  private readonly now: () => number;
  constructor(state: ReplicatedState, limits: QuotaLimits, now: () => number = Date.now) {
    this.state = state;
    this.limits = limits;
    this.now = now;
  }

  /** Refuses a run over a quota; else counts it as running until `release` is called. */
  admit(r: CheckedRequest): () => void {
    const subject = r.subject;
    const l = this.limits;
    const key = subject ?? '';
    if (l.concurrentRuns > 0 && (this.running.get(key) ?? 0) >= l.concurrentRuns) {
      throw new UserError(429, 'quota_exceeded', `quota concurrent_runs: ${this.running.get(key)} of ${l.concurrentRuns} runs of this subject are in progress on this node; retry when one ends`, 1);
    }
    if (l.cpuSecsPerMinute > 0) {
      const used = this.cpuLastMinute(key);
      if (used.ms >= l.cpuSecsPerMinute * 1000) {
        const retry = Math.max(1, Math.ceil((used.oldest + WINDOW_MS - this.now()) / 1000));
        throw new UserError(429, 'quota_exceeded', `quota cpu_secs_per_minute: ${(used.ms / 1000).toFixed(1)} of ${l.cpuSecsPerMinute} CPU seconds used in the last minute`, retry);
      }
    }
    if (r.session !== null) {
      const head = this.state.get(SESSION_MODULE, sessionNameKey(subject, r.session)) as { steps: number } | undefined;
      if (!head && l.liveSessions > 0) {
        const live = this.state.scan(SESSION_MODULE, sessionNamePrefix(subject)).length;
        if (live >= l.liveSessions) throw new UserError(403, 'quota_exceeded', `quota live_sessions: ${live} of ${l.liveSessions} sessions exist; delete one (delete_session) to start another`);
      }
      if (head && l.stepsPerSession > 0 && head.steps >= l.stepsPerSession) {
        throw new UserError(403, 'quota_exceeded', `quota steps_per_session: session ${r.session} has ${head.steps} of ${l.stepsPerSession} steps; start a new session`);
      }
    }
    if ((r.session !== null || r.heap !== null) && l.storedMb > 0) {
      const stored = this.storedBytes(subject);
      if (stored >= l.storedMb * 2 ** 20) {
        throw new UserError(403, 'quota_exceeded', `quota stored_mb: ${(stored / 2 ** 20).toFixed(1)} of ${l.storedMb} MB of session state stored; delete sessions to free some`);
      }
    }
    this.running.set(key, (this.running.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.running.get(key) ?? 1) - 1;
      if (left > 0) this.running.set(key, left);
      else this.running.delete(key);
    };
  }

  /** Counts the CPU a run of `subject` used. */
  charge(subject: string | null, cpuMs: number): void {
    const key = subject ?? '';
    const list = this.cpu.get(key) ?? [];
    this.cpu.delete(key); // re-inserted last: the map's order is least recently charged first
    list.push({ at: this.now(), ms: cpuMs });
    this.cpu.set(key, list);
    if (this.cpu.size > MAX_TRACKED_SUBJECTS) this.cpu.delete(this.cpu.keys().next().value!);
  }

  usage(subject: string | null): Usage {
    const key = subject ?? '';
    return {
      subject,
      liveSessions: this.state.scan(SESSION_MODULE, sessionNamePrefix(subject)).length,
      storedBytes: this.storedBytes(subject),
      concurrentRuns: this.running.get(key) ?? 0,
      cpuSecsLastMinute: this.cpuLastMinute(key).ms / 1000,
      limits: this.limits,
    };
  }

  /** Subjects this node has seen run in the last minute (for /metrics), at most `max`. */
  activeSubjects(max: number): Array<string | null> {
    const out: Array<string | null> = [];
    for (const key of [...this.cpu.keys()].reverse()) {
      if (out.length >= max) break;
      if (this.cpuLastMinute(key).ms > 0 || this.running.has(key)) out.push(key === '' ? null : key);
    }
    return out;
  }

  private storedBytes(subject: string | null): number {
    return (this.state.get(SESSION_MODULE, usageKey(subject)) as number | undefined) ?? 0;
  }

  private cpuLastMinute(key: string): { ms: number; oldest: number } {
    const list = this.cpu.get(key);
    if (!list) return { ms: 0, oldest: this.now() };
    const since = this.now() - WINDOW_MS;
    while (list.length > 0 && list[0]!.at <= since) list.shift();
    let ms = 0;
    for (const e of list) ms += e.ms;
    return { ms, oldest: list[0]?.at ?? this.now() };
  }
}
