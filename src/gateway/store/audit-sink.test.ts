/** Audit records ride in the commit (one fsync) and reach the sink in order, even across a crash. */
import { afterEach, describe, expect, it } from 'vitest';
import { captureLogger, cleanupDirs, crashImage, openStore, tempDir, user } from '../../../test/fixtures/store/helpers.js';
import type { AuditSink } from './index.js';

afterEach(cleanupDirs);

function recordingSink(lastSeq = 0, hang = false): AuditSink & { got: Array<{ seq: number; records: unknown[] }> } {
  const got: Array<{ seq: number; records: unknown[] }> = [];
  return {
    got,
    lastSeq: () => Math.max(lastSeq, ...got.map((g) => g.seq)),
    append: (commits) => (hang ? new Promise<void>(() => {}) : (got.push(...commits), Promise.resolve())),
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

  it('hands over without waiting for the previous hand-over to settle (the sink queues them in order)', async () => {
    const calls: Array<Array<{ seq: number }>> = [];
    const release: Array<() => void> = [];
    const sink: AuditSink = {
      lastSeq: () => 0,
      append: (commits) => {
        calls.push(commits.map((c) => ({ seq: c.seq })));
        return new Promise<void>((r) => release.push(r));
      },
    };
    const store = await openStore(await tempDir(), { auditSink: sink });
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await store.commit({ changes: [{ op: 'create', type: 'User', connection: 'c', id: `u${i}`, data: user(`u${i}`) }, { op: 'audit', records: [{ i }] }] });
      seqs.push(r.seq);
    }
    // none of the five hand-overs has settled, and all five reached the sink, in commit order
    expect(calls.flat().map((c) => c.seq)).toEqual(seqs);
    const closed = store.close();
    for (const r of release) r();
    await closed;
  });

  it('after a refusal hands over nothing more until it retries, and the next open hands over everything from the refused commit on', async () => {
    const dir = await tempDir();
    const got: Array<{ seq: number; records: unknown[] }> = [];
    let refuse = false;
    const log = captureLogger();
    const sink: AuditSink = {
      lastSeq: () => got.at(-1)?.seq ?? 0,
      append: async (commits) => {
        if (refuse) throw new Error('disk full');
        got.push(...commits);
      },
    };
    const store = await openStore(dir, { auditSink: sink, logger: log }, { auditRetryMs: 60_000 }); // no retry within this test
    const commit = (i: number) => store.commit({ changes: [{ op: 'create', type: 'User', connection: 'c', id: `u${i}`, data: user(`u${i}`) }, { op: 'audit', records: [{ i }] }] });
    const first = await commit(0);
    refuse = true;
    const refused = await commit(1);
    await new Promise((r) => setTimeout(r, 20));
    refuse = false; // the sink works again, but the store must not hand over past the gap
    const later = await commit(2);
    await store.close();
    expect(got.map((g) => g.seq)).toEqual([first.seq]);
    expect(log.lines.filter((l) => l.level === 'error' && /audit sink refused/.test(l.msg ?? ''))).toHaveLength(1);

    const reopened = await openStore(dir, { auditSink: sink });
    expect(got.map((g) => g.seq)).toEqual([first.seq, refused.seq, later.seq]);
    expect(got.map((g) => g.records)).toEqual([[{ i: 0 }], [{ i: 1 }], [{ i: 2 }]]);
    await reopened.close();
  });

  it('journals what prepare() returns, and leaves out a record prepare() refuses without holding back later ones', async () => {
    const dir = await tempDir();
    const log = captureLogger();
    const got: Array<{ seq: number; records: unknown[] }> = [];
    const sink: AuditSink = {
      lastSeq: () => got.at(-1)?.seq ?? 0,
      append: async (commits) => void got.push(...commits),
      prepare: (r) => {
        const { i, secret } = r as { i?: number; secret?: string };
        if (typeof i !== 'number') throw new Error('not an audit record: i: expected a number');
        return { i, ...(secret ? { secret: '[masked]' } : {}) };
      },
    };
    const store = await openStore(dir, { auditSink: sink, logger: log });
    const commit = (...records: unknown[]) => store.commit({ changes: [{ op: 'create', type: 'User', connection: 'c', id: `u${got.length}-${Math.random()}`, data: user(`u${Math.random()}`) }, { op: 'audit', records }] });
    const a = await commit({ i: 1, secret: 'hunter2' });
    const b = await commit({ i: 'two' }, { i: 3 });
    const c = await commit({ i: 4 });
    // the journal holds the prepared record, never what prepare() masked (read before close compacts it away)
    const { readdir, readFile } = await import('node:fs/promises');
    const files = await readdir(dir);
    const all = (await Promise.all(files.map((f) => readFile(`${dir}/${f}`, 'utf8').catch(() => '')))).join('');
    expect(all).toContain('[masked]');
    expect(all).not.toContain('hunter2');
    await store.close();
    // the refused record is gone, its commit and the records around it are not
    expect(got).toEqual([
      { seq: a.seq, records: [{ i: 1, secret: '[masked]' }] },
      { seq: b.seq, records: [{ i: 3 }] },
      { seq: c.seq, records: [{ i: 4 }] },
    ]);
    expect(log.lines.filter((l) => l.level === 'error' && /not valid and was left out/.test(l.msg ?? ''))).toHaveLength(1);
  });

  it('once the sink accepts again, hands over from the journal what waited there, then each batch as before, without a restart', async () => {
    const dir = await tempDir();
    const got: Array<{ seq: number; records: unknown[] }> = [];
    let refuse = false;
    let refusals = 0;
    /** Once space returns: appends taken before the sink refuses once more (mid catch-up). */
    let takenBeforeRelapse = -1;
    const log = captureLogger();
    const sink: AuditSink = {
      lastSeq: () => got.at(-1)?.seq ?? 0,
      append: async (commits) => {
        if (refuse || takenBeforeRelapse === 0) {
          refusals++;
          takenBeforeRelapse = -1;
          throw new Error('ENOSPC: no space left on device');
        }
        if (takenBeforeRelapse > 0) takenBeforeRelapse--;
        got.push(...commits);
      },
    };
    // a small compaction threshold: segments rotate and must be kept while records wait in them
    const store = await openStore(dir, { auditSink: sink, logger: log, compactAfterBytes: 2_000 }, { auditRetryMs: 30 });
    let n = 0;
    const commit = () => {
      const i = n++;
      return store.commit({ changes: [{ op: 'create', type: 'User', connection: 'c', id: `u${i}`, data: user(`u${i}`) }, { op: 'audit', records: [{ i }] }] });
    };
    const seqs: number[] = [];
    for (let k = 0; k < 5; k++) seqs.push((await commit()).seq);
    // commits without audit records, compacted away before the refusal: the catch-up must not look for them
    for (let k = 0; k < 30; k++) await store.commit({ changes: [{ op: 'create', type: 'Group', connection: 'c', id: `g${k}`, data: { displayName: `G${k}` } }] });
    expect((await store.stats()).compactions).toBeGreaterThan(0);
    refuse = true;
    const before = await store.stats();
    for (let k = 0; k < 40; k++) seqs.push((await commit()).seq); // through several rotations and compactions
    const behind = await store.stats();
    expect(behind.auditBehind).toBe(true);
    // segments kept for the sink do not count toward the next compaction: one per 2 000 new bytes, not one per commit
    expect(behind.compactions! - before.compactions!).toBeLessThanOrEqual(Math.ceil((behind.journalBytes - before.journalBytes) / 2_000));
    await new Promise((r) => setTimeout(r, 120)); // retries that are refused again
    expect(refusals).toBeGreaterThan(1);
    const refusedWhileFull = refusals;
    takenBeforeRelapse = 2; // the catch-up reads one segment per append: it is refused again part way
    refuse = false;
    const deadline = Date.now() + 5_000;
    // commits go on while it catches up: none may fall between the journal read and the hand-overs
    while ((await store.stats()).auditBehind && Date.now() < deadline) {
      seqs.push(...(await Promise.all([commit(), commit()])).map((r) => r.seq));
      await new Promise((r) => setTimeout(r, 2));
    }
    expect((await store.stats()).auditBehind).toBe(false);
    expect(refusals).toBe(refusedWhileFull + 1);
    for (let k = 0; k < 5; k++) seqs.push((await commit()).seq);
    await store.close();
    // every commit's record, once (nothing handed over twice after the relapse), in commit order
    expect(got.map((g) => g.seq)).toEqual(seqs);
    expect(got.map((g) => g.records).flat().map((r) => (r as { i: number }).i).sort((a, b) => a - b)).toEqual(seqs.map((_, i) => i));
    expect(log.lines.filter((l) => /accepts records again/.test(l.msg ?? ''))).toHaveLength(1);
    // and the next open has nothing left to hand over
    const again: typeof got = [];
    const reopened = await openStore(dir, { auditSink: { lastSeq: () => got.at(-1)!.seq, append: async (c) => void again.push(...c) } });
    await reopened.close();
    expect(again).toEqual([]);
  });

  it('counts records left out as not valid, in stats', async () => {
    const sink: AuditSink = {
      lastSeq: () => 0,
      append: async () => undefined,
      prepare: (r) => {
        if ((r as { ok?: boolean }).ok !== true) throw new Error('not an audit record');
        return r;
      },
    };
    const store = await openStore(await tempDir(), { auditSink: sink });
    await store.commit({ changes: [{ op: 'audit', records: [{ ok: true }, { ok: false }, {}] }] });
    expect((await store.stats()).auditRecordsLeftOut).toBe(2);
    await store.close();
  });
});
