import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { FINISHED, type EdgeDomain, type Execution } from '../api/domain.ts';
import type { ConsoleLine } from '../sandbox/index.ts';
import type { EdgeLimits } from '../api/operations.ts';
import { executionView } from '../api/views.ts';
import { callTool, operationOf, TASK_TOOL, toolAnswer } from './tools.ts';

/**
 * A run_js call that carries a progress token, answered as a stream (both lanes): the run is started
 * like an async one (so its record exists on every node), then watched until it ends, with a progress
 * notification at least every second saying what it is doing, and its console lines as they appear,
 * then the answer the call would have had. The lane decides how each goes out (progress
 * notifications; console lines as log messages, which the client's log level filters).
 */

/** How often progress is reported while nothing else happens. */
export const PROGRESS_EVERY_MS = 1000;

export interface RunWatcher {
  progress(progress: number, message: string): Promise<void>;
  console(line: ConsoleLine): Promise<void>;
}

export function progressTokenOf(params: { _meta?: { progressToken?: unknown } } | undefined): string | number | undefined {
  const token = params?._meta?.progressToken;
  return typeof token === 'string' || typeof token === 'number' ? token : undefined;
}

export async function watchedRun(
  domain: EdgeDomain,
  limits: EdgeLimits,
  args: Record<string, unknown> | undefined,
  caller: { subject: string | undefined; signal: AbortSignal },
  watcher: RunWatcher,
): Promise<CallToolResult> {
  const started = await callTool(domain, TASK_TOOL, { ...args, async: true, wait: undefined }, { edge: 'mcp', subject: caller.subject }, limits);
  const id = (started.structuredContent as { execution_id?: string } | undefined)?.execution_id;
  if (!id) return started; // refused (bad arguments, overload): the answer says why
  // The client going away (or cancelling the request) is the end of the run, as for a plain call.
  const cancel = () => void domain.executions.cancel(id, caller.subject).catch(() => undefined);
  caller.signal.addEventListener('abort', cancel, { once: true });
  try {
    let sent = 0;
    let ticks = 0;
    for (;;) {
      const e = await domain.executions.get(id, { subject: caller.subject, waitMs: PROGRESS_EVERY_MS });
      for (; sent < e.console.length; sent++) await watcher.console(e.console[sent]!);
      if (FINISHED.has(e.status)) return await toolAnswer(domain, operationOf(TASK_TOOL)!, executionView(e), caller.subject);
      await watcher.progress(++ticks, runStatusMessage(e));
    }
  } finally {
    caller.signal.removeEventListener('abort', cancel);
  }
}

/** What an unfinished execution is doing, for progress and task status messages. */
export function runStatusMessage(e: Execution): string {
  if (e.status === 'queued') return 'queued: waiting for a free sandbox';
  const since = e.startedAt ? ` for ${Math.round((Date.now() - Date.parse(e.startedAt)) / 1000)} s` : '';
  // The running node's own view says more (replaying, waiting on host calls); others know it runs.
  const doing = e.activity === undefined ? '' : `: ${e.activity}`;
  return `running${since} on node ${e.node}${doing}${e.console.length ? `, ${e.console.length} console lines so far` : ''}`;
}

/** MCP's log levels for the console's. */
export const LOG_LEVEL_OF: Record<ConsoleLine['level'], 'debug' | 'info' | 'warning' | 'error'> = {
  debug: 'debug',
  log: 'info',
  info: 'info',
  warn: 'warning',
  error: 'error',
};
