import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { FINISHED, type EdgeDomain, type Execution } from '../api/domain.ts';
import { executionView } from '../api/views.ts';
import type { EdgeLimits } from '../api/operations.ts';
import { UserError } from '../errors.ts';
import { runStatusMessage } from './progress.ts';
import { callTool, operationOf, TASK_TOOL, toolAnswer } from './tools.ts';

/**
 * MCP tasks over raftbox's executions, for both revisions: a task is an execution (its id is the task
 * id), so it is replicated with the execution record, any node answers for it, it is scoped to the
 * token's subject like every execution, it lives as long as the record (until retention prunes it: `ttl`
 * null), and a task whose node died ends as the execution does, failed with "node lost".
 *
 * - 2025-11-25 (core tasks, `tasks` capability): a `tools/call` of run_js with a `task` field answers a
 *   CreateTaskResult at once; `tasks/get`, `tasks/result` (blocks until the end), `tasks/list`, `tasks/cancel`.
 *   A run whose tool result has `isError` ends `failed`, as that revision says.
 * - 2026-07-28 (the `io.modelcontextprotocol/tasks` extension, SEP-2663): for a client that declared the
 *   extension on the request, a run_js still going after a short wait is answered with a task handle
 *   (`resultType: "task"`); `tasks/get` inlines the result once it is there, `tasks/update` has nothing to
 *   take (raftbox never asks the client for input), `tasks/cancel` acknowledges. A run that threw is a
 *   `completed` task whose result has `isError` (`failed` is for errors outside the tool result: a lost node).
 */

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
const RELATED_TASK = 'io.modelcontextprotocol/related-task';
/** Suggested polling interval. */
export const TASK_POLL_MS = 1000;
/** 2026-07-28: how long a run_js is waited for before its answer becomes a task (unless the call gives `wait`). */
export const TASK_AFTER_MS = 2000;

export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';
type Revision = 'legacy' | 'modern';

interface Caller {
  subject: string | undefined;
  signal: AbortSignal;
}

/** An execution as a task of either revision (their field names differ: `ttl` vs `ttlMs`). */
export function taskOf(e: Execution, revision: Revision) {
  const status = taskStatus(e, revision);
  const common = {
    taskId: e.id,
    status,
    statusMessage: statusMessage(e),
    createdAt: e.createdAt,
    lastUpdatedAt: e.finishedAt ?? e.startedAt ?? e.createdAt,
  };
  return revision === 'legacy' ? { ...common, ttl: null, pollInterval: TASK_POLL_MS } : { ...common, ttlMs: null, pollIntervalMs: TASK_POLL_MS };
}

function taskStatus(e: Execution, revision: Revision): TaskStatus {
  if (!FINISHED.has(e.status)) return 'working';
  if (e.status === 'cancelled') return 'cancelled';
  if (e.status === 'completed') return 'completed';
  if (revision === 'legacy' || lostByServer(e)) return 'failed';
  return 'completed';
}

/** Ended by the cluster, not by the code: its node died or restarted while it ran. */
const lostByServer = (e: Execution) => e.status === 'failed' && e.error?.name === 'NodeError';

function statusMessage(e: Execution): string {
  if (!FINISHED.has(e.status)) return runStatusMessage(e);
  if (e.error) return `${e.status}: ${e.error.name ? `${e.error.name}: ` : ''}${e.error.message}`.slice(0, 1024);
  return e.status;
}

/** The run_js answer for a finished execution: what the call would have answered synchronously. */
function runResult(domain: EdgeDomain, e: Execution, caller: Caller): Promise<CallToolResult> {
  return toolAnswer(domain, operationOf(TASK_TOOL)!, executionView(e), caller.subject);
}

/** A task is an execution of the caller's; anything else (another subject's, pruned, never made) is unknown. */
async function taskExecution(domain: EdgeDomain, taskId: unknown, caller: Caller, waitMs = 0): Promise<Execution> {
  if (typeof taskId !== 'string') throw invalidParams('taskId must be a string');
  try {
    return await domain.executions.get(taskId, { subject: caller.subject, waitMs });
  } catch (err) {
    if (err instanceof UserError && err.status === 404) throw invalidParams(`task ${taskId} not found`);
    throw err;
  }
}

function invalidParams(message: string): Error {
  return Object.assign(new Error(message), { code: -32602 });
}

/**
 * Starts run_js as a task: the execution is replicated before this answers (an async run is), so a
 * `tasks/get` on any node finds it. A call that cannot start (bad arguments, overload) is an error.
 */
async function startRun(domain: EdgeDomain, limits: EdgeLimits, args: Record<string, unknown> | undefined, caller: Caller, waitMs: number): Promise<Execution> {
  const answer = await callTool(domain, TASK_TOOL, { ...args, async: undefined, wait: waitMs }, { edge: 'mcp', signal: waitMs > 0 ? caller.signal : undefined, subject: caller.subject }, limits);
  const out = answer.structuredContent as { execution_id?: string } | undefined;
  if (!out?.execution_id) throw Object.assign(new Error((answer.content[0] as { text: string }).text), { code: -32602 });
  return taskExecution(domain, out.execution_id, caller);
}

