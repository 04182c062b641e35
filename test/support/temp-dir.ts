import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory under the OS temp dir (real LevelDB and data dirs live in these). */
export function tempDir(prefix = 'raftbox-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}
