/**
 * A string-keyed map in insertion order that remembers each key's creation ordinal.
 * Insertion order is the store's paging order; the ordinal lets an undo (after a failed fsync)
 * put a removed key back in its original place instead of at the end.
 */
export class OrderedMap<V> {
  private readonly items = new Map<string, V>();
  private readonly ords = new Map<string, number>();
  private nextOrd = 0;
  /** Set by restore(): iteration order must be re-established from the ordinals before use. */
  private unsorted = false;
  /** Built by the first valuesFrom() (list paging), kept up to date from then on. */
  private positions?: PositionIndex;

  get size(): number {
    return this.items.size;
  }

  get(key: string): V | undefined {
    return this.items.get(key);
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  /** Creation ordinal of the key (smaller = older). */
  ordOf(key: string): number | undefined {
    return this.ords.get(key);
  }

  /** Appends a new key, or replaces the value of an existing key in place. */
  set(key: string, value: V): void {
    if (!this.items.has(key)) {
      const ord = this.nextOrd++;
      this.ords.set(key, ord);
      this.positions?.add(ord, key);
    }
    this.items.set(key, value);
  }

  /** Removes the key and returns its ordinal (for restore), or undefined if it was absent. */
  delete(key: string): number | undefined {
    const ord = this.ords.get(key);
    if (ord === undefined) return undefined;
    this.items.delete(key);
    this.ords.delete(key);
    this.positions?.remove(ord);
    return ord;
  }

  /** Puts back a key removed by delete() at its former position (undo). */
  restore(key: string, value: V, ord: number): void {
    this.items.set(key, value);
    this.ords.set(key, ord);
    this.positions?.add(ord, key);
    this.unsorted = true;
  }

  values(): IterableIterator<V> {
    this.ensureSorted();
    return this.items.values();
  }

  /**
   * The values from the `start`-th (0-based) on, in order. Finds the start in O(log n) instead of
   * stepping over `start` entries, so the pages of a large list cost the same at any depth.
   */
  *valuesFrom(start: number): IterableIterator<V> {
    if (start <= 0) {
      yield* this.values();
      return;
    }
    if (start >= this.items.size) return;
    this.positions ??= PositionIndex.of(this.ords, this.nextOrd);
    const slots = this.positions.slots;
    for (let ord = this.positions.ordAt(start); ord < slots.length; ord++) {
      const key = slots[ord];
      if (key !== undefined) yield this.items.get(key)!;
    }
  }

  keys(): IterableIterator<string> {
    this.ensureSorted();
    return this.items.keys();
  }

  entries(): IterableIterator<[string, V]> {
    this.ensureSorted();
    return this.items.entries();
  }

  private ensureSorted(): void {
    if (!this.unsorted) return;
    this.unsorted = false;
    let last = -1;
    let sorted = true;
    for (const ord of this.ords.values()) {
      if (ord < last) {
        sorted = false;
        break;
      }
      last = ord;
    }
    // ords and items are always updated together, so they share one iteration order.
    if (sorted) return;
    const entries = [...this.items.entries()].map(([key, value]) => ({ key, value, ord: this.ords.get(key)! }));
    entries.sort((a, b) => a.ord - b.ord);
    this.items.clear();
    this.ords.clear();
    for (const e of entries) {
      this.items.set(e.key, e.value);
      this.ords.set(e.key, e.ord);
    }
  }
}

/**
 * Live keys by ordinal (deleted ones leave a hole), with a Fenwick tree of live counts over the
 * ordinals: the n-th live key is found in O(log n). Holes are never compacted (ordinals are handed
 * out by undo records): a slot costs 12 bytes per key ever created since the store opened.
 */
class PositionIndex {
  readonly slots: Array<string | undefined> = [];
  private tree = new Int32Array(1024);

  static of(ords: ReadonlyMap<string, number>, nextOrd: number): PositionIndex {
    const index = new PositionIndex();
    index.slots.length = nextOrd;
    for (const [key, ord] of ords) index.slots[ord] = key;
    index.rebuild(Math.max(1024, nextOrd));
    return index;
  }

  add(ord: number, key: string): void {
    if (ord >= this.tree.length - 1) this.rebuild(Math.max(this.tree.length * 2, ord + 2));
    while (this.slots.length <= ord) this.slots.push(undefined);
    const live = this.slots[ord] !== undefined;
    this.slots[ord] = key;
    if (!live) this.bump(ord, 1);
  }

  remove(ord: number): void {
    if (this.slots[ord] === undefined) return;
    this.slots[ord] = undefined;
    this.bump(ord, -1);
  }

  /** The ordinal of the `n`-th (0-based) live key; n must be below the live count. */
  ordAt(n: number): number {
    let pos = 0;
    let remaining = n + 1;
    for (let step = highestPowerOfTwo(this.tree.length - 1); step > 0; step >>= 1) {
      const next = pos + step;
      if (next < this.tree.length && this.tree[next] < remaining) {
        pos = next;
        remaining -= this.tree[next];
      }
    }
    return pos; // tree index pos + 1 (1-based) is ordinal pos
  }

  private bump(ord: number, delta: number): void {
    for (let i = ord + 1; i < this.tree.length; i += i & -i) this.tree[i] += delta;
  }

  /** Rebuilds the tree with room for `capacity` ordinals (O(n)). */
  private rebuild(capacity: number): void {
    const tree = new Int32Array(capacity + 1);
    for (let ord = 0; ord < this.slots.length; ord++) if (this.slots[ord] !== undefined) tree[ord + 1] += 1;
    for (let i = 1; i < tree.length; i++) {
      const parent = i + (i & -i);
      if (parent < tree.length) tree[parent] += tree[i];
    }
    this.tree = tree;
  }
}

function highestPowerOfTwo(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}
