import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { startTestNode } from '../e2e/node.ts';
import { lanePost, modernPost, sseMessages } from './modern-wire.ts';

// MCP tasks over Streamable HTTP, both revisions: 2025-11-25 core tasks and the 2026-07-28 tasks
// extension. A task is an execution; the cluster side (any node answers, node loss) is in
// test/cluster/mcp-tasks.test.ts.

let nextId = 1;
async function legacy(base: string, method: string, params: Record<string, unknown> = {}) {
  const res = await fetch(new URL('/mcp', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
  });
  return (await res.json()) as { result?: any; error?: { code: number; message: string } };
}

const SPIN = 'console.log("spinning"); while (true) {}';
const QUICK = 'console.log("quick"); 6 * 7';

describe('2025-11-25 core tasks', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  beforeAll(async () => {
    node = await startTestNode();
  });
  afterAll(() => node.stop());

  it('declares the tasks capability and run_js as optionally a task', async () => {
    const init = await legacy(node.url, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } });
    expect(init.result.capabilities.tasks).toEqual({ list: {}, cancel: {}, requests: { tools: { call: {} } } });
    const { result } = await legacy(node.url, 'tools/list');
    const byName = new Map((result.tools as Array<{ name: string; execution?: unknown }>).map((t) => [t.name, t.execution]));
    expect(byName.get('run_js')).toEqual({ taskSupport: 'optional' });
    expect(byName.get('get_execution')).toBeUndefined();
  });

  it('create, get, result, list: the task is the execution', async () => {
    const created = await legacy(node.url, 'tools/call', { name: 'run_js', arguments: { code: QUICK }, task: { ttl: 60_000 } });
    const task = created.result.task;
    expect(task).toMatchObject({ taskId: expect.any(String), ttl: null, pollInterval: 1000 });
    expect(['working', 'completed']).toContain(task.status);
    const result = await legacy(node.url, 'tasks/result', { taskId: task.taskId });
    expect(result.result.structuredContent).toMatchObject({ execution_id: task.taskId, status: 'completed', result: 42, output: 'quick' });
    expect(result.result._meta).toEqual({ 'io.modelcontextprotocol/related-task': { taskId: task.taskId } });
    expect((await legacy(node.url, 'tasks/get', { taskId: task.taskId })).result).toMatchObject({ taskId: task.taskId, status: 'completed' });
    const listed = await legacy(node.url, 'tasks/list');
    expect(listed.result.tasks.map((t: { taskId: string }) => t.taskId)).toContain(task.taskId);
  });

  it('a run that throws is a failed task whose result says why', async () => {
    const { result } = await legacy(node.url, 'tools/call', { name: 'run_js', arguments: { code: 'throw new Error("no")' }, task: {} });
    const answer = await legacy(node.url, 'tasks/result', { taskId: result.task.taskId });
    expect(answer.result.isError).toBe(true);
    const got = await legacy(node.url, 'tasks/get', { taskId: result.task.taskId });
    expect(got.result).toMatchObject({ status: 'failed', statusMessage: 'failed: Error: no' });
  });

  it('cancel stops the run; a terminal task cannot be cancelled', async () => {
    const { result } = await legacy(node.url, 'tools/call', { name: 'run_js', arguments: { code: SPIN, execution_timeout_secs: 60 }, task: {} });
    const taskId = result.task.taskId;
    await waitFor('the run to start', async () => (await legacy(node.url, 'tasks/get', { taskId })).result.statusMessage.startsWith('running'));
    expect((await legacy(node.url, 'tasks/cancel', { taskId })).result).toMatchObject({ taskId, status: 'cancelled' });
    expect((await legacy(node.url, 'tasks/cancel', { taskId })).error).toMatchObject({ code: -32602, message: expect.stringContaining('already cancelled') });
  });

  it('refuses unknown tasks and tasks for other tools', async () => {
    expect((await legacy(node.url, 'tasks/get', { taskId: 'ex_nope' })).error).toMatchObject({ code: -32602, message: 'task ex_nope not found' });
    expect((await legacy(node.url, 'tools/call', { name: 'list_sessions', arguments: {}, task: {} })).error).toMatchObject({ code: -32601 });
  });
});

