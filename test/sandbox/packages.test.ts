import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IsolatePool, LiveSession, PackageRefusedError, PackageSet, PackageUnavailableError, type Step } from '../../src/sandbox/index.ts';
import { brotliCompressSync, brotliDecompressSync } from 'node:zlib';
import { installPackages } from '../support/index.ts';
import { limits, step } from './helpers.ts';

/**
 * Real packages from the npm registry, installed into a temporary packages dir (what an operator
 * does with `npm install --prefix`), bundled and imported from stateless runs and sessions.
 */
const PACKAGES = ['lodash', 'date-fns', 'zod', 'yaml', 'papaparse'];
const dir = mkdtempSync(join(tmpdir(), 'raftbox-packages-'));
let installError: string | null = null;
let packages: PackageSet;
let pool: IsolatePool;

beforeAll(async () => {
  installError = await installPackages(dir, PACKAGES);
  if (installError) return;
  packages = await PackageSet.load({ packages: PACKAGES, packagesDir: dir, storeDir: join(dir, 'store') });
  pool = new IsolatePool({ maxIsolates: 1, packages });
}, 240_000);
afterAll(() => {
  pool?.close();
  rmSync(dir, { recursive: true, force: true });
});

const run = async (code: string, overrides: Partial<Step> = {}) => pool.run(step(code, overrides), limits);

