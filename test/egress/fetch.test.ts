import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Egress, type EgressOptions } from '../../src/egress/index.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { IsolatePool, LiveSession, type HostCallRecord, type RunOutcome } from '../../src/sandbox/index.ts';
import { limits, step } from '../sandbox/helpers.ts';
import { echo, startUpstream, type Upstream } from './upstream.ts';

const SECRET = 'sk-live-9f8e7d6c5b4a-never-in-the-sandbox';

function egress(options: Partial<EgressOptions>): Egress {
  return new Egress({
    allow: [],
    inject: [],
    timeoutMs: 10_000,
    maxResponseBytes: 2 << 20,
    maxRecordedBytes: 8 << 20,
    maxConcurrent: 16,
    maxRequests: 64,
    peers: [],
    ...options,
  });
}

let up: Upstream;
let pool: IsolatePool;
const egresses: Egress[] = [];

beforeAll(async () => {
  up = await startUpstream((req, res) => {
    if (req.path === '/binary') {
      res.setHeader('content-type', 'application/octet-stream');
      res.end(Buffer.from([0, 1, 2, 250, 251, 255]));
    } else if (req.path === '/created') {
      res.statusCode = 201;
      res.statusMessage = 'Made';
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('x-custom', 'yes');
      res.end(JSON.stringify({ made: true }));
    } else if (req.path.startsWith('/big/')) {
      res.end(Buffer.alloc(Number(req.path.slice(5)), 120));
    } else if (req.path === '/never') {
      // answers nothing: a timeout case
    } else if (req.path.startsWith('/slow/')) {
      setTimeout(() => res.end('slow'), Number(req.path.slice(6)));
    } else {
      echo(req, res);
    }
  });
  pool = new IsolatePool({ maxIsolates: 1 });
});

afterAll(async () => {
  pool.close();
  await Promise.all(egresses.map((e) => e.close()));
  await up.close();
});

function run(code: string, options: Partial<EgressOptions> = { allow: [`${up.origin}`] }): Promise<RunOutcome> {
  const e = egress(options);
  egresses.push(e);
  return pool.run(step(code), { ...limits, wallTimeoutMs: 15_000 }, undefined, e.performer({ subject: null, scopes: [] }));
}

async function resultOf(code: string, options?: Partial<EgressOptions>): Promise<unknown> {
  const outcome = await run(code, options);
  expect(outcome.error).toBeNull();
  expect(outcome.status).toBe('completed');
  return outcome.result;
}