// ── 2025-11-25 ──────────────────────────────────────────────────────────────────────────────────────

export const LEGACY_TASKS_CAPABILITY = { list: {}, cancel: {}, requests: { tools: { call: {} } } };

export const legacyTasks = {
  /** `tools/call` with `task`: only run_js takes one (-32601 for the others, as the revision says). */
  async create(domain: EdgeDomain, limits: EdgeLimits, params: { name: string; arguments?: Record<string, unknown> }, caller: Caller) {
    if (params.name !== TASK_TOOL) throw Object.assign(new Error(`tool ${params.name} cannot be called as a task`), { code: -32601 });
    return { task: taskOf(await startRun(domain, limits, params.arguments, caller, 0), 'legacy') };
  },

  async get(domain: EdgeDomain, taskId: unknown, caller: Caller) {
    return taskOf(await taskExecution(domain, taskId, caller), 'legacy');
  },

  /** Blocks until the run ends (in long-polls of the longest wait a call may take), then answers its tool result. */
  async result(domain: EdgeDomain, limits: EdgeLimits, taskId: unknown, caller: Caller): Promise<CallToolResult> {
    let e = await taskExecution(domain, taskId, caller);
    while (!FINISHED.has(e.status)) {
      if (caller.signal.aborted) throw Object.assign(new Error('Request cancelled'), { code: -32800 });
      e = await taskExecution(domain, taskId, caller, limits.maxWaitMs);
    }
    return { ...(await runResult(domain, e, caller)), _meta: { [RELATED_TASK]: { taskId: e.id } } };
  },

  async list(domain: EdgeDomain, cursor: string | undefined, caller: Caller) {
    const page = await domain.executions.list({ cursor, subject: caller.subject });
    return { tasks: page.executions.map((e) => taskOf(e, 'legacy')), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
  },

  async cancel(domain: EdgeDomain, taskId: unknown, caller: Caller) {
    const e = await taskExecution(domain, taskId, caller);
    if (FINISHED.has(e.status)) throw invalidParams(`Cannot cancel task ${e.id}: it is already ${taskOf(e, 'legacy').status}`);
    return taskOf(await cancelled(domain, e, caller), 'legacy');
  },
};

/** Cancels the run; one that ended meanwhile answers as it ended. */
async function cancelled(domain: EdgeDomain, e: Execution, caller: Caller): Promise<Execution> {
  try {
    return await domain.executions.cancel(e.id, caller.subject);
  } catch (err) {
    if (err instanceof UserError && err.status === 409) return taskExecution(domain, e.id, caller);
    throw err;
  }
}

// ── 2026-07-28 ──────────────────────────────────────────────────────────────────────────────────────

/** Whether the request's client declared the tasks extension (in its per-request capabilities). */
export function declaresTasks(clientCapabilities: unknown): boolean {
  const extensions = (clientCapabilities as { extensions?: Record<string, unknown> } | undefined)?.extensions;
  return typeof extensions === 'object' && extensions !== null && TASKS_EXTENSION in extensions;
}

/** -32021 Missing Required Client Capability, naming the extension. */
export function missingTasksCapability(): Error {
  return Object.assign(new Error('Missing required client capability: the io.modelcontextprotocol/tasks extension'), {
    code: -32021,
    data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } },
  });
}

export const modernTasks = {
  /** run_js for a client that declared the extension: the answer itself if the run ends within the wait, else a task. */
  async call(domain: EdgeDomain, limits: EdgeLimits, args: Record<string, unknown> | undefined, caller: Caller) {
    const waitMs = args?.async === true ? 0 : typeof args?.wait === 'number' ? args.wait : TASK_AFTER_MS;
    const e = await startRun(domain, limits, args, caller, waitMs);
    if (FINISHED.has(e.status)) return runResult(domain, e, caller);
    return { resultType: 'task' as const, ...taskOf(e, 'modern') };
  },

  /** A task with what its status carries: the result once completed, the error once failed. */
  async get(domain: EdgeDomain, taskId: unknown, caller: Caller) {
    const e = await taskExecution(domain, taskId, caller);
    const task = taskOf(e, 'modern');
    if (task.status === 'completed') return { ...task, result: await runResult(domain, e, caller) };
    if (task.status === 'failed') return { ...task, error: { code: -32603, message: e.error?.message ?? 'failed' } };
    return task;
  },

  /** raftbox never asks a client for input, so there is nothing to take; the task must exist. */
  async update(domain: EdgeDomain, taskId: unknown, caller: Caller) {
    await taskExecution(domain, taskId, caller);
    return {};
  },

  /** Cooperative, as the extension says: acknowledged whether or not the run had ended. */
  async cancel(domain: EdgeDomain, taskId: unknown, caller: Caller) {
    const e = await taskExecution(domain, taskId, caller);
    if (!FINISHED.has(e.status)) await cancelled(domain, e, caller);
    return {};
  },
};
