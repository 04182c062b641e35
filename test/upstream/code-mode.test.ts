import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IsolatePool, LiveSession, type RunOutcome } from '../../src/sandbox/index.ts';
import { UpstreamServers, type UpstreamCaller, type UpstreamServersOptions } from '../../src/upstream/index.ts';
import { limits, step } from '../sandbox/helpers.ts';
import { waitFor } from '../support/index.ts';
import { startHttpUpstream, type HttpUpstream } from './http-upstream.ts';
import { PIXEL_PNG } from './upstream-tools.ts';

const STDIO_SCRIPT = fileURLToPath(new URL('./stdio-upstream.ts', import.meta.url));
const quiet = { info: () => undefined, warn: () => undefined };
const ANYONE: UpstreamCaller = { subject: null, scopes: [] };

function servers(overrides: Partial<UpstreamServersOptions> & Pick<UpstreamServersOptions, 'servers'>): UpstreamServers {
  return new UpstreamServers({
    oauth: false,
    callTimeoutMs: 10_000,
    maxCallsPerStep: 100,
    limits: { maxRecordedBytes: 1 << 20, maxAnswerBytes: 1 << 20, maxConcurrent: 16 },
    log: quiet,
    ...overrides,
  });
}

const upstreamConfig = (name: string, url: string) => ({ name, url, args: [], env: {}, headers: {} });

let http: HttpUpstream;
let up: UpstreamServers;
let pool: IsolatePool;

beforeAll(async () => {
  http = await startHttpUpstream();
  up = servers({
    servers: [upstreamConfig('web', http.url), { name: 'local', command: process.execPath, args: [STDIO_SCRIPT], env: {}, headers: {} }],
  });
  await up.start();
  pool = new IsolatePool({ maxIsolates: 1 });
});

afterAll(async () => {
  pool.close();
  await up.close();
  await http.close();
});

const run = (code: string, caller: UpstreamCaller = ANYONE, on: UpstreamServers = up): Promise<RunOutcome> =>
  pool.run(step(code), { ...limits, wallTimeoutMs: 20_000 }, undefined, on.performer(caller));

describe.each(['web', 'local'])('the sandbox calls tools of upstream server %s (Streamable HTTP and stdio)', (server) => {
  it('answers structured content by both call forms', async () => {
    const out = await run(`[await mcp.callTool('${server}', 'add', { a: 2, b: 3 }), await tools.${server}.add({ a: 40, b: 2 })]`);
    expect(out.status).toBe('completed');
    expect(out.result).toEqual([{ sum: 5 }, { sum: 42 }]);
  });

  it('answers text blocks joined, and an image as its bytes with its mime type', async () => {
    const out = await run(`
      const text = await tools.${server}.echo({ text: 'hello' });
      const [caption, image] = await tools.${server}.pixel({});
      ({ text, caption, mimeType: image.mimeType, type: image.type, isBytes: image.data instanceof Uint8Array, bytes: Array.from(image.data) })`);
    expect(out.status).toBe('completed');
    expect(out.result).toEqual({ text: 'hello\n(5 characters)', caption: 'a pixel', mimeType: 'image/png', type: 'image', isBytes: true, bytes: [...PIXEL_PNG] });
  });

  it('throws McpToolError with the content for an isError answer', async () => {
    const out = await run(`
      try { await tools.${server}.fail({ why: 'testing' }); 'no throw' }
      catch (e) { ({ isMcp: e instanceof McpToolError, name: e.name, message: e.message, content: e.content, server: e.server, tool: e.tool }) }`);
    expect(out.result).toEqual({ isMcp: true, name: 'McpToolError', message: `${server}.fail failed: failed on purpose: testing`, content: 'failed on purpose: testing', server, tool: 'fail' });
  });

  it('lists servers and tools from code', async () => {
    const out = await run(`
      const list = await mcp.servers();
      const names = (await mcp.listTools('${server}')).map((t) => t.name).sort();
      ({ list: list.map((s) => s.name + ':' + s.state), names })`);
    expect(out.result).toEqual({ list: ['web:ready', 'local:ready'], names: ['add', 'echo', 'fail', 'pixel', 'slow'] });
  });

  it('refuses schema-invalid arguments before the call leaves the host', async () => {
    const out = await run(`try { await tools.${server}.add({ a: 'two', b: 3 }) } catch (e) { e.name + ': ' + e.message }`);
    expect(out.result).toBe(`TypeError: ${server}.add: argument a must be number; nothing was sent to the upstream server`);
  });

  it('runs slow calls concurrently, and an unknown tool is a clear TypeError', async () => {
    const out = await run(`
      const answers = await Promise.all([tools.${server}.slow({ ms: 200 }), tools.${server}.slow({ ms: 50 })]);
      let unknown; try { await tools.${server}.nope({}) } catch (e) { unknown = e.message }
      ({ answers, unknown })`);
    expect(out.result).toEqual({ answers: ['slept 200', 'slept 50'], unknown: `${server}.nope: upstream server ${server} has no tool "nope" (see mcp.listTools('${server}'))` });
  });
});

