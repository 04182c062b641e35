import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256, type Bundle } from './bundle.ts';

const HASH = /^[0-9a-f]{64}$/;

/**
 * Bundles on disk, addressed by the hash of their code, plus an index from what a bundle was made
 * of (its build key) to its hash. Bundles are never deleted: a session keeps the version it first
 * imported, so a node that upgraded a package still replays the old version from here.
 */
export class BundleStore {
  readonly #dir: string;
  readonly #loaded = new Map<string, Bundle>();
  constructor(dir: string) {
    this.#dir = dir;
  }

  /** The bundle built from `key` earlier, if this store has it intact. */
  async byKey(key: string): Promise<Bundle | undefined> {
    const hash = await readFile(join(this.#dir, 'keys', key), 'utf8').catch(() => '');
    return HASH.test(hash) ? this.byHash(hash) : undefined;
  }

  /** A bundle by content hash: one made here at any time, checked against its hash. */
  async byHash(hash: string): Promise<Bundle | undefined> {
    if (!HASH.test(hash)) return undefined;
    const hit = this.#loaded.get(hash);
    if (hit) return hit;
    const text = await readFile(join(this.#dir, `${hash}.json`), 'utf8').catch(() => null);
    if (text === null) return undefined;
    let bundle: Bundle;
    try {
      bundle = JSON.parse(text) as Bundle;
    } catch {
      return undefined;
    }
    if (typeof bundle.code !== 'string' || sha256(bundle.code) !== hash || bundle.hash !== hash) return undefined;
    this.#loaded.set(hash, bundle);
    return bundle;
  }

  async put(key: string, bundle: Bundle): Promise<void> {
    await mkdir(join(this.#dir, 'keys'), { recursive: true });
    // Written aside and renamed: a node killed mid-write leaves no half bundle under the real name.
    await writeAtomically(join(this.#dir, `${bundle.hash}.json`), JSON.stringify(bundle));
    await writeAtomically(join(this.#dir, 'keys', key), bundle.hash);
    this.#loaded.set(bundle.hash, bundle);
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const aside = `${path}.${process.pid}.tmp`;
  await writeFile(aside, text);
  await rename(aside, path);
}
