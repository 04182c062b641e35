/** One holder per key at a time; later callers queue in arrival order. Keys with no holder cost nothing. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Whether someone holds or waits for `key`. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }

  /** Resolves with the unlock function once this caller holds `key`, or null if `signal` aborts first. */
  async lock(key: string, signal?: AbortSignal): Promise<(() => void) | null> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    const unlock = () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
    if (await settlesBeforeAbort(previous, signal)) return unlock;
    // Gave up waiting: pass the turn on as soon as it comes, so later callers are not stuck behind it.
    void previous.then(unlock);
    return null;
  }
}

function settlesBeforeAbort(p: Promise<void>, signal: AbortSignal | undefined): Promise<boolean> {
  if (!signal) return p.then(() => true);
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
    void p.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(!signal.aborted);
    });
  });
}