describe('calls counted at the upstream', () => {
  it('a refused argument never reaches it; a good one reaches it once', async () => {
    const before = http.calls.get('add') ?? 0;
    await run(`try { await tools.web.add({ a: 1 }) } catch {}`);
    expect(http.calls.get('add') ?? 0).toBe(before);
    await run(`await tools.web.add({ a: 1, b: 1 })`);
    expect(http.calls.get('add')).toBe(before + 1);
  });

  it('a replayed session step answers from its record and calls nothing', async () => {
    const live = await LiveSession.create(64);
    const first = step(`globalThis.sum = (await tools.web.add({ a: 20, b: 1 })).sum; sum`);
    const outcome = await live.run(first, limits, undefined, up.performer(ANYONE));
    live.dispose();
    expect(outcome.result).toBe(21);
    expect(outcome.hostCalls!.map((r) => r.label)).toEqual(['mcp web.add']);
    const calls = http.calls.get('add');
    const rebuilt = await LiveSession.create(64);
    await rebuilt.replay([{ ...first, hostCalls: outcome.hostCalls! }]);
    expect((await rebuilt.run(step('sum'), limits)).result).toBe(21);
    rebuilt.dispose();
    expect(http.calls.get('add')).toBe(calls);
    const diverging = await LiveSession.create(64);
    await expect(diverging.replay([{ ...first, code: first.code.replace('a: 20', 'a: 2'), hostCalls: outcome.hostCalls! }])).rejects.toThrow(
      'session diverged from its journal at step 1: call 1 asks for mcp web.add (with other headers or body), the journal answered mcp web.add',
    );
  });
});

describe('access per caller (OAuth on)', () => {
  it('a subject outside the allow rule is refused with a clear error; one inside is served', async () => {
    const guarded = servers({ oauth: true, servers: [{ ...upstreamConfig('web', http.url), allow: { subjects: ['alice'], scopes: ['tools:web'] } }] });
    try {
      const refused = await run(`try { await tools.web.add({ a: 1, b: 2 }) } catch (e) { e.message }`, { subject: 'mallory', scopes: ['raftbox:run'] }, guarded);
      expect(refused.result).toBe('web.add: subject "mallory" may not use upstream server web (its allow rule names other subjects and scopes)');
      const listed = await run(`(await mcp.servers()).length`, { subject: 'mallory', scopes: [] }, guarded);
      expect(listed.result).toBe(0);
      expect((await run(`(await tools.web.add({ a: 1, b: 2 })).sum`, { subject: 'alice', scopes: [] }, guarded)).result).toBe(3);
      expect((await run(`(await tools.web.add({ a: 1, b: 2 })).sum`, { subject: 'bob', scopes: ['tools:web'] }, guarded)).result).toBe(3);
    } finally {
      await guarded.close();
    }
  });
});

describe('a tool list that changes', () => {
  it('is read again on notifications/tools/list_changed: the new tool is callable and declared', async () => {
    const changing = await startHttpUpstream();
    const on = servers({ servers: [upstreamConfig('changing', changing.url)] });
    await on.start();
    try {
      changing.addTool('later');
      await waitFor('the new tool list', () => on.status()[0]!.tools === 6);
      expect((await run(`await tools.changing.later({ n: 7 })`, ANYONE, on)).result).toBe('later 7');
      expect(await on.declarations(ANYONE, 'changing')).toContain('later(args: Tools.changing.Later.Input): Promise<Tools.changing.Later.Output>;');
    } finally {
      await on.close();
      await changing.close();
    }
  });
});

