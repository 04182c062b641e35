// Long runs and rich answers across a three-node cluster of real processes: MCP tasks created on one
// node and polled, fetched and cancelled on the others (both revisions), a task whose node dies,
// console output read from another node while the run goes on, artifacts served by another node, and
// a file handed in to one step read by the next on another node.
import { inflateSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { modernPost } from '../mcp/modern-wire.ts';
import { repo, TestCluster } from './harness.ts';

let c: TestCluster;
beforeAll(async () => {
  c = await TestCluster.start();
  await c.leader();
}, 60_000);
afterAll(() => c?.close());

let nextId = 1;
/** A 2025-11-25 request (stateless: no initialize needed) to one node. */
async function legacy(id: string, method: string, params: Record<string, unknown> = {}) {
  const res = await fetch(new URL('/mcp', c.node(id).url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
  });
  return (await res.json()) as { result?: any; error?: { code: number; message: string } };
}

const withTasks = { _meta: { 'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } } } };
const modernTask = (id: string, method: string, taskId: string) => modernPost(c.node(id).url, method, { taskId, ...withTasks }, { 'mcp-name': taskId });
const SPIN = 'console.log("spinning"); while (true) {}';

describe('long runs on a three-node cluster', { timeout: 90_000 }, () => {
  it('2025-11-25 tasks: created on n1, polled on n2, result from n3, another cancelled from n2', async () => {
    const created = await legacy('n1', 'tools/call', { name: 'run_js', arguments: { code: 'let s = 0; for (let i = 0; i < 3e7; i++) s += i % 3; s' }, task: {} });
    const taskId = created.result.task.taskId as string;
    expect((await legacy('n2', 'tasks/get', { taskId })).result).toMatchObject({ taskId });
    const result = await legacy('n3', 'tasks/result', { taskId });
    expect(result.result.structuredContent).toMatchObject({ execution_id: taskId, status: 'completed', node: 'n1' });
    expect((await legacy('n2', 'tasks/list')).result.tasks.map((t: { taskId: string }) => t.taskId)).toContain(taskId);

    const spinning = (await legacy('n1', 'tools/call', { name: 'run_js', arguments: { code: SPIN, execution_timeout_secs: 60 }, task: {} })).result.task.taskId as string;
    await waitFor('the run to start', async () => (await legacy('n3', 'tasks/get', { taskId: spinning })).result.statusMessage.startsWith('running'));
    expect((await legacy('n2', 'tasks/cancel', { taskId: spinning })).result).toMatchObject({ status: 'cancelled' });
  });

  it('2026-07-28 tasks: a task handle from n2, completed on n3, cancelled through n1', async () => {
    const { json } = await modernPost(c.node('n2').url, 'tools/call', { name: 'run_js', arguments: { code: '6 * 7', async: true }, ...withTasks });
    expect(json.result.resultType).toBe('task');
    const done = await waitFor('the task to complete', async () => {
      const got = (await modernTask('n3', 'tasks/get', json.result.taskId)).json.result;
      return got.status === 'completed' && got;
    });
    expect(done.result.structuredContent).toMatchObject({ result: 42, node: 'n2' });

    const spin = (await modernPost(c.node('n2').url, 'tools/call', { name: 'run_js', arguments: { code: SPIN, execution_timeout_secs: 60, async: true }, ...withTasks })).json.result.taskId as string;
    await modernTask('n1', 'tasks/cancel', spin);
    await waitFor('the task to be cancelled', async () => (await modernTask('n3', 'tasks/get', spin)).json.result.status === 'cancelled');
  });

  it('a task whose node dies ends failed ("node lost") in both revisions', async () => {
    const legacyTask = (await legacy('n3', 'tools/call', { name: 'run_js', arguments: { code: SPIN, execution_timeout_secs: 120 }, task: {} })).result.task.taskId as string;
    const modernTaskId = (await modernPost(c.node('n3').url, 'tools/call', { name: 'run_js', arguments: { code: SPIN, execution_timeout_secs: 120, async: true }, ...withTasks })).json.result.taskId as string;
    await waitFor('both runs to start', async () => {
      const states = await Promise.all([legacyTask, modernTaskId].map(async (taskId) => (await legacy('n3', 'tasks/get', { taskId })).result.statusMessage as string));
      return states.every((s) => s.startsWith('running'));
    });
    await c.kill('n3');
    try {
      const ended = await waitFor('node lost', async () => {
        const got = (await legacy('n1', 'tasks/get', { taskId: legacyTask })).result;
        return got?.status !== 'working' && got;
      }, 30_000);
      expect(ended).toMatchObject({ status: 'failed', statusMessage: 'failed: NodeError: node lost' });
      const modern = await waitFor('node lost (2026-07-28)', async () => {
        const got = (await modernTask('n2', 'tasks/get', modernTaskId)).json.result;
        return got?.status !== 'working' && got;
      }, 30_000);
      expect(modern).toMatchObject({ status: 'failed', error: { message: 'node lost' } });
    } finally {
      await c.restart('n3');
      await c.waitReady();
    }
  });

  it('console output of a running execution is readable from another node, and kept when it is cancelled', async () => {
    // The yield sends the lines printed before the loop (console.js batches: a synchronous hang would
    // keep only the first 3 of 5, see test/sandbox/run-output.test.ts).
    const code = 'for (let i = 0; i < 5; i++) console.log("line", i); await new Promise((r) => setTimeout(r, 0)); while (true) {}';
    const submitted = await c.post('n1', '/api/exec', { code, language: 'js', execution_timeout_secs: 60 });
    const id = submitted.json.execution_id as string;
    const page = await waitFor('the output to reach n2', async () => {
      const r = await c.get('n2', `/api/executions/${id}/output?wait=5000`);
      return r.json.total_lines >= 5 && r.json;
    });
    expect(page).toMatchObject({ status: 'running', data: Array.from({ length: 5 }, (_, i) => `line ${i}\n`).join('') });
    await c.post('n3', `/api/executions/${id}/cancel`);
    const ended = await c.get('n2', `/api/executions/${id}?wait=10000`);
    expect(ended.json).toMatchObject({ status: 'cancelled', output: Array.from({ length: 5 }, (_, i) => `line ${i}`).join('\n') });
  });

  it('an image artifact comes back over MCP as an image block and from REST on another node, the same bytes', async () => {
    const code = readFileSync(`${repo}/examples/sandbox/bar-chart.js`, 'utf8');
    const { json } = await modernPost(c.node('n1').url, 'tools/call', { name: 'run_js', arguments: { code, language: 'js', inputs: { values: [1, 2, 3] } } });
    const content = json.result.content as Array<{ type: string; data?: string; mimeType?: string }>;
    const image = content.find((b) => b.type === 'image')!;
    expect(image.mimeType).toBe('image/png');
    const png = Buffer.from(image.data!, 'base64');
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(320); // IHDR width
    inflateSync(png.subarray(41, 41 + png.readUInt32BE(33))); // IDAT decompresses
    const id = json.result.structuredContent.execution_id as string;
    // A stateless run's record is replicated after its answer (docs/architecture.md): n3 may not have it yet.
    const res = await waitFor('the record to reach n3', async () => {
      const r = await fetch(`${c.node('n3').url}/api/executions/${id}/artifacts/result.png`);
      if (r.status !== 404) return r;
      await r.body?.cancel();
      return false;
    });
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await res.arrayBuffer()).equals(png)).toBe(true);
  });

  it('a CSV handed in as a file is parsed in one step and its rows used in the next, on another node', async () => {
    const csv = Buffer.from('name,qty\napples,3\npears,4\n').toString('base64');
    const first = await c.step('n1', 'csv', 'globalThis.rows = (await inputs.table.text()).trim().split("\\n").slice(1).map((l) => l.split(",")); rows.length', {
      language: 'js',
      files: { table: { mime_type: 'text/csv', data: csv } },
    });
    expect(first.json).toMatchObject({ status: 'completed', result: 2 });
    const second = await c.step('n2', 'csv', 'rows.reduce((n, r) => n + Number(r[1]), 0)', { language: 'js' });
    expect(second.json).toMatchObject({ status: 'completed', result: 7, node: 'n2' });
    // n3 rebuilds the session from the journal, inputs included.
    const third = await c.step('n3', 'csv', 'rows.map((r) => r[0]).join()', { language: 'js' });
    expect(third.json).toMatchObject({ status: 'completed', result: 'apples,pears' });
  });
});
