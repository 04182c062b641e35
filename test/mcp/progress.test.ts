import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { waitFor } from '../support/index.ts';
import { startTestNode } from '../e2e/node.ts';
import { ConfigSchema } from '../../src/config/index.ts';
import { startUpstream, type Upstream } from '../egress/upstream.ts';
import { MODERN, envelope, sseMessages } from './modern-wire.ts';

// A run_js call with a progress token is answered as an event stream: progress while the run is
// alive, its console lines as log messages, then the result (nothing after it).

describe('progress and console lines on a stream', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  let client: Client;
  const events: string[] = [];
  beforeAll(async () => {
    node = await startTestNode();
    client = new Client({ name: 'progress-test', version: '1' });
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      events.push(`log ${n.params.level} ${String(n.params.data)}`);
    });
    await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', node.url)));
  });
  afterAll(async () => {
    await client.close();
    await node.stop();
  });

  it('2025-11-25: console lines as log messages at the level set, before the result', async () => {
    events.length = 0;
    await client.setLoggingLevel('debug');
    const result = (await client.callTool({ name: 'run_js', arguments: { code: 'console.log("a"); console.debug("d"); console.warn("b"); 1 + 1' } }, undefined, {
      onprogress: (p) => events.push(`progress ${p.progress}`),
    })) as CallToolResult;
    events.push('result');
    expect(result.structuredContent).toMatchObject({ status: 'completed', result: 2 });
    expect(events.filter((e) => e.startsWith('log') || e === 'result')).toEqual(['log info a', 'log debug d', 'log warning b', 'result']);
    await client.setLoggingLevel('warning');
    events.length = 0;
    await client.callTool({ name: 'run_js', arguments: { code: 'console.log("quiet"); console.error("loud")' } }, undefined, { onprogress: () => undefined });
    expect(events).toEqual(['log error loud']);
  });

  it('2025-11-25: progress while the run is alive; going away cancels it', async () => {
    const aborted = new AbortController();
    const progress: Array<{ progress: number; message?: string }> = [];
    const call = client
      .callTool({ name: 'run_js', arguments: { code: 'while (true) {}', execution_timeout_secs: 60, tags: { t: 'progress' } } }, undefined, {
        signal: aborted.signal,
        onprogress: (p) => {
          progress.push(p);
          aborted.abort();
        },
      })
      .catch((err: unknown) => err);
    expect(await call).toBeInstanceOf(Error);
    expect(progress[0]).toMatchObject({ progress: 1, message: expect.stringMatching(/^(running|queued)/) });
    await waitFor('the run to be cancelled', async () => {
      const res = await fetch(new URL('/api/executions?tag=t=progress', node.url));
      return ((await res.json()) as { executions: Array<{ status: string }> }).executions[0]?.status === 'cancelled';
    });
  });

  it('2026-07-28: progress and the result on one event stream', async () => {
    const res = await fetch(new URL('/mcp', node.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'run_js' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'run_js', arguments: { code: 'console.warn("w"); 6 * 7' }, _meta: { ...envelope({ 'io.modelcontextprotocol/logLevel': 'debug' }), progressToken: 'p1' } },
      }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const messages = (await res.text())
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)) as { method?: string; params?: { data?: unknown }; result?: { structuredContent?: unknown } });
    expect(messages.map((m) => m.method ?? 'result')).toEqual(['notifications/message', 'result']);
    expect(messages[0]!.params?.data).toBe('w');
    expect(messages[1]!.result?.structuredContent).toMatchObject({ result: 42 });
  });
});

describe('progress while a host call is out', () => {
  let up: Upstream;
  let node: Awaited<ReturnType<typeof startTestNode>>;
  const held: ServerResponse[] = [];
  beforeAll(async () => {
    // Answers only when the test lets it: the run waits on its fetch until then.
    up = await startUpstream((_req, res) => void held.push(res));
    node = await startTestNode({ egress: ConfigSchema.shape.egress.parse({ allow: [up.origin] }) });
  });
  afterAll(async () => {
    await node.stop();
    await up.close();
  });

  it('says the run is waiting on its host call, then answers', async () => {
    const res = await fetch(new URL('/mcp', node.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'run_js', arguments: { code: `await (await fetch(${JSON.stringify(up.origin)})).text()`, language: 'js' }, _meta: { progressToken: 'h' } },
      }),
      signal: AbortSignal.timeout(30_000),
    });
    const seen: string[] = [];
    let result: { structuredContent?: unknown } | undefined;
    for await (const m of sseMessages(res)) {
      if (m.method === 'notifications/progress') {
        seen.push(m.params.message);
        if (/waiting on 1 host call: fetch/.test(m.params.message)) for (const r of held.splice(0)) r.end('answered');
      } else result = m.result;
    }
    expect(seen.some((m) => /^running .*on node n1: waiting on 1 host call: fetch/.test(m))).toBe(true);
    expect(result?.structuredContent).toMatchObject({ status: 'completed', result: 'answered' });
  });
});
