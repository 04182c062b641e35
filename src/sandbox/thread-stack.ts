import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

// Left below the thread's stack for the frames under the replay (Node's, the event loop's) and the
// native code V8 calls past its own limit.
const MARGIN_KB = 512;
const NODE_DEFAULT_KB = 984;
// Where the stack has no limit (it grows as needed): as deep as isolated-vm's threads under the usual 8 MB.
const UNLIMITED_KB = 8192 - MARGIN_KB;

let raised = false;

/**
 * A replay made on Node's own thread (step-runner.ts `replayOnThisThread`) runs the session's isolate
 * on that thread's stack, where V8 gives it what its `--stack-size` flag says: 984 KB, ~9,500 frames of
 * a small function. On isolated-vm's threads the same isolate has the thread's whole stack (8 MB on
 * Linux: ~80,000 frames), so a step that recursed 20,000 deep live would overflow in its replay. This
 * raises the flag to this thread's own stack, less a margin, so that a replay here recurses about as
 * deep as the step did live (src/sandbox/README.md, "Recursion depth is not replayed exactly").
 * V8 reads the flag when an isolate first enters a thread; Node's own isolate entered long before,
 * and keeps its limit. Off Linux (no /proc) nothing changes: there isolated-vm's threads have less
 * stack than this one, so a replay here goes at least as deep as the run did.
 */
export function raiseThreadStackLimit(): void {
  if (raised) return;
  raised = true;
  const kb = stackLimitKb();
  if (kb !== null && kb > NODE_DEFAULT_KB) setFlagsFromString(`--stack-size=${kb}`);
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
