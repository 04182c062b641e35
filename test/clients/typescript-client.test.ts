// The typed client (clients/typescript) against a real node: generated types, openapi-fetch requests.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRaftboxClient, ok, RaftboxError, run, type Execution, type RaftboxApi } from '../../clients/typescript/src/index.ts';
import { startTestNode } from '../e2e/node.ts';

let node: Awaited<ReturnType<typeof startTestNode>>;
let api: RaftboxApi;
beforeAll(async () => {
  node = await startTestNode();
  api = createRaftboxClient({ baseUrl: node.url });
});
afterAll(() => node.stop());

describe('the typed TypeScript client', () => {
  it('runs code and follows a long run to its end', async () => {
    const seen: Execution[] = [];
    const e = await run(api, { code: 'await new Promise((r) => setTimeout(r, 10)); console.log("hi"); 6 * 7', language: 'js' }, { pollMs: 0, onProgress: (x) => seen.push(x) });
    expect(e).toMatchObject({ status: 'completed', result: 42, output: 'hi' });
    expect(seen.every((x) => x.execution_id === e.execution_id)).toBe(true);
  });

  it('continues a session, lists, reads and deletes it', async () => {
    await run(api, { code: 'let n = 1', session: 'typed' });
    expect((await run(api, { code: 'n + 1', session: 'typed' })).result).toBe(2);
    const list = await ok(api.GET('/api/sessions', { params: { query: { limit: 10 } } }));
    expect(list.sessions.map((s) => s.name)).toContain('typed');
    const detail = await ok(api.GET('/api/sessions/{session}', { params: { path: { session: 'typed' } } }));
    expect(detail.journal.map((j) => j.code)).toEqual(['let n = 1', 'n + 1']);
    const executions = await ok(api.GET('/api/executions', { params: { query: { session: 'typed' } } }));
    expect(executions.executions).toHaveLength(2);
    expect(await ok(api.DELETE('/api/sessions/{session}', { params: { path: { session: 'typed' } } }))).toEqual({ session: 'typed', deleted: true });
  });

  it('names a session step\'s session for the load balancer in the submit and every poll, and no other run\'s', async () => {
    const hints: Array<string | null> = [];
    const watched = createRaftboxClient({
      baseUrl: node.url,
      fetch: (input, init) => {
        const request = new Request(input, init);
        hints.push(request.headers.get('raftbox-session'));
        return fetch(request);
      },
    });
    await run(watched, { code: 'await new Promise((r) => setTimeout(r, 20)); 1', session: 'hinted' }, { pollMs: 0 });
    expect(hints.length).toBeGreaterThan(1);
    expect(new Set(hints)).toEqual(new Set(['hinted']));
    hints.length = 0;
    await run(watched, { code: '2' });
    expect(hints).toEqual([null]);
  });

  it('throws the API\'s {error, message} as a RaftboxError with its status', async () => {
    const err = await ok(api.GET('/api/executions/{execution_id}', { params: { path: { execution_id: 'nope' } } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RaftboxError);
    expect(err).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('has types generated from the committed OpenAPI document (regenerate with `npm run client`)', () => {
    // openapi-typescript needs TypeScript 5's compiler API, so it runs in clients/typescript's own install;
    // here: every path and named schema of openapi.json is in schema.ts.
    const doc = JSON.parse(readFileSync(new URL('../../clients/typescript/openapi.json', import.meta.url), 'utf8')) as { paths: object; components: { schemas: object } };
    const types = readFileSync(new URL('../../clients/typescript/src/schema.ts', import.meta.url), 'utf8');
    for (const path of Object.keys(doc.paths)) expect(types).toContain(`"${path}": {`);
    for (const name of Object.keys(doc.components.schemas)) expect(types).toMatch(new RegExp(`^        ${name}: \\{`, 'm'));
  });
});