describe('an upstream that goes away and comes back', () => {
  it('fails calls with a clear error while it is gone, and serves them again once it is back', async () => {
    const flaky = await startHttpUpstream();
    const port = flaky.port;
    const on = servers({ servers: [upstreamConfig('flaky', flaky.url)] });
    await on.start();
    try {
      expect((await run(`(await tools.flaky.add({ a: 1, b: 1 })).sum`, ANYONE, on)).result).toBe(2);
      await flaky.close();
      const gone = await run(`try { await tools.flaky.add({ a: 1, b: 1 }) } catch (e) { e.name + ': ' + e.message }`, ANYONE, on);
      expect(gone.result).toMatch(/^Error: flaky\.add: upstream server flaky/);
      expect(on.status()[0]!.state).toBe('down');
      const back = await startHttpUpstream({ port });
      try {
        expect((await run(`(await tools.flaky.add({ a: 2, b: 2 })).sum`, ANYONE, on)).result).toBe(4);
        expect(on.status()[0]).toMatchObject({ state: 'ready', failedAttempts: 0, lastError: null });
      } finally {
        await back.close();
      }
    } finally {
      await on.close();
    }
  });
});

describe('credentials stay on the host', () => {
  const TOKEN = 'upstream-secret-token-7f3a9c';
  const everything = "JSON.stringify([Object.getOwnPropertyNames(globalThis), await mcp.servers(), await mcp.listTools('locked'), await tools.locked.echo({ text: 'hi' })])";

  it('a bearer token from an environment variable reaches the upstream, and nothing the code sees, records or logs holds it', async () => {
    const locked = await startHttpUpstream({ requireToken: TOKEN });
    const lines: string[] = [];
    const log = { info: (o: object, m: string) => void lines.push(JSON.stringify(o) + m), warn: (o: object, m: string) => void lines.push(JSON.stringify(o) + m) };
    const on = servers({ servers: [{ ...upstreamConfig('locked', locked.url), auth: { bearerEnv: 'LOCKED_TOKEN' } }], env: { LOCKED_TOKEN: TOKEN }, log });
    try {
      const out = await run(everything, ANYONE, on);
      expect(out.status).toBe('completed');
      expect(out.result).toContain('hi');
      expect(JSON.stringify(out)).not.toContain(TOKEN);
      expect(lines.join('\n')).not.toContain(TOKEN);
      expect(locked.authorizations.filter((a) => a !== undefined)).toContain(`Bearer ${TOKEN}`);
    } finally {
      await on.close();
      await locked.close();
    }
  });

  it('OAuth client credentials: the host obtains the token and sends it; a missing secret is a clear error', async () => {
    const locked = await startHttpUpstream({ requireToken: TOKEN });
    const grants: string[] = [];
    const as = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        grants.push(`${req.headers.authorization} ${body}`);
        // RFC 6749 §2.3.1: id and secret are form-encoded before the Basic encoding.
        const basic = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':').map(decodeURIComponent);
        const ok = basic[0] === 'raftbox' && basic[1] === 'cc-secret';
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
        res.end(JSON.stringify(ok ? { access_token: TOKEN, token_type: 'bearer', expires_in: 600 } : { error: 'invalid_client' }));
      });
    });
    await new Promise<void>((resolve) => as.listen(0, '127.0.0.1', resolve));
    const tokenUrl = `http://127.0.0.1:${(as.address() as AddressInfo).port}/token`;
    const auth = { tokenUrl, clientId: 'raftbox', clientSecretEnv: 'CC_SECRET', scope: 'tools' };
    const on = servers({ servers: [{ ...upstreamConfig('locked', locked.url), auth }], env: { CC_SECRET: 'cc-secret' } });
    const broken = servers({ servers: [{ ...upstreamConfig('locked', locked.url), auth: { ...auth, clientSecretEnv: 'UNSET' } }], env: {} });
    try {
      const out = await run(everything, ANYONE, on);
      expect(out.status, JSON.stringify(out.error)).toBe('completed');
      expect(JSON.stringify(out)).not.toContain(TOKEN);
      expect(grants[0]).toContain('grant_type=client_credentials');
      expect(grants[0]).toContain('scope=tools');
      await broken.start();
      expect(broken.status()[0]).toMatchObject({ state: 'down', lastError: 'upstream locked: environment variable UNSET (its credential) is not set' });
      const refused = await run(`try { await tools.locked.echo({ text: 'x' }) } catch (e) { e.message }`, ANYONE, broken);
      expect(refused.result).toBe('locked.echo: upstream server locked is unavailable: upstream locked: environment variable UNSET (its credential) is not set');
    } finally {
      await Promise.all([on.close(), broken.close()]);
      await locked.close();
      await new Promise<void>((resolve) => as.close(() => resolve()));
    }
  });
});