describe('approved packages', () => {
  it('imports each package in a stateless run, in JavaScript and TypeScript', async (ctx) => {
    if (installError) return ctx.skip(installError);
    expect((await run("import _ from 'lodash'; _.chunk([1, 2, 3, 4, 5], 2)")).result).toEqual([[1, 2], [3, 4], [5]]);
    expect((await run("import { format } from 'date-fns'; format(new Date(0), 'yyyy-MM-dd')")).result).toBe('1970-01-01');
    expect((await run("import * as z from 'zod'; z.object({ a: z.number() }).safeParse({ a: 'x' }).success")).result).toBe(false);
    expect((await run("const YAML = await import('yaml'); YAML.parse('a: 1\\nb: [x, y]')")).result).toEqual({ a: 1, b: ['x', 'y'] });
    expect((await run("const Papa = require('papaparse'); Papa.parse('a,b\\n1,2', { header: true }).data")).result).toEqual([{ a: '1', b: '2' }]);
    const ts = await run("import _ from 'lodash';\nconst n: number = 2;\n_.add(n, 3)", { language: 'ts' });
    expect(ts.result).toBe(5);
    expect(ts.packages?.map((p) => p.name)).toContain('lodash');
  });

  it('evaluates a module afresh in every pooled run: no module state crosses runs', async (ctx) => {
    if (installError) return ctx.skip(installError);
    expect((await run("import _ from 'lodash'; _.uniqueId()")).result).toBe('1');
    expect((await run("import _ from 'lodash'; _.uniqueId()")).result).toBe('1');
  });

  it('refuses an unapproved specifier with the list of what is available', async (ctx) => {
    if (installError) return ctx.skip(installError);
    const outcome = await run("import pad from 'left-pad'");
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.message).toMatch(/^Cannot find module 'left-pad': it is not among the packages this server allows\. Packages: .*lodash \d/);
    expect(outcome.error?.message).toContain('Node built-ins (as x or node:x): assert');
    expect((await run("try { require('lodash/fp') } catch (e) { e.code }")).result).toBe('ERR_MODULE_NOT_FOUND');
  });

  it('keeps import bindings across the cells of a session and records what each step resolved to', async (ctx) => {
    if (installError) return ctx.skip(installError);
    const session = await LiveSession.create(64, packages);
    try {
      const first = await session.run(step("import _ from 'lodash'; import { parse } from 'yaml'"), limits);
      expect(first.status).toBe('completed');
      expect(first.packages?.map((p) => p.name).sort()).toEqual(['lodash', 'node:buffer', 'yaml']);
      const second = await session.run(step("[_.sum([1, 2, 3]), parse('x: 1').x, _.uniqueId(), _.uniqueId()]"), limits);
      expect(second.result).toEqual([6, 1, '1', '2']);
      expect(second.packages).toBeUndefined();
      // Instantiated once per session: the counter goes on.
      expect((await session.run(step("require('lodash').uniqueId()"), limits)).result).toBe('3');
    } finally {
      session.dispose();
    }
  });

  it('replays a session with the bundles its journal recorded', async (ctx) => {
    if (installError) return ctx.skip(installError);
    const live = await LiveSession.create(64, packages);
    const steps: Step[] = [];
    for (const code of ["import _ from 'lodash'; _.uniqueId()", "globalThis.n = _.uniqueId()"]) {
      const s = step(code);
      const outcome = await live.run(s, limits);
      steps.push({ ...s, ...(outcome.packages ? { packages: outcome.packages } : {}) });
    }
    live.dispose();
    const rebuilt = await LiveSession.create(64, packages);
    try {
      await rebuilt.replay(steps);
      expect((await rebuilt.run(step('[n, _.uniqueId()]'), limits)).result).toEqual(['2', '3']);
    } finally {
      rebuilt.dispose();
    }
    // A bundle this node never had: a clear error naming package and version, before anything runs.
    const missing = { name: 'lodash', version: '4.0.0', hash: 'f'.repeat(64) };
    const other = await LiveSession.create(64, packages);
    try {
      const replay = other.replay([{ ...step("import _ from 'lodash'"), packages: [missing] }]);
      await expect(replay).rejects.toThrow(PackageUnavailableError);
      await expect(replay).rejects.toThrow(/this node does not have lodash@4\.0\.0/);
    } finally {
      other.dispose();
    }
  });

  it('refuses at start a package with a native addon, naming it', async (ctx) => {
    if (installError) return ctx.skip(installError);
    const native = join(dir, 'node_modules', 'fake-native');
    mkdirSync(join(native, 'build', 'Release'), { recursive: true });
    writeFileSync(join(native, 'package.json'), '{"name": "fake-native", "version": "1.0.0", "main": "index.js"}');
    writeFileSync(join(native, 'binding.gyp'), '{"targets": [{"target_name": "addon", "sources": ["addon.cc"]}]}');
    writeFileSync(join(native, 'index.js'), "module.exports = require('./build/Release/addon.node');");
    writeFileSync(join(native, 'build', 'Release', 'addon.node'), 'not really a binary');
    const load = PackageSet.load({ packages: ['fake-native'], packagesDir: dir, storeDir: join(dir, 'store') });
    await expect(load).rejects.toThrow(PackageRefusedError);
    await expect(load).rejects.toThrow(/package fake-native needs what the sandbox cannot give: a native addon/);
    const usesFs = join(dir, 'node_modules', 'fake-fs');
    mkdirSync(usesFs, { recursive: true });
    writeFileSync(join(usesFs, 'package.json'), '{"name": "fake-fs", "version": "1.0.0"}');
    writeFileSync(join(usesFs, 'index.js'), "module.exports = require('fs').readFileSync;");
    await expect(PackageSet.load({ packages: ['fake-fs'], packagesDir: dir, storeDir: join(dir, 'store') })).rejects.toThrow(
      /package fake-fs needs what the sandbox cannot give: node:fs is not available in the sandbox: the sandbox has no file system/,
    );
    await expect(PackageSet.load({ packages: ['lodash@^1'], packagesDir: dir, storeDir: join(dir, 'store') })).rejects.toThrow(/lodash@\^1 is approved, but/);
  });
});

