import { PassThrough } from 'node:stream';
import type Koa from 'koa';
import { classifyInboundRequest, SUBSCRIPTION_ID_META_KEY } from '@modelcontextprotocol/server';
import { FINISHED, type EdgeDomain } from '../api/domain.ts';
import { CAPABILITIES_KEY, envelopeRefusal } from './revision-2026-07-28.ts';
import { declaresTasks, missingTasksCapability, modernTasks } from './tasks.ts';

/**
 * Task status pushes of the 2026-07-28 Tasks extension (SEP-2663, "Task Status Notifications"): a
 * `subscriptions/listen` whose filter names `taskIds` gets, on its stream, a `notifications/tasks`
 * with the whole task (as `tasks/get` answers it, result or error inlined) each time one of those
 * tasks changes status. raftbox's tasks change status once (working → completed, failed or
 * cancelled), so that is the push; a task already ended when the stream opens is pushed at once, so a
 * listener never waits for a change that already happened.
 *
 * The v2 SDK's listen router knows only the list-changed and resource events (its bus has no task
 * event), and raftbox announces neither (its tools and resources never change), so a listen for task
 * ids is answered here, whole. Any node answers: the tasks are executions, whose records every node
 * applies, and each watched task is a long-poll of its record on this node. A request the SDK's
 * inbound checks refuse (envelope, headers) is left to the SDK, which answers the refusal as usual.
 *
 * Bounded: streams per node (MAX_TASK_SUBSCRIPTIONS, beside the SDK's own cap for its listens), task
 * ids per stream (MAX_TASK_IDS), and each watch wakes at least every WATCH_MS, so a stream the client
 * closed stops costing anything within that. Only the caller's tasks are acknowledged (another
 * subject's id is left out of the acknowledgement, as an unknown one is).
 */

export const MAX_TASK_SUBSCRIPTIONS = 256;
export const MAX_TASK_IDS = 64;
const MAX_TASK_ID_CHARS = 128;
const WATCH_MS = 10_000;

interface Listen {
  id: string | number;
  params: { notifications: { taskIds?: unknown }; _meta?: Record<string, unknown> };
}

/** A `subscriptions/listen` that asks for task status notifications. */
export function listensForTasks(message: unknown): message is Listen {
  const m = message as { method?: unknown; id?: unknown; params?: { notifications?: unknown } } | null;
  const filter = m?.params?.notifications;
  return m?.method === 'subscriptions/listen' && m.id !== undefined && typeof filter === 'object' && filter !== null && 'taskIds' in filter;
}

export class TaskSubscriptions {
  /** Each open stream's graceful end. */
  readonly #open = new Set<() => void>();

  readonly #domain: EdgeDomain;
  readonly #keepAliveMs: number;
  constructor(domain: EdgeDomain, keepAliveMs: number) {
    this.#domain = domain;
    this.#keepAliveMs = keepAliveMs;
  }

  /**
   * Answers a listen for task ids: an SSE stream, or a JSON-RPC error. False when the SDK's inbound
   * checks would refuse the request: then the SDK answers it.
   */
  async handle(ctx: Koa.Context, subject: string | undefined, message: Listen): Promise<boolean> {
    const classified = classifyInboundRequest({
      httpMethod: 'POST',
      body: message,
      ...header(ctx, 'mcp-protocol-version', 'protocolVersionHeader'),
      ...header(ctx, 'mcp-method', 'mcpMethodHeader'),
      ...header(ctx, 'mcp-name', 'mcpNameHeader'),
    });
    if (classified.kind !== 'modern' || envelopeRefusal(message as never)) return false;
    const refuse = (error: { code: number; message: string; data?: unknown }) => {
      ctx.status = 200;
      ctx.body = { jsonrpc: '2.0', id: message.id, error };
      return true;
    };
    if (!declaresTasks(message.params._meta?.[CAPABILITIES_KEY])) {
      const missing = missingTasksCapability() as Error & { code: number; data: unknown };
      return refuse({ code: missing.code, message: missing.message, data: missing.data });
    }
    const ids = message.params.notifications.taskIds;
    if (!Array.isArray(ids) || ids.length > MAX_TASK_IDS || !ids.every((t) => typeof t === 'string' && t.length <= MAX_TASK_ID_CHARS)) {
      return refuse({ code: -32602, message: `Invalid params: notifications.taskIds must be at most ${MAX_TASK_IDS} task ids (strings of at most ${MAX_TASK_ID_CHARS} characters)` });
    }
    if (this.#open.size >= MAX_TASK_SUBSCRIPTIONS) return refuse({ code: -32603, message: 'Subscription limit reached' });
    const caller = { subject, signal: new AbortController().signal };
    // Only the caller's tasks: another subject's id reads as unknown (not found), and is not acknowledged.
    const known = await Promise.all([...new Set(ids as string[])].map((taskId) => this.#domain.executions.get(taskId, { subject }).then(() => taskId, () => null)));
    const taskIds = known.filter((t) => t !== null);
    this.#stream(ctx, message.id, taskIds, caller);
    return true;
  }

  /** Ends every open stream with the listen's closing result (node shutdown). */
  close(): void {
    for (const end of [...this.#open]) end();
  }

  #stream(ctx: Koa.Context, id: string | number, taskIds: string[], caller: { subject: string | undefined; signal: AbortSignal }): void {
    const out = new PassThrough();
    // A client gone mid-write is the end of the stream (`stop`), not an error to report.
    out.on('error', () => undefined);
    const write = (text: string) => {
      if (!out.destroyed && !out.writableEnded) out.write(text);
    };
    const meta = { [SUBSCRIPTION_ID_META_KEY]: id };
    const send = (message: object) => write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
    let closed = false;
    const keepAlive = setInterval(() => write(': keepalive\n\n'), this.#keepAliveMs);
    keepAlive.unref();
    const stop = () => {
      if (closed) return false;
      closed = true;
      clearInterval(keepAlive);
      this.#open.delete(end);
      return true;
    };
    const end = () => {
      if (!stop()) return;
      send({ jsonrpc: '2.0', id, result: { resultType: 'complete', _meta: meta } });
      out.end();
    };
    this.#open.add(end);
    ctx.res.once('close', stop);
    ctx.status = 200;
    ctx.set('content-type', 'text/event-stream');
    ctx.set('cache-control', 'no-cache');
    ctx.body = out;
    send({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { _meta: meta, notifications: { taskIds } } });
    const push = async (taskId: string) => {
      for (;;) {
        if (closed) return;
        const e = await this.#domain.executions.get(taskId, { subject: caller.subject, waitMs: WATCH_MS });
        if (closed) return;
        if (FINISHED.has(e.status)) {
          send({ jsonrpc: '2.0', method: 'notifications/tasks', params: { ...(await modernTasks.get(this.#domain, taskId, caller)), _meta: meta } });
          return;
        }
      }
    };
    // A watch that fails (its record pruned meanwhile) just ends: the stream and the other watches go on.
    for (const taskId of taskIds) void push(taskId).catch(() => undefined);
  }
}

function header<K extends string>(ctx: Koa.Context, name: string, key: K): Partial<Record<K, string>> {
  const value = ctx.get(name);
  return value ? ({ [key]: value } as Record<K, string>) : {};
}
