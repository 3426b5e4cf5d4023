/** Audit records ride in the commit (one fsync) and reach the sink in order, even across a crash. */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupDirs, crashImage, openStore, tempDir, user } from '../../../test/fixtures/store/helpers.js';
import type { AuditSink } from './index.js';

afterEach(cleanupDirs);

function recordingSink(lastSeq = 0, hang = false): AuditSink & { got: Array<{ seq: number; records: unknown[] }> } {
  const got: Array<{ seq: number; records: unknown[] }> = [];
  return {
    got,
    lastSeq: () => Math.max(lastSeq, ...got.map((g) => g.seq)),
    append: (seq, records) => (hang ? new Promise<void>(() => {}) : (got.push({ seq, records }), Promise.resolve())),
  };
}

describe('audit sink', () => {
  it('hands over the records of durable commits in commit order, with their seq', async () => {
    const sink = recordingSink();
    const store = await openStore(await tempDir(), { auditSink: sink });
    const r1 = await store.commit({ changes: [{ op: 'create', type: 'User', connection: 'c', id: 'u1', data: user('a') }, { op: 'audit', records: [{ action: 'user.create' }] }] });
    await store.commit({ changes: [{ op: 'create', type: 'User', connection: 'c', id: 'u2', data: user('b') }] });
    const r3 = await store.commit({ changes: [{ op: 'delete', type: 'User', connection: 'c', id: 'u1' }, { op: 'audit', records: [{ action: 'user.delete' }] }] });
    await store.close();
    expect(sink.got).toEqual([
      { seq: r1.seq, records: [{ action: 'user.create' }] },
      { seq: r3.seq, records: [{ action: 'user.delete' }] },
    ]);
  });

  it('records a crash left in the journal only are handed over at the next open, once', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, { auditSink: recordingSink(0, true) }); // the hand-over never completes
    const r = await store.commit({ changes: [{ op: 'create', type: 'User', connection: 'c', id: 'u1', data: user('a') }, { op: 'audit', records: [{ action: 'user.create' }] }] });
    const image = await crashImage(dir);
    const sink = recordingSink(0);
    const reopened = await openStore(image, { auditSink: sink });
    expect(sink.got).toEqual([{ seq: r.seq, records: [{ action: 'user.create' }] }]);
    await reopened.close();
    const again = recordingSink(r.seq);
    const third = await openStore(image, { auditSink: again });
    expect(again.got).toEqual([]); // the sink already has it
    await third.close();
  });
});
