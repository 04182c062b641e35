import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBundleCache, writeBundleCache } from '../../src/sandbox/runtime/bundle-cache.ts';
import { tempDir } from '../support/index.ts';

describe('the web bundle cache', () => {
  it('answers the bundles while their inputs are unchanged, and nothing once one changed or is gone', async () => {
    const dir = await tempDir('raftbox-bundle-cache-');
    const cache = join(dir, 'cache', 'bundles.json');
    const [a, b] = [join(dir, 'a.js'), join(dir, 'b.js')];
    writeFileSync(a, 'export const a = 1;');
    writeFileSync(b, 'export const b = 2;');
    const old = new Date(Date.now() - 60_000);
    for (const f of [a, b]) utimesSync(f, old, old);
    expect(readBundleCache(cache)).toBeNull();

    writeBundleCache(cache, [a, b], { text: 'bundle' }, Date.now());
    expect(readBundleCache(cache)).toEqual({ text: 'bundle' });

    writeFileSync(b, 'export const b = 3;');
    expect(readBundleCache(cache)).toBeNull();
  });

  it('is not written when an input changed while it was being bundled, or is missing', async () => {
    const dir = await tempDir('raftbox-bundle-cache-');
    const cache = join(dir, 'bundles.json');
    const a = join(dir, 'a.js');
    const since = Date.now() - 60_000;
    writeFileSync(a, 'export const a = 1;'); // modified after `since`
    writeBundleCache(cache, [a], { text: 'stale?' }, since);
    expect(readBundleCache(cache)).toBeNull();
    writeBundleCache(cache, [join(dir, 'gone.js')], { text: 'x' }, Date.now());
    expect(readBundleCache(cache)).toBeNull();
  });
});