describe('2026-07-28 tasks extension', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  beforeAll(async () => {
    node = await startTestNode();
  });
  afterAll(() => node.stop());

  const withTasks = { _meta: { 'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } } } };
  const tasksCall = (method: string, taskId: string, meta: object = withTasks) => modernPost(node.url, method, { taskId, ...meta }, { 'mcp-name': taskId });

  it('is declared in server/discover', async () => {
    const { json } = await modernPost(node.url, 'server/discover');
    expect(json.result.capabilities.extensions).toEqual({ 'io.modelcontextprotocol/tasks': {} });
  });

  it('a quick run is answered directly, with or without the extension', async () => {
    for (const meta of [{}, withTasks]) {
      const { json } = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: QUICK }, ...meta });
      expect(json.result).toMatchObject({ resultType: 'complete', structuredContent: { status: 'completed', result: 42 } });
    }
  });

  it('a run still going becomes a task; tasks/get inlines its result once it completes', async () => {
    const { json } = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: QUICK, async: true }, ...withTasks });
    expect(json.result).toMatchObject({ resultType: 'task', taskId: expect.any(String), ttlMs: null, pollIntervalMs: 1000 });
    const taskId = json.result.taskId as string;
    const done = await waitFor('the task to complete', async () => {
      const got = (await tasksCall('tasks/get', taskId)).json.result;
      return got.status === 'completed' && got;
    });
    expect(done).toMatchObject({ resultType: 'complete', taskId, result: { structuredContent: { result: 42, output: 'quick' } } });
    expect((await tasksCall('tasks/update', taskId)).json.result).toMatchObject({ resultType: 'complete' });
  });

  it('a run that throws is a completed task whose result has isError', async () => {
    const { json } = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: 'throw new Error("no")', async: true }, ...withTasks });
    const done = await waitFor('the task to end', async () => {
      const got = (await tasksCall('tasks/get', json.result.taskId)).json.result;
      return got.status !== 'working' && got;
    });
    expect(done).toMatchObject({ status: 'completed', result: { isError: true } });
  });

  it('tasks/cancel acknowledges and the task ends cancelled', async () => {
    const { json } = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: SPIN, execution_timeout_secs: 60, async: true }, ...withTasks });
    const taskId = json.result.taskId as string;
    expect((await tasksCall('tasks/cancel', taskId)).json.result).toMatchObject({ resultType: 'complete' });
    await waitFor('the task to be cancelled', async () => (await tasksCall('tasks/get', taskId)).json.result.status === 'cancelled');
    expect((await tasksCall('tasks/cancel', taskId)).json.result).toMatchObject({ resultType: 'complete' });
    expect((await tasksCall('tasks/get', 'ex_unknown')).json.error).toMatchObject({ code: -32602 });
    // The extension's methods are for clients that declared it.
    const undeclared = await tasksCall('tasks/get', taskId, {});
    expect(undeclared.json.error).toMatchObject({ code: -32021, data: { requiredCapabilities: { extensions: { 'io.modelcontextprotocol/tasks': {} } } } });
  });

  const listen = (params: Record<string, unknown>, opts: { signal?: AbortSignal; headers?: Record<string, string> } = {}) =>
    lanePost(node.url, 'modern', { jsonrpc: '2.0', id: 'l1', method: 'subscriptions/listen', params: { ...withTasks, ...params } }, opts);

  it('pushes a task\'s status change on a subscriptions/listen stream that names it', async () => {
    const { json } = await modernPost(node.url, 'tools/call', { name: 'run_js', arguments: { code: SPIN, execution_timeout_secs: 60, async: true }, ...withTasks });
    const taskId = json.result.taskId as string;
    const closed = new AbortController();
    const messages = sseMessages(await listen({ notifications: { taskIds: [taskId], toolsListChanged: true } }, { signal: closed.signal }));
    // Only what is honoured is acknowledged: the tool list never changes.
    expect((await messages.next()).value.params.notifications).toEqual({ taskIds: [taskId] });
    await tasksCall('tasks/cancel', taskId);
    const pushed = (await messages.next()).value;
    closed.abort();
    expect(pushed).toMatchObject({ method: 'notifications/tasks', params: { taskId, status: 'cancelled', _meta: { 'io.modelcontextprotocol/subscriptionId': 'l1' } } });
  });

  it('bounds a listen for task ids and leaves malformed requests to the SDK\'s checks', async () => {
    const tooMany = await listen({ notifications: { taskIds: Array.from({ length: 65 }, (_, i) => `t${i}`) } });
    expect(((await tooMany.json()) as any).error).toMatchObject({ code: -32602 });
    const notIds = await listen({ notifications: { taskIds: 'all' } });
    expect(((await notIds.json()) as any).error).toMatchObject({ code: -32602 });
    const mismatched = await listen({ notifications: { taskIds: [] } }, { headers: { 'mcp-method': 'tools/list' } });
    expect(mismatched.status).toBe(400);
    expect(((await mismatched.json()) as any).error).toMatchObject({ code: -32020 });
  });
});
