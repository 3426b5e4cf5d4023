import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDirs, tempDir } from './audit.fixture.js';
import { backwardLines, forwardLines } from './files.js';
import { canonicalJson } from './record.js';

afterAll(cleanupDirs);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('line readers', () => {
  it('backwardLines yields the complete lines in reverse, whatever the chunk size', async () => {
    const dir = await tempDir();
    const file = join(dir, 'f.jsonl');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => s.replace(/\n/g, ' ')), { maxLength: 30 }),
        fc.string({ maxLength: 10 }).map((s) => s.replace(/\n/g, '')),
        fc.integer({ min: 1, max: 50 }),
        async (lines, partial, chunk) => {
          await writeFile(file, lines.map((l) => l + '\n').join('') + partial);
          expect(await collect(backwardLines(file, undefined, chunk))).toEqual([...lines].reverse());
          const fwd = await collect(forwardLines(file));
          expect(fwd.filter((l) => l.complete).map((l) => l.text)).toEqual(lines);
          expect(fwd.some((l) => !l.complete)).toBe(partial.length > 0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('backwardLines stops at the given byte limit', async () => {
    const dir = await tempDir();
    const file = join(dir, 'f.jsonl');
    await writeFile(file, 'a\nbb\nccc\n');
    expect(await collect(backwardLines(file, 5, 2))).toEqual(['bb', 'a']);
    expect(await collect(backwardLines(join(dir, 'missing')))).toEqual([]);
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: undefined }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"y":2}]},"b":1}');
  });
});