describe('fetch against a real server on loopback', () => {
  it('sends GET and POST with every body type, as Node would encode them', async () => {
    const result = (await resultOf(`
      const u = ${JSON.stringify(up.origin)} + '/echo';
      const send = async (body) => (await fetch(u, { method: 'POST', body })).json();
      const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('str')); c.enqueue(new Uint8Array([101, 97, 109])); c.close() } });
      const form = new FormData(); form.append('k', 'v');
      ({
        get: await (await fetch(u)).json(),
        string: await send('hi ✓'),
        arrayBuffer: await send(new Uint8Array([1, 2, 3]).buffer),
        uint8: await send(new Uint8Array([4, 5])),
        blob: await send(new Blob(['blob'], { type: 'text/x-blob' })),
        params: await send(new URLSearchParams({ a: '1', b: 'two' })),
        form: await send(form),
        stream: await send(stream),
      })`)) as Record<string, { method: string; contentType: string | null; body: string }>;
    const body = (k: string) => Buffer.from(result[k]!.body, 'base64');
    expect(result.get).toMatchObject({ method: 'GET', path: '/echo', body: '' });
    expect(body('string').toString()).toBe('hi ✓');
    expect(result.string!.contentType).toBe('text/plain;charset=UTF-8');
    expect([...body('arrayBuffer')]).toEqual([1, 2, 3]);
    expect([...body('uint8')]).toEqual([4, 5]);
    expect(body('blob').toString()).toBe('blob');
    expect(result.blob!.contentType).toBe('text/x-blob');
    expect(body('params').toString()).toBe('a=1&b=two');
    expect(result.params!.contentType).toBe('application/x-www-form-urlencoded;charset=UTF-8');
    expect(body('form').toString()).toMatch(/Content-Disposition: form-data; name="k"\r\n\r\nv\r\n/);
    expect(result.form!.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(body('stream').toString()).toBe('stream');
  });

  it('answers JSON and binary bodies, status and headers as sent', async () => {
    const result = await resultOf(`
      const created = await fetch(${JSON.stringify(up.origin)} + '/created', { method: 'PUT' });
      const bin = await fetch(${JSON.stringify(up.origin)} + '/binary');
      const reader = (await fetch(${JSON.stringify(up.origin)} + '/binary')).body.getReader();
      const first = await reader.read();
      ({
        status: created.status, statusText: created.statusText, ok: created.ok, type: created.type, url: created.url,
        custom: created.headers.get('x-custom'), cookies: created.headers.getSetCookie(), json: await created.json(),
        bytes: [...new Uint8Array(await bin.arrayBuffer())], streamed: [...first.value],
        blobType: (await (await fetch(${JSON.stringify(up.origin)} + '/binary')).blob()).type,
        immutable: (() => { try { created.headers.set('x', '1'); return false } catch (e) { return e instanceof TypeError } })(),
      })`);
    expect(result).toEqual({
      status: 201,
      statusText: 'Made',
      ok: true,
      type: 'basic',
      url: `${up.origin}/created`,
      custom: 'yes',
      cookies: ['a=1', 'b=2'],
      json: { made: true },
      bytes: [0, 1, 2, 250, 251, 255],
      streamed: [0, 1, 2, 250, 251, 255],
      blobType: 'application/octet-stream',
      immutable: true,
    });
  });
});

describe('egress rules', () => {
  it('rejects with a TypeError naming the setting when no rule is configured', async () => {
    const before = up.seen.length;
    const result = await resultOf(`await fetch(${JSON.stringify(up.origin)}).then(() => 'sent', (e) => [e.name, e.message])`, { allow: [] });
    expect(result).toEqual(['TypeError', expect.stringContaining('egress is not allowed')]);
    expect((result as string[])[1]).toContain('--egress-allow');
    expect(up.seen.length).toBe(before);
  });

  it('refuses a loopback address that only a hostname rule matches', async () => {
    const before = up.seen.length;
    const result = await resultOf(`await fetch(${JSON.stringify(up.origin)}).then(() => 'sent', (e) => [e.name, e.message])`, { allow: [`http://*:${up.port}`] });
    expect(result).toEqual(['TypeError', expect.stringMatching(/127\.0\.0\.1, a loopback address, which no egress rule names/)]);
    expect(up.seen.length).toBe(before);
  });

  it('refuses private, link-local (cloud metadata) and IPv4-in-IPv6 loopback addresses a wildcard rule matches', async () => {
    const result = await resultOf(
      `const r = (u) => fetch(u).then(() => 'sent', (e) => e.message);
      [await r('http://10.1.2.3/'), await r('http://169.254.169.254/latest/meta-data/'), await r('http://[::ffff:127.0.0.1]:${up.port}/'), await r('http://[fd00:ec2::254]/')]`,
      { allow: ['http://*:*'] },
    );
    expect(result).toEqual([
      expect.stringContaining('10.1.2.3, a private address'),
      expect.stringContaining('169.254.169.254, a link-local (cloud metadata) address'),
      expect.stringContaining('::ffff:7f00:1, a loopback address'),
      expect.stringContaining('fd00:ec2::254, a private (unique local, cloud metadata) address'),
    ]);
  });

  it('refuses a host name that resolves to loopback, checked on the address it would connect to', async () => {
    const before = up.seen.length;
    const result = await resultOf(`await fetch('http://localhost:${up.port}/x').then(() => 'sent', (e) => e.message)`, { allow: [`http://localhost:${up.port}`] });
    expect(result).toMatch(/localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
    expect(up.seen.length).toBe(before);
  });

  it('refuses what no rule matches: another path, method or port', async () => {
    const before = up.seen.length;
    const result = await resultOf(
      `const u = ${JSON.stringify(up.origin)};
      const r = async (p) => (await p.then(() => 'ok', (e) => e.message));
      [await r(fetch(u + '/v1/x')), await r(fetch(u + '/v2/x')), await r(fetch(u + '/v10')), await r(fetch(u + '/v1/x', { method: 'DELETE' }))]`,
      { allow: [`GET,POST ${up.origin}/v1`] },
    );
    expect(result).toEqual(['ok', expect.stringContaining('no egress rule allows GET'), expect.stringContaining('no egress rule allows GET'), expect.stringContaining('no egress rule allows DELETE')]);
    expect(up.seen.length).toBe(before + 1);
  });

  it('applies a rule with subjects only to those subjects', async () => {
    const e = egress({ allow: [`subject=alice ${up.origin}`] });
    egresses.push(e);
    const code = `await fetch(${JSON.stringify(up.origin)}).then((r) => r.status, (e) => 'refused')`;
    const as = async (subject: string) => (await pool.run(step(code), limits, undefined, e.performer({ subject, scopes: [] }))).result;
    expect(await as('alice')).toBe(200);
    expect(await as('bob')).toBe('refused');
  });

  it('checks every redirect hop: a redirect to a refused origin is refused, an allowed one followed', async () => {
    const target = await startUpstream(echo);
    const redirector = await startUpstream((req, res) => {
      res.statusCode = 302;
      res.setHeader('location', req.path === '/to-localhost' ? `http://localhost:${target.port}/` : `${target.origin}/landed`);
      res.end();
    });
    try {
      // A hostname rule matches the hop, but the address it resolves to is named by no rule.
      const refused = await resultOf(`await fetch(${JSON.stringify(redirector.origin)} + '/to-localhost').then(() => 'sent', (e) => e.message)`, {
        allow: [redirector.origin, `http://localhost:${target.port}`],
      });
      expect(refused).toMatch(/the redirect to http:\/\/localhost:\d+\/ is refused|localhost resolves to .*, a loopback address/);
      const result = await resultOf(
        `const u = ${JSON.stringify(redirector.origin)};
        const refused = await fetch(u + '/to-localhost').then(() => 'sent', (e) => e.message);
        const followed = await fetch(u + '/to-target', { method: 'POST', body: 'x' });
        const manual = await fetch(u + '/to-target', { redirect: 'manual' });
        const error = await fetch(u + '/to-target', { redirect: 'error' }).then(() => 'sent', (e) => e.name);
        ({ refused, status: followed.status, redirected: followed.redirected, url: followed.url, method: (await followed.json()).method,
           manual: [manual.status, manual.headers.get('location')], error })`,
        { allow: [redirector.origin, target.origin] },
      );
      expect(result).toEqual({
        refused: expect.stringMatching(/the redirect to http:\/\/localhost:\d+\/ is refused: no egress rule allows GET/),
        status: 200,
        redirected: true,
        url: `${target.origin}/landed`,
        method: 'GET',
        manual: [302, `${target.origin}/landed`],
        error: 'TypeError',
      });
      expect(target.seen.map((r) => r.path)).toEqual(['/landed']);
    } finally {
      await Promise.all([target.close(), redirector.close()]);
    }
  });
});

describe('metrics', () => {
  it('counts requests by outcome and rule, bytes and latency', async () => {
    const metrics = new Metrics();
    await resultOf(`await fetch(${JSON.stringify(up.origin)} + '/big/100', { method: 'POST', body: 'abc' }); await fetch('http://10.0.0.1/').catch(() => null)`, {
      allow: [up.origin, 'http://*'],
      observer: metrics,
    });
    const text = await metrics.text();
    expect(text).toContain(`raftbox_egress_requests_total{outcome="ok",rule="${up.origin}"} 1`);
    expect(text).toContain('raftbox_egress_requests_total{outcome="refused",rule="http://*"} 1');
    expect(text).toContain('raftbox_egress_bytes_total{direction="sent"} 3');
    expect(text).toContain('raftbox_egress_bytes_total{direction="received"} 100');
    expect(text).toContain('raftbox_egress_request_duration_seconds_count 2');
  });
});

describe('credential injection', () => {
  it('reaches the upstream, but nothing the step can see, its record or its outcome holds the value', async () => {
    const before = up.seen.length;
    const e = egress({ allow: [up.origin], inject: [`${up.origin}/api Authorization: Bearer {env:RAFTBOX_TEST_TOKEN}`], env: { RAFTBOX_TEST_TOKEN: SECRET } });
    egresses.push(e);
    const outcome = await pool.run(
      step(`
        const request = new Request(${JSON.stringify(up.origin)} + '/api/x', { headers: { 'x-mine': '1' } });
        const response = await fetch(request);
        const seen = { request: [...request.headers], response: [...response.headers], status: response.status, url: response.url, body: await response.text(),
          globals: Object.getOwnPropertyNames(globalThis).map((k) => { try { return String(globalThis[k]) } catch { return '' } }) };
        console.log(JSON.stringify(seen));
        JSON.stringify(seen)`),
      limits,
      undefined,
      e.performer({ subject: null, scopes: [] }),
    );
    expect(outcome.status).toBe('completed');
    expect(up.seen.slice(before).map((r) => r.headers.authorization)).toEqual([`Bearer ${SECRET}`]);
    expect(JSON.stringify(outcome)).not.toContain(SECRET);
    expect(outcome.hostCalls![0]!.note).toEqual({ rule: up.origin, injected: ['authorization'] });
  });

  it('adds an OAuth client-credentials token the host gets once and reuses until it expires', async () => {
    const tokens = await startUpstream((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ access_token: `tok-${tokens.seen.length}-${SECRET}`, token_type: 'Bearer', expires_in: 3600 }));
    });
    try {
      const before = up.seen.length;
      const e = egress({
        allow: [up.origin],
        inject: [`${up.origin}/svc Authorization: Bearer {oauth:svc}`],
        oauthClients: { svc: `${tokens.origin}/token svc-client {env:SVC_SECRET} read write` },
        env: { SVC_SECRET: 'client-secret' },
      });
      egresses.push(e);
      const outcome = await pool.run(step(`[(await fetch(${JSON.stringify(up.origin)} + '/svc/1')).status, (await fetch(${JSON.stringify(up.origin)} + '/svc/2')).status]`), limits, undefined, e.performer({ subject: null, scopes: [] }));
      expect(outcome.result).toEqual([200, 200]);
      expect(up.seen.slice(before).map((r) => r.headers.authorization)).toEqual([`Bearer tok-1-${SECRET}`, `Bearer tok-1-${SECRET}`]);
      expect(tokens.seen).toHaveLength(1);
      expect(tokens.seen[0]!.headers.authorization).toBe(`Basic ${Buffer.from('svc-client:client-secret').toString('base64')}`);
      expect(tokens.seen[0]!.body.toString()).toBe('grant_type=client_credentials&scope=read+write');
      expect(JSON.stringify(outcome)).not.toContain(SECRET);
    } finally {
      await tokens.close();
    }
  });

  it('refuses to start when a variable the rule reads is not set, without showing any value', () => {
    expect(() => egress({ inject: [`${up.origin} Authorization: Bearer {env:RAFTBOX_TEST_UNSET}`], env: {} })).toThrow(/RAFTBOX_TEST_UNSET is not set/);
  });
});

