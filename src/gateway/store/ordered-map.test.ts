/** OrderedMap.valuesFrom (positional paging) agrees with plain iteration, whatever came before. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OrderedMap } from './ordered-map.js';

type Op = { kind: 'set'; key: number } | { kind: 'delete'; key: number } | { kind: 'undoDelete' } | { kind: 'page'; start: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.nat(2500) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.nat(2500) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'undoDelete' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('page' as const), start: fc.nat(3000) }) },
);

describe('OrderedMap.valuesFrom', () => {
  it('gives the same values as skipping `start` entries of values()', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 4000, size: 'max' }), (ops) => {
        const map = new OrderedMap<string>();
        const removed: Array<{ key: string; value: string; ord: number }> = [];
        let version = 0;
        for (const o of ops) {
          if (o.kind === 'set') map.set(`k${o.key}`, `v${o.key}.${version++}`);
          else if (o.kind === 'delete') {
            const key = `k${o.key}`;
            const value = map.get(key);
            const ord = map.delete(key);
            if (ord !== undefined) removed.push({ key, value: value!, ord });
          } else if (o.kind === 'undoDelete') {
            // undo puts the most recently removed key back in its place, as a failed commit does
            const last = removed.pop();
            if (last && !map.has(last.key)) map.restore(last.key, last.value, last.ord);
          } else {
            const all = [...map.values()];
            expect([...map.valuesFrom(o.start)]).toEqual(all.slice(o.start));
          }
        }
        const all = [...map.values()];
        for (let start = 0; start <= all.length + 1; start += Math.max(1, Math.floor(all.length / 40))) {
          expect([...take(map.valuesFrom(start), 3)]).toEqual(all.slice(start, start + 3));
        }
      }),
      // no shrinking: thousands of operations shrink for minutes; the seed and path reproduce a failure
      { numRuns: 60, endOnFailure: true },
    );
  });

  it('keeps finding pages while the map grows far past the size it had when paging began', () => {
    const map = new OrderedMap<number>();
    for (let i = 0; i < 10; i++) map.set(`u${i}`, i);
    expect([...map.valuesFrom(5)]).toEqual([5, 6, 7, 8, 9]); // the index is built here, small
    for (let i = 10; i < 5000; i++) map.set(`u${i}`, i);
    for (let i = 0; i < 5000; i += 7) map.delete(`u${i}`);
    const all = [...map.values()];
    for (let start = 0; start < all.length; start += 37) expect([...take(map.valuesFrom(start), 2)]).toEqual(all.slice(start, start + 2));
  });

  it('finds a deep page of a large map without stepping through it', () => {
    const map = new OrderedMap<number>();
    for (let i = 0; i < 200_000; i++) map.set(`u${i}`, i);
    for (let i = 0; i < 200_000; i += 3) map.delete(`u${i}`);
    const page = [...take(map.valuesFrom(100_000), 3)];
    expect(page).toEqual([...map.values()].slice(100_000, 100_003));
  });
});

function* take<T>(it: Iterable<T>, n: number): Generator<T> {
  if (n <= 0) return;
  for (const x of it) {
    yield x;
    if (--n <= 0) return;
  }
}
