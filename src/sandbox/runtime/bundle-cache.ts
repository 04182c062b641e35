import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

interface CacheFile<T> {
  /** Each input with its size and modification time when the bundles were built from it. */
  files: Array<[path: string, size: number, mtimeMs: number]>;
  bundles: T;
}

function stamp(path: string): [string, number, number] | null {
  try {
    const s = statSync(path);
    return [path, s.size, s.mtimeMs];
  } catch {
    return null;
  }
}

/** The cached bundles, if every file they were built from (the tools' included) is unchanged since. */
export function readBundleCache<T>(cacheFile: string): T | null {
  let cache: CacheFile<T>;
  try {
    cache = JSON.parse(readFileSync(cacheFile, 'utf8')) as CacheFile<T>;
  } catch {
    return null;
  }
  if (!Array.isArray(cache.files)) return null;
  for (const [path, size, mtimeMs] of cache.files) {
    const now = stamp(path);
    if (now === null || now[1] !== size || now[2] !== mtimeMs) return null;
  }
  return cache.bundles;
}

/**
 * Keeps the bundles for the next start. Best effort: a read-only install just builds them each time.
 * Nodes starting at once may each write it; the rename makes every reader see one whole file.
 */
export function writeBundleCache<T>(cacheFile: string, inputs: string[], bundles: T, builtSinceMs: number): void {
  const files = inputs.map(stamp);
  // A file changed while it was bundled: what was read may not be what is stamped.
  if (!files.every((f): f is [string, number, number] => f !== null && f[2] < builtSinceMs)) return;
  try {
    mkdirSync(dirname(cacheFile), { recursive: true });
    const temp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify({ files, bundles } satisfies CacheFile<T>));
    renameSync(temp, cacheFile);
  } catch {
    // Not writable: nothing is lost but the next start's second.
  }
}
