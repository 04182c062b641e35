import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as TS from 'typescript-compiler-api';
import { PRELUDE, UpstreamServers, type UpstreamCaller } from '../../src/upstream/index.ts';
import { startHttpUpstream, type HttpUpstream } from './http-upstream.ts';

const ANYONE: UpstreamCaller = { subject: null, scopes: [] };
let ts: typeof TS;
let http: HttpUpstream;
let up: UpstreamServers;

beforeAll(async () => {
  ts = ((await import('typescript-compiler-api')) as unknown as { default: typeof TS }).default;
  http = await startHttpUpstream();
  up = new UpstreamServers({
    servers: [{ name: 'web', url: http.url, args: [], env: {}, headers: {} }],
    oauth: false,
    callTimeoutMs: 10_000,
    maxCallsPerStep: 100,
    limits: { maxRecordedBytes: 1 << 20, maxAnswerBytes: 1 << 20, maxConcurrent: 16 },
    log: { info: () => undefined, warn: () => undefined },
  });
  await up.start();
});

afterAll(async () => {
  await up.close();
  await http.close();
});

/** Every diagnostic of one file (declarations and code together), checked strictly, libraries included. */
function diagnostics(text: string): string[] {
  const options: TS.CompilerOptions = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2024, module: ts.ModuleKind.ESNext, lib: ['lib.es2024.d.ts'], types: [] };
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version) => (name === '/check.ts' ? ts.createSourceFile(name, text, version) : read(name, version));
  const program = ts.createProgram(['/check.ts'], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.start !== undefined ? d.file?.getLineAndCharacterOfPosition(d.start).line : '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

const USE = `
const sum: number = (await tools.web.add({ a: 1, b: 2 })).sum;
const text: Tools.Content = await tools.web.echo({ text: 'x' });
const same = await mcp.callTool('web', 'add', { a: 1, b: 2 });
same.sum.toFixed();
try { await tools.web.fail({}); } catch (e) { if (e instanceof McpToolError) e.content; }
export { sum, text };
`;

describe('declarations of the upstream tools', () => {
  it('the resource text is accepted by a strict TypeScript check, and types the calls', async () => {
    const all = await up.declarations(ANYONE);
    expect(diagnostics(all + USE)).toEqual([]);
    expect(diagnostics(all + "await tools.web.add({ a: 1, b: 'two' });\nexport {};")).toEqual([expect.stringContaining("Type 'string' is not assignable to type 'number'.")]);
    expect(diagnostics(all + 'await tools.web.nope({});\nexport {};')).toEqual([expect.stringContaining("Property 'nope' does not exist")]);
  });

  it('a search answer is accepted beside the prelude, alone and together with the rest', async () => {
    const found = await up.search(ANYONE, 'add numbers', undefined);
    expect(found.matches).toEqual([{ server: 'web', tool: 'add' }]);
    expect(diagnostics(`${PRELUDE}\n${found.declarations}\nconst n: number = (await tools.web.add({ a: 1, b: 2 })).sum;\nexport { n };`)).toEqual([]);
    expect((await up.search(ANYONE, undefined, 'web')).matches).toHaveLength(5);
    // Disjoint answers of one server merge: each adds its tools to Tools.web.Api.
    const echo = await up.search(ANYONE, 'echoes', 'web');
    const fail = await up.search(ANYONE, 'always fails', undefined);
    expect([...echo.matches, ...fail.matches].map((m) => m.tool)).toEqual(['echo', 'fail']);
    expect(diagnostics(`${PRELUDE}\n${found.declarations}\n${echo.declarations}\n${fail.declarations}\n${USE}`)).toEqual([]);
  });
});