describe('Node built-ins', () => {
  const cases: Array<[string, string, unknown]> = [
    ['crypto createHash sha256', "import { createHash } from 'node:crypto'; createHash('sha256').update('abc').digest('hex')", 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['crypto createHash md5 base64', "require('crypto').createHash('md5').update('').digest('base64')", '1B2M2Y8AsgTpgAmY7PhCfg=='],
    ['crypto createHmac', "require('crypto').createHmac('sha256', 'key').update('The quick brown fox jumps over the lazy dog').digest('hex')", 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8'],
    ['crypto timingSafeEqual', "const c = require('crypto'); [c.timingSafeEqual(Buffer.from('ab'), Buffer.from('ab')), c.timingSafeEqual(Buffer.from('ab'), Buffer.from('ac'))]", [true, false]],
    ['crypto randomBytes length', "require('crypto').randomBytes(20).length", 20],
    ['Buffer encodings', "const b = Buffer.from('héllo'); [b.toString('hex'), b.toString('base64'), Buffer.from('aGk=', 'base64').toString(), b.length, Buffer.from('ff00', 'hex').readUInt16BE(0)]", ['68c3a96c6c6f', 'aMOpbGxv', 'hi', 6, 65280]],
    ['path.posix', "import path from 'node:path'; [path.posix.join('/a', '../b', 'c'), path.normalize('a//b/../c/'), path.extname('x.tar.gz'), path.relative('/a/b', '/a/c/d'), path.parse('/x/y.js').name]", ['/b/c', 'a/c/', '.gz', '../c/d', 'y']],
    ['util.inspect of nested values', "import util from 'node:util'; [util.inspect({ a: { b: { c: { d: 1 } } }, e: [1, 'x'] }), util.format('%s=%d', 'n', 4)]", ["{ a: { b: { c: [Object] } }, e: [ 1, 'x' ] }", 'n=4']],
    ['util.promisify and types', "import { promisify, types } from 'util'; const f = promisify((x, cb) => cb(null, x * 2)); [await f(21), types.isDate(new Date()), types.isRegExp(/x/)]", [42, true, true]],
    ['zlib gzip round trip', "import zlib from 'zlib'; zlib.gunzipSync(zlib.gzipSync(Buffer.from('hello hello hello'))).toString()", 'hello hello hello'],
    // Known answers: bytes the host's own zlib compressed, decoded in the sandbox.
    ['zlib brotli decompress', `const zlib = require('zlib'); const b = Buffer.from('${brotliCompressSync('brotli '.repeat(100)).toString('base64')}', 'base64'); [zlib.brotliDecompressSync(b).toString() === 'brotli '.repeat(100), await new Promise((r) => zlib.brotliDecompress(b, (e, out) => r(out.length)))]`, [true, 700]],
    ['zlib brotli round trips: sync, callback, stream, quality', `const zlib = require('zlib'); const text = 'brotli '.repeat(1000);
      const q1 = zlib.brotliCompressSync(text, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } });
      const viaCallback = await new Promise((r, j) => zlib.brotliCompress(text, (e, out) => e ? j(e) : r(out)));
      const { pipeline } = require('stream/promises'); const { Readable, Writable } = require('stream'); const parts = [];
      await pipeline(Readable.from([text.slice(0, 10), text.slice(10)]), zlib.createBrotliCompress(), zlib.createBrotliDecompress(), new Writable({ write(c, _, done) { parts.push(c); done(); } }));
      [zlib.brotliDecompressSync(zlib.brotliCompressSync(text)).toString() === text, zlib.brotliDecompressSync(q1).toString() === text, zlib.brotliDecompressSync(viaCallback).length, Buffer.concat(parts).toString() === text]`, [true, true, 7000, true]],
    ['zlib brotli errors say what went wrong', `const zlib = require('zlib'); const why = (f) => { try { f() } catch (e) { return e.constructor.name + ': ' + e.message } };
      const code = (f) => { try { f() } catch (e) { return e.code } };
      [why(() => zlib.brotliDecompressSync(Buffer.from('x'))), code(() => zlib.brotliDecompressSync(Buffer.from('x'))), why(() => zlib.brotliCompressSync('x', { params: { 1: 12 } }))]`,
      ['Error: unexpected end of file', 'Z_BUF_ERROR', 'RangeError: The value of "options.params[BROTLI_PARAM_QUALITY]" is out of range. It must be >= 0 and <= 11. Received 12']],
    ['zlib deflate round trip', "const zlib = require('node:zlib'); zlib.inflateSync(zlib.deflateSync('abc')).toString() + zlib.inflateRawSync(zlib.deflateRawSync('xyz')).toString()", 'abcxyz'],
    ['events', "import { EventEmitter } from 'events'; const e = new EventEmitter(); const got = []; e.on('x', (v) => got.push(v)); e.emit('x', 1); e.emit('x', 2); got", [1, 2]],
    ['querystring', "require('querystring').stringify({ a: 1, b: [2, 3] })", 'a=1&b=2&b=3'],
    ['url.parse', "require('url').parse('http://a.com:8080/b?c=d#e').port", '8080'],
    ['string_decoder', "import { StringDecoder } from 'string_decoder'; const d = new StringDecoder('utf8'); d.write(Buffer.from([0xe2, 0x82])) + d.write(Buffer.from([0xac]))", '€'],
    ['assert', "import assert from 'node:assert'; try { assert.deepStrictEqual({ a: 1 }, { a: 2 }) } catch (e) { e.code }", 'ERR_ASSERTION'],
    ['punycode', "require('punycode').toASCII('mañana.com')", 'xn--maana-pta.com'],
    ['stream', "import { Readable } from 'stream'; const out = []; for await (const c of Readable.from(['a', 'b'])) out.push(c); out", ['a', 'b']],
    ['timers/promises on the virtual clock', "import { setTimeout as sleep } from 'node:timers/promises'; const t = Date.now(); [await sleep(60_000, 'v'), Date.now() - t >= 60_000]", ['v', true]],
    ['os fixed values', "import os from 'os'; [os.platform(), os.EOL, os.hostname(), os.cpus().length]", ['linux', '\n', 'sandbox', 0]],
    ['process', "let ticked = false; process.nextTick(() => { ticked = true }); await null; [ticked, Object.keys(process.env).length, process.platform, typeof process.hrtime.bigint()]", [true, 0, 'linux', 'bigint']],
    ['refused built-ins', "const why = (load) => { try { load() } catch (e) { return e.message } }; [why(() => require('fs')), why(() => require('node:child_process')), why(() => require('net')), why(() => require('http'))]", [
      'node:fs is not available in the sandbox: the sandbox has no file system',
      'node:child_process is not available in the sandbox: the sandbox cannot start processes or threads',
      'node:net is not available in the sandbox: the sandbox has no network',
      'node:http is not available in the sandbox: the sandbox has no network',
    ]],
  ];
  it('gives every pooled run its own brotli instance: nothing one compressed is left for the next', async (ctx) => {
    if (installError) return ctx.skip(installError);
    expect((await run("const z = require('zlib'); globalThis.leak = z.createBrotliCompress(); leak.write('tenant A secret'); 1")).result).toBe(1);
    // raftbox's own bundle is not importable by name.
    expect((await run("require('raftbox:brotli')")).error?.message).toMatch(/^Cannot find module 'raftbox:brotli'/);
    const second = await run("const z = require('zlib'); [typeof globalThis.leak, z.brotliDecompressSync(z.brotliCompressSync('b')).toString()]");
    expect(second.result).toEqual(['undefined', 'b']);
  });

  it('replays a session that used brotli with the bundles its journal recorded', async (ctx) => {
    if (installError) return ctx.skip(installError);
    const live = await LiveSession.create(64, packages);
    const s = step("globalThis.packed = require('zlib').brotliCompressSync('replayed '.repeat(50)).toString('base64'); packed.length");
    const outcome = await live.run(s, limits);
    live.dispose();
    expect(outcome.packages?.map((p) => p.name)).toContain('raftbox:brotli');
    const rebuilt = await LiveSession.create(64, packages);
    try {
      await rebuilt.replay([{ ...s, packages: outcome.packages! }]);
      const again = await rebuilt.run(step("require('zlib').brotliDecompressSync(Buffer.from(packed, 'base64')).toString() === 'replayed '.repeat(50)"), limits);
      expect(again.result).toBe(true);
    } finally {
      rebuilt.dispose();
    }
  });

  it("compresses brotli that Node's own zlib decodes", async (ctx) => {
    if (installError) return ctx.skip(installError);
    const outcome = await run("require('zlib').brotliCompressSync(JSON.stringify({ a: 'x'.repeat(5000) })).toString('base64')");
    expect(brotliDecompressSync(Buffer.from(outcome.result as string, 'base64')).toString()).toBe(JSON.stringify({ a: 'x'.repeat(5000) }));
  });

  it.each(cases)('%s', async (_, code, expected) => {
    if (installError) return;
    const outcome = await run(code);
    expect(outcome.error).toBeNull();
    expect(outcome.result).toEqual(expected);
  });
});
