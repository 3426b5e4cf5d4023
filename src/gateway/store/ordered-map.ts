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
    if (!this.items.has(key)) this.ords.set(key, this.nextOrd++);
    this.items.set(key, value);
  }

  /** Removes the key and returns its ordinal (for restore), or undefined if it was absent. */
  delete(key: string): number | undefined {
    const ord = this.ords.get(key);
    if (ord === undefined) return undefined;
    this.items.delete(key);
    this.ords.delete(key);
    return ord;
  }

  /** Puts back a key removed by delete() at its former position (undo). */
  restore(key: string, value: V, ord: number): void {
    this.items.set(key, value);
    this.ords.set(key, ord);
    this.unsorted = true;
  }

  values(): IterableIterator<V> {
    this.ensureSorted();
    return this.items.values();
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
