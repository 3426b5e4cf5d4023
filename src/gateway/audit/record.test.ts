/** sealRecord: one serialisation for hash and line, identical to hashing and encoding separately. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord, recordHash, sealRecord, type AuditRecord } from './record.js';

const key = fc.oneof(fc.constantFrom('hash', 'prevHash', 'a', 'Z', 'é', '', 'seq', '__proto__x'), fc.string({ maxLength: 6 }));
const value = fc.jsonValue({ maxDepth: 3 }).map((v) => v as unknown);
const base = fc.record(
  {
    actor: fc.record({ kind: fc.constantFrom('scim-token', 'admin', 'system', 'connector'), id: fc.string(), name: fc.option(fc.string(), { nil: undefined }) }),
    connection: fc.option(fc.string(), { nil: undefined }),
    action: fc.string({ minLength: 1 }),
    resource: fc.option(fc.record({ type: fc.string(), id: fc.string() }), { nil: undefined }),
    changes: fc.option(fc.array(fc.record({ attribute: fc.string(), before: fc.option(fc.dictionary(key, value), { nil: undefined }), after: fc.option(value, { nil: undefined }) })), { nil: undefined }),
    result: fc.constantFrom('success', 'failure'),
    detail: fc.option(fc.string(), { nil: undefined }),
    requestId: fc.option(fc.string(), { nil: undefined }),
    storeSeq: fc.option(fc.nat(), { nil: undefined }),
    seq: fc.integer({ min: 1, max: 1e9 }),
    time: fc.constant('2026-11-23T10:00:00.000Z'),
    prevHash: fc.stringMatching(/^[0-9a-f]{64}$/),
  },
  { requiredKeys: ['actor', 'action', 'result', 'seq', 'time', 'prevHash'] },
) as fc.Arbitrary<Omit<AuditRecord, 'hash'>>;

describe('sealRecord', () => {
  it('gives the hash and the line that recordHash and encodeRecord give', () => {
    fc.assert(
      fc.property(base, (b) => {
        const { record, line } = sealRecord(b);
        expect(record.hash).toBe(recordHash(b));
        expect(line).toBe(encodeRecord({ ...b, hash: record.hash }));
        const decoded = decodeRecord(line.slice(0, -1));
        expect(decoded.ok).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
