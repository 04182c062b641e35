import ivm from 'isolated-vm';
import { expect, it } from 'vitest';
import { LiveSession } from '../../src/sandbox/index.ts';
import { prepareContext, runtimeCodeCacheBytes } from '../../src/sandbox/runtime/bootstrap.ts';
import { limits, step } from './helpers.ts';

// One test alone in its file: the cache is the process's, and the order of its two makings is what is checked.
it("makes the runtime's code cache again from a warm-up session, which leaves nothing in later sessions", async () => {
  // Before any session: the first isolate to compile the runtime makes the cache from the compiled script alone.
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  const prepared = await prepareContext(isolate, false, 32);
  const compiledOnly = runtimeCodeCacheBytes();
  prepared.release();
  isolate.dispose();
  expect(compiledOnly).toBeGreaterThan(0);

  const session = await LiveSession.create(32);
  try {
    // The warm-up ran before this session: the cache now carries the functions its steps compiled.
    expect(runtimeCodeCacheBytes()).toBeGreaterThan(compiledOnly);
    const outcome = await session.run(step("[typeof warm, typeof console.log, await Promise.resolve('ok')]"), limits);
    expect(outcome).toMatchObject({ status: 'completed', result: ['undefined', 'function', 'ok'] });
  } finally {
    session.dispose();
  }
});