describe('limits give clear errors inside the sandbox', () => {
  it('a response over the per-response cap, and answers over the step cap', async () => {
    const result = await resultOf(
      `const u = ${JSON.stringify(up.origin)};
      const err = (p) => p.then(() => 'ok', (e) => e.name + ': ' + e.message);
      [await err(fetch(u + '/big/5000')), await err(fetch(u + '/big/3000')), await err(fetch(u + '/big/3000')), await err(fetch(u + '/big/10'))]`,
      { allow: [up.origin], maxResponseBytes: 4096, maxRecordedBytes: 5000 },
    );
    expect(result).toEqual([
      expect.stringMatching(/^RangeError: .*the response body is over the limit of 4096 bytes/),
      'ok',
      expect.stringMatching(/^RangeError: .*recorded answers over their limit of 5000 bytes/),
      'ok',
    ]);
  });

  it('total and concurrent requests per step, and the per-request timeout', async () => {
    const result = await resultOf(
      `const u = ${JSON.stringify(up.origin)};
      const err = (p) => p.then(() => 'ok', (e) => e.name + ': ' + e.message);
      const concurrent = await Promise.all([err(fetch(u + '/slow/50')), err(fetch(u + '/slow/50')), err(fetch(u + '/slow/50'))]);
      const timeout = await err(fetch(u + '/never'));
      const total = await err(fetch(u));
      ({ concurrent, timeout, total })`,
      { allow: [up.origin], maxConcurrent: 2, maxRequests: 4, timeoutMs: 300 },
    );
    expect(result).toEqual({
      concurrent: ['ok', 'ok', expect.stringMatching(/^RangeError: .*2 host calls in flight, its limit/)],
      timeout: expect.stringMatching(/^TypeError: .*no complete answer within 0.3 s/),
      total: expect.stringMatching(/^RangeError: .*already made 4 host calls, its limit/),
    });
  });
});

