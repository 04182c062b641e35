// setTimeout fires at once for longer delays; a wait that long is as good as forever here.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** True when `p` settles (fulfilled or rejected) within `ms`; `p` itself is left to run on. */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), Math.min(ms, MAX_TIMER_MS));
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    p.then(done, done);
  });
}
