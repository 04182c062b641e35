import ivm from 'isolated-vm';

/**
 * One isolate that holds the contexts of one or more sessions (LiveSession). A context with the
 * runtime costs ~300 KB resident, an isolate ~1.5 MB more, so sessions that share one hold several
 * times as many idle sessions in the same memory and memory maps (docs/scaling.md). What they give
 * up is in that document: one heap and one memory limit, runs one at a time (CPU time is counted per
 * isolate), and a limit hit by one run disposes the isolate under all of them. The journal holds
 * every session's state, so that costs the others a rebuild on their next step, never a step.
 */
export class IsolateShare {
  readonly isolate: ivm.Isolate;
  readonly memoryMb: number;
  #members = 0;
  /** Every run and replay of every member, in order: only one runs in the isolate at a time. */
  #tail: Promise<unknown> = Promise.resolve();
  /** The isolate's heap as measured after the latest task, while no member ran (see heapBytes). */
  #heapBytes = 0;
  readonly #capacity: number;
  readonly #onEmpty: () => void;

  constructor(memoryMb: number, capacity = 1, onEmpty: () => void = () => undefined) {
    this.memoryMb = memoryMb;
    this.#capacity = capacity;
    this.#onEmpty = onEmpty;
    this.isolate = new ivm.Isolate({ memoryLimit: memoryMb });
  }

  /** Whether more than one session may hold a context here. */
  get shared(): boolean {
    return this.#capacity > 1;
  }

  /** Whether another session may still be added (the isolate is alive and not full). */
  get open(): boolean {
    return !this.isolate.isDisposed && this.#members < this.#capacity;
  }

  join(): void {
    this.#members++;
  }

  /** A member is gone: the isolate goes with the last one. */
  leave(): void {
    if (--this.#members > 0) return;
    if (!this.isolate.isDisposed) this.isolate.dispose();
    this.#onEmpty();
  }

  /**
   * Runs `task` once every earlier task of every member is done. A shared isolate's heap is measured
   * here, at the task's end and before the next starts: asked for synchronously while a member runs,
   * isolated-vm would hold Node's thread until that run ends.
   */
  serialized<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    const measure = () => this.#measure();
    this.#tail = this.shared ? result.then(measure, measure) : result.catch(() => undefined);
    return result;
  }

  /** The heap bytes in memory a member accounts for: its share of the isolate's. */
  heapBytes(): number {
    if (this.isolate.isDisposed) return 0;
    if (!this.shared) return physicalBytes(this.isolate.getHeapStatisticsSync());
    return Math.ceil(this.#heapBytes / Math.max(1, this.#members));
  }

  async #measure(): Promise<void> {
    if (this.isolate.isDisposed) return;
    try {
      this.#heapBytes = physicalBytes(await this.isolate.getHeapStatistics());
    } catch {
      // Disposed while measuring: nothing is held any more.
    }
  }
}

/**
 * The heap's physical pages, not its committed size: an idle session commits ~2.4 MB of heap but
 * touches ~1.9 MB, which is what the process's resident memory grows by (~1.8 MB).
 */
const physicalBytes = (heap: ivm.HeapStatistics) => heap.total_physical_size + heap.externally_allocated_size;

/**
 * Where a node's new session contexts go when sessions share isolates: the open share of their
 * group (one subject, one memory limit; a share never holds two subjects) until it is full.
 */
export class IsolateShares {
  readonly #open = new Map<string, IsolateShare>();
  readonly #capacity: number;
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** A share with room for one more session of `group`, joined already. */
  take(group: string, memoryMb: number): IsolateShare {
    const key = `${memoryMb}\u0000${group}`;
    let share = this.#open.get(key);
    if (!share?.open) {
      const created: IsolateShare = new IsolateShare(memoryMb, this.#capacity, () => {
        if (this.#open.get(key) === created) this.#open.delete(key);
      });
      this.#open.set(key, (share = created));
    }
    share.join();
    return share;
  }
}