describe('time while a request is pending', () => {
  it("the step's wall-clock limit covers the wait for an answer", async () => {
    const e = egress({ allow: [up.origin] });
    egresses.push(e);
    const outcome = await pool.run(step(`await fetch(${JSON.stringify(up.origin)} + '/never')`), { ...limits, wallTimeoutMs: 300 }, undefined, e.performer({ subject: null, scopes: [] }));
    expect(outcome.status).toBe('timeout');
    expect(outcome.error?.message).toMatch(/wall 300 ms/);
  });

  it('Promise.race with a timer and AbortSignal.timeout behave as in Node', async () => {
    const code = `
      const u = ${JSON.stringify(up.origin)} + '/slow/400';
      const race = await Promise.race([fetch(u).then(() => 'fetch'), new Promise((r) => setTimeout(() => r('timer'), 50))]);
      const aborted = await fetch(u, { signal: AbortSignal.timeout(50) }).then(() => 'sent', (e) => e.name);
      const controller = new AbortController();
      const pending = fetch(u, { signal: controller.signal });
      controller.abort();
      const manual = await pending.then(() => 'sent', (e) => e.name);
      const fast = await Promise.race([fetch(${JSON.stringify(up.origin)}).then(() => 'fetch'), new Promise((r) => setTimeout(() => r('timer'), 5000))]);
      ({ race, aborted, manual, fast })`;
    const expected = { race: 'timer', aborted: 'TimeoutError', manual: 'AbortError', fast: 'fetch' };
    expect(await resultOf(code)).toEqual(expected);
    // The same code in Node itself.
    const node = await new Function('fetch', `return (async () => { ${code.replace(/\(\{ race/, 'return ({ race')} })()`)(fetch);
    expect(node).toEqual(expected);
  });
});

