import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { isMainThread } from 'node:worker_threads';

// Left below the thread's stack for the frames under the replay (Node's, the event loop's) and the
// native code V8 calls past its own limit.
const MARGIN_KB = 512;
const NODE_DEFAULT_KB = 984;
// Where the stack has no limit (it grows as needed): as deep as isolated-vm's threads under the usual 8 MB.
const UNLIMITED_KB = 8192 - MARGIN_KB;

let matches: boolean | undefined;

/**
 * Whether an isolate on this thread recurses about as deep as on isolated-vm's threads, so that a
 * replay made here (step-runner.ts `replayOnThisThread`) rebuilds what the step did live; the first
 * call makes it so where it can, and must come before any isolate enters this thread (V8 takes the
 * limit then; Node's own isolate entered long before, and keeps its limit).
 *
 * V8 gives an isolate on Node's thread what its `--stack-size` flag says: 984 KB, ~9,500 frames of a
 * small function. On isolated-vm's threads the same isolate has the thread's whole stack (8 MB on
 * Linux: ~80,000 frames), so a step that recursed 20,000 deep live would overflow in a replay here.
 * On Linux's main thread the flag is raised to the process's stack limit, less a margin
 * (src/sandbox/README.md, "Recursion depth is not replayed exactly"). Elsewhere on a main thread it
 * stays: off Linux isolated-vm's threads have less stack than this one (512 KB on macOS), so a replay
 * here goes at least as deep. A worker thread's stack is its own (4 MB by default): no.
 */
export function threadStackMatches(): boolean {
  if (matches !== undefined) return matches;
  if (!isMainThread) return (matches = false);
  const kb = stackLimitKb();
  if (kb !== null && kb > NODE_DEFAULT_KB) setFlagsFromString(`--stack-size=${kb}`);
  return (matches = kb === null || kb > NODE_DEFAULT_KB);
}

/** This process's stack limit (its soft RLIMIT_STACK, from /proc) less the margin, in KB; null where it cannot be read. */
function stackLimitKb(): number | null {
  let limits: string;
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return null;
  }
  const soft = /^Max stack size\s+(\S+)/m.exec(limits)?.[1];
  if (soft === undefined) return null;
  if (soft === 'unlimited') return UNLIMITED_KB;
  const bytes = Number(soft);
  return Number.isFinite(bytes) ? Math.floor(bytes / 1024) - MARGIN_KB : null;
}
