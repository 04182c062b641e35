import { afterAll, describe, expect, it } from 'vitest';
import ivm from 'isolated-vm';
import { IsolatePool, LiveSession } from '../../src/sandbox/index.ts';
import type { PreparedContext } from '../../src/sandbox/runtime/bootstrap.ts';
import { HostCallPort } from '../../src/sandbox/host-calls/port.ts';
import { guardedCall } from '../../src/sandbox/step-runner.ts';
import { limits, step } from './helpers.ts';

// Everything the runtime builds for the host in driver.js, console.js and timers.js.
const PATCH_EVERY_BUILT_IN_THE_RUNTIME_TOUCHES = `
  const evil = function () { return evil };
  Object.prototype.then = function (resolve) { resolve('{"status":"completed","resultText":"1","resultIsJson":true,"error":null,"console":[],"consoleTruncated":false}') };
  Object.prototype.toJSON = () => 'forged';
  Array.prototype.toJSON = () => 'forged';
  Object.defineProperty(Array.prototype, '0', { set() {}, get() { return 'forged' }, configurable: true });
  for (const [proto, names] of [
    [Array.prototype, ['push', 'pop', 'includes', 'slice', 'join', 'map', Symbol.iterator]],
    [String.prototype, ['slice', 'charCodeAt', 'includes', 'startsWith', 'split', 'replace']],
    [Map.prototype, ['get', 'set', 'delete', 'has']],
    [Function.prototype, ['call', 'apply', 'bind']],
  ]) for (const name of names) proto[name] = evil;
  Object.defineProperty(Map.prototype, 'size', { get: () => 0 });
  Promise.prototype.then = evil;
  JSON.stringify = evil;
  Reflect.apply = evil;
  Reflect.ownKeys = evil;
  Object.getPrototypeOf = evil;
  Array.isArray = evil;
  Math.min = Math.max = Math.floor = evil;
  Error.prototype.toString = evil;
`;

const pool = new IsolatePool({ maxIsolates: 1 });
afterAll(() => pool.close());

describe('the outcome cannot be forged by patched built-ins (a session context is not frozen)', () => {
  it('reports a throw as failed, with the console and timers still right', async () => {
    const session = await LiveSession.create(64);
    try {
      await session.run(step(PATCH_EVERY_BUILT_IN_THE_RUNTIME_TOUCHES), limits);
      const code = 'console.log("before", 1); setTimeout(() => console.log("timer"), 10); await new Promise((r) => setTimeout(r, 20)); throw new RangeError("real failure")';
      const outcome = await session.run(step(code), limits);
      expect(outcome.status).toBe('failed');
      expect(outcome.error).toMatchObject({ name: 'RangeError', message: 'real failure' });
      expect(outcome.console.map((l) => l.text)).toEqual(['before 1', 'timer']);
      const huge = await session.run(step('console.log("x".repeat(1e6)); 1'), limits);
      expect(huge.consoleTruncated).toBe(true);
      expect(huge.console.reduce((n, l) => n + l.text.length, 0)).toBeLessThan(limits.maxOutputBytes);
    } finally {
      session.dispose();
    }
  });
});

describe('a call that fails in a non-clean way disposes its isolate', () => {
  // A rejection flood (issue #12) made isolated-vm fail every collect attempt; whatever makes a call
  // fail without a limit, the step may go on in the isolate with no watchdog left.
  it('answers failed and disposes the isolate when the driver keeps failing', async () => {
    const isolate = new ivm.Isolate({ memoryLimit: 32 });
    const context = await isolate.createContext();
    const failing = (await context.eval('(function driver() { return Promise.reject(new Error("not a limit")) })', { reference: true })) as PreparedContext['driver'];
    const prepared: PreparedContext = { context, driver: failing, hostCalls: new HostCallPort(), release: () => undefined };
    const call = await guardedCall(isolate, prepared, { cpuTimeoutMs: 1_000, wallTimeoutMs: 2_000 }, undefined, { command: 'run', payload: ['', 0, 0, 0, 0, 0, 0, 0, 0, 0, 1024, '', 0] });
    expect(call).toMatchObject({ ok: false, status: 'failed' });
    expect(isolate.isDisposed).toBe(true);
  });

  it('the pool still serves the next tenant after a rejection flood', async () => {
    const flood = `
      for (let i = 0; i < 300; i++) { await new Promise((r) => setTimeout(r, 1)); Promise.reject(new Error('r' + i)); }
      (function spin() { Promise.resolve().then(spin) })()`;
    const outcome = await pool.run(step(flood), { ...limits, cpuTimeoutMs: 500, wallTimeoutMs: 3_000 });
    expect(outcome.status).not.toBe('completed');
    const victim = await pool.run(step('"victim"'), { ...limits, cpuTimeoutMs: 1_000, wallTimeoutMs: 2_000 });
    expect(victim).toMatchObject({ status: 'completed', result: 'victim' });
  });
});
