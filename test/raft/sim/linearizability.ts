// Linearizability checking with porcupine's algorithm (Wing & Gong's search with Lowe's
// memoization of (linearized set, state)), over a history partitioned per key (P-compositionality).
export interface Operation<I, O> {
  client: number;
  input: I;
  output: O;
  call: number;
  /** Infinity when the client never learned the outcome (it may or may not have taken effect). */
  ret: number;
}

export interface Model<S, I, O> {
  init(): S;
  step(state: S, input: I, output: O): { ok: boolean; state: S };
  /** Splits a history into independent sub-histories (e.g. per key). */
  partition(ops: Operation<I, O>[]): Operation<I, O>[][];
  key(state: S): string;
}

interface Cell<I, O> {
  op: Operation<I, O> | null; // null for the list head
  id: number;
  isCall: boolean;
  match: Cell<I, O> | null; // call → its return
  prev: Cell<I, O> | null;
  next: Cell<I, O> | null;
}

export type CheckResult = 'ok' | 'illegal' | 'unknown';

export function checkLinearizable<S, I, O>(model: Model<S, I, O>, history: Operation<I, O>[], budget = 5_000_000): CheckResult {
  let result: CheckResult = 'ok';
  for (const part of model.partition(history)) {
    const r = checkPartition(model, part, budget);
    if (r === 'illegal') return 'illegal';
    if (r === 'unknown') result = 'unknown';
  }
  return result;
}

function checkPartition<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[], budget: number): CheckResult {
  // Events sorted by time; at equal times calls come first so the two operations overlap.
  const events: Array<{ t: number; call: boolean; id: number }> = [];
  ops.forEach((op, id) => {
    events.push({ t: op.call, call: true, id });
    events.push({ t: op.ret, call: false, id });
  });
  events.sort((a, b) => a.t - b.t || (a.call === b.call ? 0 : a.call ? -1 : 1));
  const head: Cell<I, O> = { op: null, id: -1, isCall: false, match: null, prev: null, next: null };
  const calls = new Map<number, Cell<I, O>>();
  let tail = head;
  for (const ev of events) {
    const c: Cell<I, O> = { op: ops[ev.id]!, id: ev.id, isCall: ev.call, match: null, prev: tail, next: null };
    if (ev.call) calls.set(ev.id, c);
    else calls.get(ev.id)!.match = c;
    tail.next = c;
    tail = c;
  }

  const lift = (c: Cell<I, O>) => {
    c.prev!.next = c.next;
    if (c.next) c.next.prev = c.prev;
    const m = c.match!;
    m.prev!.next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (c: Cell<I, O>) => {
    const m = c.match!;
    m.prev!.next = m;
    if (m.next) m.next.prev = m;
    c.prev!.next = c;
    if (c.next) c.next.prev = c;
  };

  let state = model.init();
  let linearized = 0n;
  const cache = new Set<string>();
  const stack: Array<{ cell: Cell<I, O>; state: S }> = [];
  let entry = head.next;
  let steps = 0;
  while (head.next !== null) {
    if (++steps > budget) return 'unknown';
    if (entry === null) return 'illegal';
    if (entry.isCall) {
      const r = model.step(state, entry.op!.input, entry.op!.output);
      if (r.ok) {
        const next = linearized | (1n << BigInt(entry.id));
        const key = next.toString(36) + '|' + model.key(r.state);
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ cell: entry, state });
          state = r.state;
          linearized = next;
          lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
    } else {
      // A return with its call not linearized yet: backtrack.
      const top = stack.pop();
      if (!top) return 'illegal';
      state = top.state;
      linearized &= ~(1n << BigInt(top.cell.id));
      unlift(top.cell);
      entry = top.cell.next;
    }
  }
  return 'ok';
}

// ---- key-value register model ------------------------------------------------------------------

export type KvInput = { type: 'put'; key: string; value: string } | { type: 'get'; key: string };
export type KvOutput = { value: string | null };

export const kvModel: Model<string | null, KvInput, KvOutput> = {
  init: () => null,
  step(state, input, output) {
    if (input.type === 'put') return { ok: true, state: input.value };
    return { ok: output.value === state, state };
  },
  partition(ops) {
    const byKey = new Map<string, Operation<KvInput, KvOutput>[]>();
    for (const op of ops) {
      const list = byKey.get(op.input.key) ?? [];
      list.push(op);
      byKey.set(op.input.key, list);
    }
    return [...byKey.values()];
  },
  key: (s) => (s === null ? '\u0000' : s),
};
