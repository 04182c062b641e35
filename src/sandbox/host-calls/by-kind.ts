import { errorAnswer, type HostCallLimits, type HostCallPerformer } from './types.ts';

/**
 * One run's performer made of one per kind of call (`fetch` by egress, `mcp` by the upstream servers).
 * The channel enforces one set of limits per step, so this one is the widest of them, and each kind's
 * own count of calls and request-body cap are kept here: a step may make each kind's `maxCalls`, not
 * their sum of one kind. (Answers are capped by each performer itself.)
 */
export function byKind(performers: Record<string, HostCallPerformer>): HostCallPerformer {
  const all = Object.values(performers);
  const widest = (field: keyof HostCallLimits) => Math.max(...all.map((p) => p.limits[field]));
  const limits: HostCallLimits = {
    maxRecordedBytes: widest('maxRecordedBytes'),
    maxAnswerBytes: widest('maxAnswerBytes'),
    maxConcurrent: widest('maxConcurrent'),
    maxCalls: all.reduce((sum, p) => sum + p.limits.maxCalls, 0),
  };
  const made = new Map<string, number>();
  return {
    limits,
    perform(request, signal) {
      const performer = Object.hasOwn(performers, request.kind) ? performers[request.kind] : undefined;
      if (performer === undefined) return Promise.resolve(errorAnswer('TypeError', `unknown host call ${request.kind}`));
      const n = (made.get(request.kind) ?? 0) + 1;
      made.set(request.kind, n);
      if (n > performer.limits.maxCalls) {
        return Promise.resolve(errorAnswer('RangeError', `${request.kind}: this step already made ${performer.limits.maxCalls} such calls, its limit`));
      }
      const sent = request.bytes?.byteLength ?? 0;
      if (sent > performer.limits.maxAnswerBytes) {
        return Promise.resolve(errorAnswer('RangeError', `${request.kind}: the request body of ${sent} bytes is over the limit of ${performer.limits.maxAnswerBytes}`));
      }
      return performer.perform(request, signal);
    },
  };
}
