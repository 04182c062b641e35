// Bounded window of in-flight MsgApp (by last index) for one follower: pipelining without
// unbounded memory when the follower is slow (etcd's tracker/inflights.go).
export class Inflights {
  private readonly buf: number[] = [];

  readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get count(): number {
    return this.buf.length;
  }

  full(): boolean {
    return this.buf.length >= this.capacity;
  }

  add(lastIndex: number): void {
    this.buf.push(lastIndex);
  }

  /** Frees every in-flight message whose last index is ≤ `to` (they are acknowledged). */
  freeLE(to: number): void {
    let i = 0;
    while (i < this.buf.length && this.buf[i]! <= to) i++;
    if (i > 0) this.buf.splice(0, i);
  }

  /** Frees the oldest slot: lets a window that lost its messages send again. */
  freeFirst(): void {
    this.buf.shift();
  }

  reset(): void {
    this.buf.length = 0;
  }
}
