/** The streamed snapshot writer writes exactly what JSON.stringify would, whatever the pieces' sizes. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDirs, tempDir } from '../../../test/fixtures/store/helpers.js';
import { DurableJsonFile } from './snapshot.js';

afterAll(cleanupDirs);

/** Values shaped like snapshots: records of arrays of records, with long and non-ASCII strings. */
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('é'.repeat(70_000), 'x'.repeat(300_000), '😀'.repeat(40_000)));
const leaf = fc.oneof(text, fc.integer(), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null));
const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 8 }),
  object: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__x', 'é', '')), tie('value'), { maxKeys: 6 }),
})).value;

describe('DurableJsonFile.write', () => {
  it('writes the JSON.stringify of the value, byte for byte', async () => {
    const dir = await tempDir();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(json, fc.constantFrom(64, 1024, 256 * 1024), async (value, chunkBytes) => {
        const path = join(dir, `v${n++}.json`);
        const file = new DurableJsonFile<unknown>(path, { fsync: false, chunkBytes, sliceMs: 0 });
        await file.write({ format: 1, connections: { c: { users: [value, value], members: { g: [value] } } }, outbox: value });
        const expected = JSON.stringify({ format: 1, connections: { c: { users: [value, value], members: { g: [value] } } }, outbox: value });
        expect(await readFile(path, 'utf8')).toBe(expected);
        expect(file.size).toBe(Buffer.byteLength(expected));
      }),
      { numRuns: 60 },
    );
  });
});
