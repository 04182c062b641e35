// Loads bench/k6/load-test.js in Node with stand-ins for k6's modules (no k6 binary can be installed here),
// so its options can be read and its iterations driven against an in-process fake of the server's API.
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface FakeResponse {
  status: number;
  body: string;
  headers?: Record<string, string>;
}
export interface SentRequest {
  method: string;
  url: string;
  body: unknown;
  headers: Record<string, string>;
}
export type Handler = (req: SentRequest) => FakeResponse;

/** What the k6 stand-ins record, and what they answer with; lives on globalThis for the stub modules. */
export interface K6World {
  env: Record<string, string>;
  handler: Handler;
  requests: SentRequest[];
  metrics: Record<string, number[]>;
  checks: Array<{ name: string; pass: boolean }>;
  slept: number[];
  vu: number;
  iteration: number;
}

export interface K6Script {
  options: {
    scenarios: Record<string, Record<string, unknown>>;
    thresholds: Record<string, string[]>;
    summaryTrendStats: string[];
    tags: Record<string, string>;
  };
  setup(): { token: string | null; runId: string };
  default(data: { token: string | null; runId: string }): void;
  handleSummary(data: unknown): Record<string, string>;
  parseSseMessages(body: string): unknown[];
}

const STUBS: Record<string, string> = {
  'package.json': JSON.stringify({
    name: 'k6',
    type: 'module',
    exports: {
      '.': './index.js',
      './http': './http.js',
      './metrics': './metrics.js',
      './execution': './execution.js',
      './encoding': './encoding.js',
    },
  }),
  'index.js': `
    export function check(value, sets) {
      let ok = true;
      for (const [name, fn] of Object.entries(sets)) {
        const pass = Boolean(fn(value));
        globalThis.__k6.checks.push({ name, pass });
        ok = ok && pass;
      }
      return ok;
    }
    export function sleep(seconds) { globalThis.__k6.slept.push(seconds); }`,
  'http.js': `
    function send(method, url, body, params = {}) {
      const headers = { ...(params.headers ?? {}) };
      if (body !== null && typeof body === 'object') headers['Content-Type'] ??= 'application/x-www-form-urlencoded';
      const req = { method, url, body, headers };
      globalThis.__k6.requests.push(req);
      const res = globalThis.__k6.handler(req);
      return { status: res.status, body: res.body, headers: res.headers ?? { 'Content-Type': 'application/json' }, timings: { duration: 1 } };
    }
    export default {
      get: (url, params) => send('GET', url, null, params),
      post: (url, body, params) => send('POST', url, body, params),
    };`,
  'metrics.js': `
    class Metric {
      constructor(name) { this.name = name; }
      add(value) { (globalThis.__k6.metrics[this.name] ??= []).push(Number(value)); }
    }
    export class Trend extends Metric {}
    export class Rate extends Metric {}
    export class Counter extends Metric {}`,
  'execution.js': `
    export default {
      get vu() { return { idInTest: globalThis.__k6.vu }; },
      get scenario() { return { iterationInTest: globalThis.__k6.iteration }; },
    };`,
  'encoding.js': `export default { b64encode: (s) => Buffer.from(s).toString('base64') };`,
};

let dir: string | null = null;
let loads = 0;

function scriptDir(): string {
  if (dir === null) {
    dir = mkdtempSync(join(tmpdir(), 'raftbox-k6-'));
    const pkg = join(dir, 'node_modules', 'k6');
    mkdirSync(pkg, { recursive: true });
    for (const [name, text] of Object.entries(STUBS)) writeFileSync(join(pkg, name), text);
    copyFileSync(new URL('../../bench/k6/load-test.js', import.meta.url), join(dir, 'load-test.js'));
  }
  return dir;
}

declare global {
  var __ENV: Record<string, string>;
  var __k6: K6World;
}

/**
 * Evaluates a fresh instance of the script with this environment (k6 reads __ENV at init time). k6 gives
 * every VU its own instance; pass the `world` of an earlier load to add another VU to the same run.
 */
export async function loadScript(
  env: Record<string, string>,
  handler: Handler = unreachable,
  shared?: K6World,
): Promise<{ script: K6Script; world: K6World }> {
  const world: K6World = shared ?? { env, handler, requests: [], metrics: {}, checks: [], slept: [], vu: 1, iteration: 0 };
  globalThis.__ENV = env;
  globalThis.__k6 = world;
  loads += 1;
  const url = `${pathToFileURL(join(scriptDir(), 'load-test.js')).href}?load=${loads}`;
  const script = (await import(url)) as K6Script;
  return { script, world };
}

function unreachable(req: SentRequest): FakeResponse {
  throw new Error(`unexpected request ${req.method} ${req.url}`);
}

/** Runs `count` iterations as k6 would: one setup, then the default function with a growing iteration number. */
export function iterate(script: K6Script, world: K6World, count: number): void {
  const data = script.setup();
  for (let i = 0; i < count; i++) {
    script.default(data);
    world.iteration += 1;
  }
}