describe('a session step with calls replays from its record', () => {
  it('rebuilds the same state with no request sent, and a changed call is a divergence', async () => {
    const e = egress({ allow: [up.origin] });
    egresses.push(e);
    const code = `const order = [];
      const a = fetch(${JSON.stringify(up.origin)} + '/slow/120').then((r) => r.text()).then((t) => order.push(t));
      const b = fetch(${JSON.stringify(up.origin)} + '/binary').then((r) => r.arrayBuffer()).then((x) => order.push(x.byteLength));
      await Promise.all([a, b]);
      stamp = Date.now();`;
    const live = await LiveSession.create(64);
    const first = step(code);
    const outcome = await live.run(first, limits, undefined, e.performer({ subject: null, scopes: [] }));
    expect(outcome.status).toBe('completed');
    const records = outcome.hostCalls as HostCallRecord[];
    expect(records.map((r) => r.label)).toEqual([`GET ${up.origin}/binary`, `GET ${up.origin}/slow/120`]);
    const read = await live.run(step("JSON.stringify([order, stamp])"), limits);
    expect(read.error).toBeNull();
    const state = read.result;

    const sent = up.seen.length;
    const rebuilt = await LiveSession.create(64);
    await rebuilt.replay([{ ...first, hostCalls: records }]);
    expect((await rebuilt.run(step('JSON.stringify([order, stamp])'), limits)).result).toBe(state);
    expect(up.seen.length).toBe(sent);

    const diverging = await LiveSession.create(64);
    await expect(diverging.replay([{ ...first, code: first.code.replace('/binary', '/created'), hostCalls: records }])).rejects.toThrow(
      /session diverged from its journal at step 1: call 2 asks for GET .*\/created, the journal answered GET .*\/binary/,
    );
    expect(diverging.disposed).toBe(true);
    for (const s of [live, rebuilt]) s.dispose();
  });
});
