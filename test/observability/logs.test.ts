import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/index.ts';
import { waitFor } from '../support/index.ts';
import { MACHINE, machineToken, revoke, startOAuthNode } from './oauth-node.ts';

type Started = Awaited<ReturnType<typeof startOAuthNode>>;
let n: Started;
beforeAll(async () => {
  n = await startOAuthNode({ clusterSecret: 'cluster-secret-MARKER-5521x' });
});
afterAll(() => n?.stop());

const CODE_MARKER = 'user-code-MARKER-8841';

describe('JSON request logs', () => {
  it('never contain user code, tokens, client secrets or the cluster secret, at debug level', async () => {
    const token = await machineToken(n.node.url);
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}`, cookie: 'session=cookie-MARKER-1203' };
    for (const code of [`const k = "${CODE_MARKER}"; k`, `throw new Error("${CODE_MARKER}")`, `syntax error ${CODE_MARKER} (`]) {
      expect((await fetch(`${n.node.url}/api/exec?wait=10000`, { method: 'POST', headers, body: JSON.stringify({ code, language: 'js' }) })).status).toBe(200);
    }
    // A malformed body, a refused token and a token in the query string: error paths log too.
    await fetch(`${n.node.url}/api/exec`, { method: 'POST', headers, body: `{"code": "${CODE_MARKER}"` });
    await fetch(`${n.node.url}/api/executions`, { headers: { authorization: 'Bearer bogus-token-MARKER-7730' } });
    await fetch(`${n.node.url}/api/executions?access_token=${token}`);
    await revoke(n.node.url, token);
    await waitFor('the async log destination to flush', () => n.logs().includes('"path":"/oauth/revoke"'));

    const logs = n.logs();
    expect(logs).toContain('"path":"/api/exec"');
    for (const secret of [CODE_MARKER, token, MACHINE.secret, 'bogus-token-MARKER-7730', 'cookie-MARKER-1203', 'cluster-secret-MARKER-5521x']) {
      expect(logs, `log output contains ${secret.slice(0, 24)}`).not.toContain(secret);
    }
  });

  it('write one line per request with method, path, status, ms, request id and node, and echo the request id', async () => {
    const res = await fetch(`${n.node.url}/api/openapi.json?secret=query-MARKER`, { headers: { 'x-request-id': 'trace-42' } });
    expect(res.headers.get('x-request-id')).toBe('trace-42');
    const minted = await fetch(`${n.node.url}/healthz`);
    const mintedId = minted.headers.get('x-request-id')!;
    expect(mintedId).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor('the async log destination to flush', () => n.logs().includes(mintedId));
    const lines = n.logs().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const traced = lines.filter((l) => l.requestId === 'trace-42');
    expect(traced).toHaveLength(1);
    expect(traced[0]).toMatchObject({ msg: 'request', method: 'GET', path: '/api/openapi.json', status: 200, node: 'n1', level: 30 });
    expect(typeof traced[0]!.ms).toBe('number');
    // Routine probes are logged at debug.
    expect(lines.find((l) => l.requestId === mintedId)).toMatchObject({ path: '/healthz', level: 20 });
    expect(n.logs()).not.toContain('query-MARKER');
  });
});

describe('log lines of errors', () => {
  it("keep an error's own code (as errorCode) while a `code` field is still censored", () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', nodeId: 'n1' }, { write: (line: string) => void lines.push(line) });
    log.warn({ err: Object.assign(new Error('connect failed'), { code: 'ECONNREFUSED' }), code: 'user-code-MARKER-3310' }, 'peer unreachable');
    const line = JSON.parse(lines[0]!) as { err: Record<string, unknown>; code: unknown };
    expect(line.err).toMatchObject({ message: 'connect failed', errorCode: 'ECONNREFUSED' });
    expect(line.code).toBe('[redacted]');
    expect(lines[0]).not.toContain('user-code-MARKER-3310');
  });
});
