// MCP requests that reach a node other than the one doing the work, as a round-robin balancer sends
// them, on a three-node cluster of real processes with OAuth on (two machine clients, two subjects):
// `notifications/cancelled` for a synchronous run_js held by another node (both lanes), task status
// pushes on a listen stream of another node, and progress that says a session is being rebuilt.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/index.ts';
import { waitFor } from '../support/index.ts';
import { lanePost, sseMessages, type Lane } from '../mcp/modern-wire.ts';
import { TestCluster } from './harness.ts';

const SECRET = { alice: 'alice-secret-5Jq2', bob: 'bob-secret-8Wn4' };
type Who = keyof typeof SECRET;
const WITH_TASKS = { 'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } } };

let c: TestCluster;
const tokens = {} as Record<Who, string>;
beforeAll(async () => {
  const clients = await Promise.all(Object.entries(SECRET).map(async ([id, secret]) => `${id}=${await hashPassword(secret)}`));
  c = await TestCluster.start({ args: ['--oauth', '--oauth-issuer', 'http://raftbox.test', '--oauth-clients', clients.join(',')] });
  await c.leader();
  for (const who of Object.keys(SECRET) as Who[]) tokens[who] = await token(who);
}, 90_000);
afterAll(() => c?.close());

async function token(who: Who): Promise<string> {
  const res = await fetch(`${c.node('n1').url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`${who}:${SECRET[who]}`)}` },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  if (!res.ok) throw new Error(`token for ${who}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

const bearer = (who: Who) => ({ authorization: `Bearer ${tokens[who]}` });
const mcp = (node: string, who: Who, lane: Lane, message: Record<string, unknown>, signal?: AbortSignal) =>
  lanePost(c.node(node).url, lane, message, { headers: bearer(who), ...(signal ? { signal } : {}) });
const rest = async (node: string, who: Who, path: string, body?: unknown) => {
  const res = await fetch(c.node(node).url + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...bearer(who), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, json: (await res.json()) as any };
};
/** Alice's execution tagged `t=<tag>` as `node` lists it (a list is a linearizable read there). */
const tagged = async (node: string, tag: string) => (await rest(node, 'alice', `/api/executions?tag=t=${tag}`)).json.executions[0];
const cancelNotification = (requestId: string) => ({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason: 'stop' } });

describe('requests that reach another node', { timeout: 90_000 }, () => {
  it.each<Lane>(['legacy', 'modern'])('notifications/cancelled on another node stops a synchronous run_js, and only its own subject\'s (%s lane)', async (lane) => {
    const tag = `spin-${lane}`;
    const requestId = `req-${lane}`;
    const call = mcp('n1', 'alice', lane, {
      jsonrpc: '2.0',
      id: requestId,
      method: 'tools/call',
      params: { name: 'run_js', arguments: { code: 'console.log("started"); while (true) {}', execution_timeout_secs: 60, tags: { t: tag } } },
    });
    await waitFor('the run to start on n1', async () => (await tagged('n1', tag))?.status === 'running');

    // Bob names Alice's request id on n2: replicated like any cancel, but his, so nothing stops.
    expect((await mcp('n2', 'bob', lane, cancelNotification(requestId))).status).toBe(202);
    expect((await tagged('n1', tag)).status).toBe('running'); // n1 has applied Bob's cancel by now (the list is a linearizable read)

    expect((await mcp('n3', 'alice', lane, cancelNotification(requestId))).status).toBe(202);
    const answer = await call;
    expect(answer.status).toBe(lane === 'legacy' ? 200 : 499);
    const ended = await waitFor('the cancelled record on n2', async () => {
      const e = await tagged('n2', tag);
      return e?.status === 'cancelled' && e;
    });
    expect(ended).toMatchObject({ node: 'n1', output: 'started' });
  });

  it('a listen stream on n2 is pushed the end of a task created on n1; another subject\'s task is not acknowledged', async () => {
    const created = await mcp('n1', 'alice', 'modern', {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'run_js', arguments: { code: 'let s = 0; for (let i = 0; i < 2e8; i++) s += i % 3; s', async: true }, _meta: WITH_TASKS },
    });
    const task = ((await created.json()) as any).result;
    expect(task).toMatchObject({ resultType: 'task', status: 'working' });

    const listen = (who: Who, taskIds: string[], signal: AbortSignal) =>
      mcp('n2', who, 'modern', { jsonrpc: '2.0', id: `listen-${who}`, method: 'subscriptions/listen', params: { notifications: { taskIds }, _meta: WITH_TASKS } }, signal);
    const closeBob = new AbortController();
    const bobs = sseMessages(await listen('bob', [task.taskId], closeBob.signal));
    expect((await bobs.next()).value.params.notifications).toEqual({ taskIds: [] });
    closeBob.abort();

    const closeAlice = new AbortController();
    const res = await listen('alice', [task.taskId, 'no-such-task'], closeAlice.signal);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const messages = sseMessages(res);
    expect((await messages.next()).value).toEqual({
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { _meta: { 'io.modelcontextprotocol/subscriptionId': 'listen-alice' }, notifications: { taskIds: [task.taskId] } },
    });
    const pushed = (await messages.next()).value;
    closeAlice.abort();
    expect(pushed).toMatchObject({
      method: 'notifications/tasks',
      params: { taskId: task.taskId, status: 'completed', result: { structuredContent: { status: 'completed', node: 'n1' } }, _meta: { 'io.modelcontextprotocol/subscriptionId': 'listen-alice' } },
    });
  });

  it('a listen for task ids without the tasks extension is refused (-32021)', async () => {
    const res = await mcp('n3', 'alice', 'modern', { jsonrpc: '2.0', id: 'plain', method: 'subscriptions/listen', params: { notifications: { taskIds: ['x'] } } });
    expect(((await res.json()) as any).error).toMatchObject({ code: -32021 });
  });

  it('progress of a session step on a node that rebuilds the session says it replays the steps', async () => {
    // Steps that take a while to replay: more than the second between two progress notifications.
    const busy = 'let s = 0; for (let i = 0; i < 6e8; i++) s += i % 7; globalThis.total = (globalThis.total ?? 0) + s; total > 0';
    for (let i = 0; i < 3; i++) {
      expect((await rest('n1', 'alice', '/api/exec?wait=60000', { code: busy, session: 'rebuilt', language: 'js' })).json).toMatchObject({ status: 'completed', node: 'n1' });
    }
    const res = await fetch(`${c.node('n2').url}/mcp`, {
      method: 'POST',
      headers: { ...bearer('alice'), 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'run_js', arguments: { code: 'total > 0', session: 'rebuilt', language: 'js' }, _meta: { progressToken: 'p' } } }),
      signal: AbortSignal.timeout(60_000),
    });
    const messages: any[] = [];
    for await (const m of sseMessages(res)) messages.push(m);
    const progress = messages.filter((m) => m.method === 'notifications/progress').map((m) => m.params.message as string);
    expect(progress.some((m) => /^running .*on node n2: replaying 3 steps to rebuild the session's state/.test(m))).toBe(true);
    expect(messages.at(-1).result.structuredContent).toMatchObject({ status: 'completed', result: true, node: 'n2', step: 4 });
  });
});
