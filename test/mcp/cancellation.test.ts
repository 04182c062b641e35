import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { startTestNode } from '../e2e/node.ts';
import { lanePost, type Lane } from './modern-wire.ts';

// A synchronous run_js over stateless Streamable HTTP, cancelled the two ways MCP has: a
// `notifications/cancelled` naming it (a POST of its own), and the client closing the connection.
// Both lanes: 2025-11-25 (v1 SDK) and 2026-07-28 (v2 SDK).

describe.each<Lane>(['legacy', 'modern'])('cancelling a synchronous run_js (%s lane)', (lane) => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  beforeAll(async () => {
    node = await startTestNode();
  });
  afterAll(async () => {
    await node.stop();
  });

  const execution = async (tag: string) => {
    const res = await fetch(new URL(`/api/executions?tag=t=${tag}`, node.url));
    return ((await res.json()) as { executions: Array<{ execution_id: string; status: string; console: Array<{ text: string }> }> }).executions[0];
  };
  /** Its output so far shows the first line: the run is past console.log, inside the loop. */
  const started = async (tag: string) => {
    const e = await waitFor('the run to start', async () => (await execution(tag))?.status === 'running' && (await execution(tag)));
    const page = await fetch(new URL(`/api/executions/${e.execution_id}/output?wait=10000`, node.url));
    expect(((await page.json()) as { data: string }).data).toBe('started\n');
  };
  const endsCancelledWithOutput = async (tag: string) => {
    const ended = await waitFor('the run to end', async () => {
      const e = await execution(tag);
      return e?.status === 'cancelled' && e;
    });
    expect(ended.console.map((l) => l.text)).toEqual(['started']);
  };
  const longRun = (id: number | string, tag: string) => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: 'run_js', arguments: { code: 'console.log("started"); while (true) {}', execution_timeout_secs: 60, tags: { t: tag } } },
  });

  it('notifications/cancelled stops the run; it ends cancelled with its output', async () => {
    const tag = `${lane}-notified`;
    const call = lanePost(node.url, lane, longRun(`req-${lane}`, tag));
    await started(tag);
    const notified = await lanePost(node.url, lane, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: `req-${lane}`, reason: 'user stop' } });
    expect(notified.status).toBe(202);
    const answer = await call;
    // The v1 lane ends the cancelled request's POST with an error its client ignores; the v2 SDK with a 499.
    expect(answer.status).toBe(lane === 'legacy' ? 200 : 499);
    await endsCancelledWithOutput(tag);
  });

  it('a notification for another request id leaves the run alone', async () => {
    const tag = `${lane}-other`;
    const controller = new AbortController();
    const call = lanePost(node.url, lane, longRun(41, tag), { signal: controller.signal }).catch(() => null);
    await waitFor('the run to start', async () => (await execution(tag))?.status === 'running');
    await lanePost(node.url, lane, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: '41' } });
    await lanePost(node.url, lane, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 42 } });
    expect((await execution(tag))?.status).toBe('running');
    controller.abort();
    await call;
    await waitFor('the run to end', async () => (await execution(tag))?.status === 'cancelled');
  });

  it('closing the connection stops the run', async () => {
    const tag = `${lane}-closed`;
    const controller = new AbortController();
    const call = lanePost(node.url, lane, longRun(7, tag), { signal: controller.signal }).catch((err: unknown) => err);
    await started(tag);
    controller.abort();
    expect(await call).toBeInstanceOf(Error);
    await endsCancelledWithOutput(tag);
  });
});
