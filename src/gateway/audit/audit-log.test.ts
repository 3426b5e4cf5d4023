import { appendFile, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLogger, cleanupDirs, fakeClock, tempDir, userDraft } from './audit.fixture.js';
import { createAuditLog, GENESIS_HASH, recordHash, type AuditIo, type AuditLog, type AuditRecord } from './index.js';

afterEach(cleanupDirs);

const logs: AuditLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close();
});

async function openLog(dir: string, opts: Parameters<typeof createAuditLog>[1] = {}, logger = captureLogger()): Promise<AuditLog> {
  const log = createAuditLog({ dataDir: dir, fsync: false, logger }, opts);
  await log.open();
  logs.push(log);
  return log;
}

async function lines(dir: string, file = 'audit.jsonl'): Promise<string[]> {
  return (await readFile(join(dir, file), 'utf8')).split('\n').filter(Boolean);
}

async function writeLines(dir: string, ls: string[], file = 'audit.jsonl'): Promise<void> {
  await writeFile(join(dir, file), ls.map((l) => l + '\n').join(''));
}

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString('utf8');
    cb();
  }
}

describe('append', () => {
  it('assigns seq, time and a hash chain from the genesis hash', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    const [a] = await log.append([userDraft(1)]);
    const [b, c] = await log.append([userDraft(2), userDraft(3)]);
    expect([a.seq, b.seq, c.seq]).toEqual([1, 2, 3]);
    expect(a.prevHash).toBe(GENESIS_HASH);
    expect(b.prevHash).toBe(a.hash);
    expect(c.prevHash).toBe(b.hash);
    expect(recordHash(b)).toBe(b.hash);
    expect(Date.parse(a.time)).not.toBeNaN();
    const onDisk = (await lines(dir)).map((l) => JSON.parse(l) as AuditRecord);
    expect(onDisk).toEqual([a, b, c]);
    expect(await log.verify()).toEqual({ ok: true, records: 3 });
  });

  it('continues the chain after a reopen and remembers the last storeSeq', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    await log.append([userDraft(1), userDraft(7), userDraft(3, { storeSeq: undefined })]);
    expect(log.lastStoreSeq()).toBe(7);
    await log.close();
    const again = await openLog(dir);
    expect(again.lastStoreSeq()).toBe(7);
    const [r] = await again.append([userDraft(8)]);
    expect(r.seq).toBe(4);
    expect(again.lastStoreSeq()).toBe(8);
    expect(await again.verify()).toEqual({ ok: true, records: 4 });
  });

  it('refuses a draft that is not a valid audit draft', async () => {
    const log = await openLog(await tempDir());
    await expect(log.append([{ ...userDraft(1), result: 'maybe' as 'success' }])).rejects.toThrow();
    const [r] = await log.append([userDraft(1)]);
    expect(r.seq).toBe(1);
  });

  it('keeps only changed attributes and masks secrets before hashing', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    const [r] = await log.append([
      userDraft(1, {
        action: 'user.update',
        changes: [
          { attribute: 'displayName', before: 'A', after: 'A' },
          { attribute: 'title', before: 'Dev', after: 'Lead' },
          { attribute: 'password', after: 'hunter2' },
        ],
        detail: 'called with scb_AbCdEfGhIjKlMnOp',
      }),
    ]);
    expect(r.changes).toEqual([
      { attribute: 'title', before: 'Dev', after: 'Lead' },
      { attribute: 'password', after: '[REDACTED]' },
    ]);
    const text = await readFile(join(dir, 'audit.jsonl'), 'utf8');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('AbCdEfGhIjKlMnOp');
  });
});

describe('group commit', () => {
  it('200 concurrent appends share writes, with seq strictly increasing and no gap', async () => {
    const dir = await tempDir();
    let writes = 0;
    let syncs = 0;
    const io: AuditIo = {
      write: async (h, buf, pos) => {
        writes++;
        return (await h.write(buf, 0, buf.length, pos)).bytesWritten;
      },
      datasync: async (h) => {
        syncs++;
        await h.datasync();
      },
      truncate: (h, len) => h.truncate(len),
    };
    const log = createAuditLog({ dataDir: dir, fsync: true, logger: captureLogger() }, { io });
    await log.open();
    logs.push(log);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append([userDraft(i + 1)])));
    const seqs = results.map((r) => r[0].seq);
    expect(new Set(seqs).size).toBe(200);
    const onDisk = (await lines(dir)).map((l) => (JSON.parse(l) as AuditRecord).seq);
    expect(onDisk).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(writes).toBeLessThan(200);
    expect(syncs).toBe(writes);
    expect(await log.verify()).toEqual({ ok: true, records: 200 });
  });

  it('a failed write rejects every pending append and cuts the file back, leaving no gap', async () => {
    const dir = await tempDir();
    let failNext = false;
    const io: AuditIo = {
      write: async (h, buf, pos) => {
        if (failNext) {
          // half the batch reaches the file, then the disk is full
          await h.write(buf, 0, Math.floor(buf.length / 2), pos);
          throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
        }
        return (await h.write(buf, 0, buf.length, pos)).bytesWritten;
      },
      datasync: (h) => h.datasync(),
      truncate: (h, len) => h.truncate(len),
    };
    const logger = captureLogger();
    const log = await openLog(dir, { io }, logger);
    await log.append([userDraft(1), userDraft(2)]);
    const sizeBefore = (await readFile(join(dir, 'audit.jsonl'))).length;
    failNext = true;
    // two durable appends (their records are lost) and one the store journal holds (durable: false)
    const failing = Promise.allSettled([log.append([userDraft(3)]), log.append([userDraft(4)], { durable: false }), log.append([userDraft(5)])]);
    const settled = await failing;
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
    expect(log.recordsLost()).toBe(2);
    expect(String((settled[0] as PromiseRejectedResult).reason)).toMatch(/ENOSPC/);
    expect((await readFile(join(dir, 'audit.jsonl'))).length).toBe(sizeBefore);
    expect(logger.lines.some((l) => l.level === 'error')).toBe(true);
    failNext = false;
    const [r] = await log.append([userDraft(6)]);
    expect(r.seq).toBe(3);
    expect(log.lastStoreSeq()).toBe(6);
    expect(await log.verify()).toEqual({ ok: true, records: 3 });
  });
});

describe('close', () => {
  it('writes what was queued before it, then refuses new appends', async () => {
    const dir = await tempDir();
    const log = createAuditLog({ dataDir: dir, fsync: false, logger: captureLogger() });
    await log.open();
    const queued = [log.append([userDraft(1)]), log.append([userDraft(2)])];
    await log.close();
    expect((await Promise.all(queued)).map((r) => r[0].seq)).toEqual([1, 2]);
    await expect(log.append([userDraft(3)])).rejects.toThrow(/not open/);
    expect(await log.verify()).toEqual({ ok: true, records: 2 });
  });
});

describe('query', () => {
  async function seeded(): Promise<{ log: AuditLog; clock: ReturnType<typeof fakeClock> }> {
    const clock = fakeClock();
    const log = await openLog(await tempDir(), { now: clock.now });
    for (let i = 1; i <= 30; i++) {
      clock.advance(60_000);
      const token = i % 3 === 0 ? 'tok_2' : 'tok_1';
      await log.append([
        userDraft(i, {
          actor: { kind: 'scim-token', id: token },
          action: i % 2 === 0 ? 'user.update' : 'group.update',
          resource: { type: i % 2 === 0 ? 'User' : 'Group', id: `r${i % 5}` },
          connection: i <= 20 ? 'default' : 'acme',
        }),
      ]);
      if (i === 10 || i === 20) await log.rotate();
    }
    await log.append([{ actor: { kind: 'admin', id: 'alice' }, action: 'admin.token.revoke', result: 'success' }]);
    return { log, clock };
  }

  it('returns newest first and pages with a cursor across rotated files', async () => {
    const { log } = await seeded();
    const seen: number[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await log.query({ limit: 7, cursor });
      seen.push(...page.records.map((r) => r.seq));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(Array.from({ length: 31 }, (_, i) => 31 - i));
  });

  it('pages deep into a large active file through its sparse offset index, before and after a reopen', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    for (let i = 0; i < 3000; i += 500) await log.append(Array.from({ length: 500 }, (_, j) => userDraft(i + j + 1)));
    const pageAt = async (l: AuditLog, cursor: string) => (await l.query({ cursor, limit: 3 })).records.map((r) => r.seq);
    expect(await pageAt(log, '2049')).toEqual([2048, 2047, 2046]);
    expect(await pageAt(log, '1025')).toEqual([1024, 1023, 1022]);
    await log.close();
    const again = await openLog(dir);
    expect(await pageAt(again, '2049')).toEqual([2048, 2047, 2046]); // index not built yet, or built: same answer
    expect(await again.startupCheck()).toEqual({ ok: true, records: 3000 });
    await again.append([userDraft(3001)]);
    const cursors = ['3002', '3001', '2049', '2048', '1025', '1024', '2'];
    const expected = (c: string) => [Number(c) - 1, Number(c) - 2, Number(c) - 3].filter((n) => n >= 1);
    for (const c of cursors) expect(await pageAt(again, c)).toEqual(expected(c));
    // the same pages once the records are in a rotated file, whose index is built on demand
    await again.rotate();
    await again.append([userDraft(3002)]);
    for (const c of cursors) expect(await pageAt(again, c)).toEqual(expected(c));
  });

  it('filters by token, actor, resource, action (exact and prefix), connection and time', async () => {
    const { log } = await seeded();
    const all = async (q: Parameters<AuditLog['query']>[0]) => (await log.query({ ...q, limit: 1000 })).records.map((r) => r.seq);
    expect(await all({ tokenId: 'tok_2' })).toEqual([30, 27, 24, 21, 18, 15, 12, 9, 6, 3]);
    expect(await all({ actor: 'alice' })).toEqual([31]);
    expect(await all({ actorKind: 'admin' })).toEqual([31]);
    expect(await all({ resourceType: 'User', resourceId: 'r0' })).toEqual([30, 20, 10]);
    expect(await all({ action: 'group.update', connection: 'acme' })).toEqual([29, 27, 25, 23, 21]);
    expect(await all({ action: 'admin.*' })).toEqual([31]);
    expect((await all({ action: 'user.*' })).length).toBe(15);
    // record i was written at start + i minutes
    const t = (i: number) => new Date(Date.parse('2026-01-01T00:00:00.000Z') + i * 60_000);
    expect(await all({ from: t(5), to: t(8) })).toEqual([7, 6, 5]);
    expect(await all({ from: t(28).toISOString() })).toEqual([31, 30, 29, 28]);
    await expect(log.query({ cursor: 'x' })).rejects.toThrow(/cursor/);
  });
});

describe('export', () => {
  it('exports JSON Lines byte for byte and CSV with a header and RFC 4180 quoting', async () => {
    const dir = await tempDir();
    const clock = fakeClock();
    const log = await openLog(dir, { now: clock.now });
    await log.append([userDraft(1, { detail: 'said "hi", then\nleft', resource: { type: 'User', id: 'u1', display: '=cmd()' } })]);
    clock.advance(86_400_000);
    await log.append([userDraft(2)]);
    const jsonl = new Sink();
    expect(await log.export({ format: 'jsonl' }, jsonl)).toEqual({ records: 2, skipped: 0 });
    expect(jsonl.text).toBe(await readFile(join(dir, 'audit.jsonl'), 'utf8'));

    const csv = new Sink();
    await log.export({ format: 'csv', until: new Date(Date.parse('2026-01-01T12:00:00Z')) }, csv);
    const rows = csv.text.split('\r\n');
    expect(rows[0]).toBe('seq,time,actorKind,actorId,actorName,connection,action,resourceType,resourceId,resourceDisplay,changes,result,detail,requestId,storeSeq,prevHash,hash');
    expect(rows[1]).toContain(`,"said ""hi"", then\nleft",`);
    expect(rows[1]).toContain(`,'=cmd(),`);
    expect(rows[1]).toContain(`,"[{""attribute"":""userName"",""after"":""user1@example.com""}]",`);
    expect(rows.length).toBe(3); // header, one record, trailing empty after the last CRLF

    const since = new Sink();
    await log.export({ format: 'jsonl', since: new Date(Date.parse('2026-01-01T12:00:00Z')) }, since);
    expect(since.text.trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).seq)).toEqual([2]);
  });
});

describe('rotation, retention and verify', () => {
  it('rotates into audit-<first>-<last>.jsonl and verifies the chain across files', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    await log.append([userDraft(1), userDraft(2)]);
    expect(await log.rotate()).toBe('audit-000000000001-000000000002.jsonl');
    expect(await log.rotate()).toBeUndefined(); // nothing new to rotate
    const [r3] = await log.append([userDraft(3)]);
    await log.rotate();
    await log.append([userDraft(4)]);
    expect(r3.prevHash).toBe(JSON.parse((await lines(dir, 'audit-000000000001-000000000002.jsonl'))[1]).hash);
    expect(await log.verify()).toEqual({ ok: true, records: 4 });
    await log.close();
    // a reopen after rotation continues from the rotated file
    const again = await openLog(dir);
    expect(again.lastStoreSeq()).toBe(4);
    expect((await again.append([userDraft(5)]))[0].seq).toBe(5);
    expect(await again.verify()).toEqual({ ok: true, records: 5 });
  });

  it('rotates, queries and verifies while appends are in flight, without a gap', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    const work: Array<Promise<unknown>> = [];
    for (let i = 1; i <= 300; i++) {
      work.push(log.append([userDraft(i)]));
      if (i % 50 === 0) work.push(log.rotate(), log.query({ limit: 5 }), log.verify());
    }
    await Promise.all(work);
    expect(await log.verify()).toEqual({ ok: true, records: 300 });
    const seqs: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await log.query({ limit: 64, cursor });
      seqs.push(...page.records.map((r) => r.seq));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => 300 - i));
  });

  it('detects a whole rotated file removed, and a rotated file cut short', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    for (let i = 1; i <= 6; i++) {
      await log.append([userDraft(i)]);
      if (i % 2 === 0) await log.rotate();
    }
    const second = 'audit-000000000003-000000000004.jsonl';
    const kept = await lines(dir, second);
    await writeLines(dir, kept.slice(0, 1), second);
    expect(await log.verify()).toMatchObject({ ok: false, file: second, line: 2, reason: expect.stringMatching(/truncated/) });
    await writeLines(dir, kept, second);
    expect(await log.verify()).toEqual({ ok: true, records: 6 });
    const { rm } = await import('node:fs/promises');
    await rm(join(dir, second));
    expect(await log.verify()).toMatchObject({ ok: false, file: 'audit-000000000005-000000000006.jsonl', line: 1, seq: 5, reason: expect.stringMatching(/removed/) });
  });

  it('retention deletes old rotated files, writes the anchor, and verify still passes', async () => {
    const dir = await tempDir();
    const clock = fakeClock();
    const log = await openLog(dir, { now: clock.now });
    for (let day = 0; day < 5; day++) {
      await log.append([userDraft(day * 2 + 1), userDraft(day * 2 + 2)]);
      await log.rotate();
      clock.advance(86_400_000);
    }
    await log.append([userDraft(11)]);
    // now = day 5: files of days 0 and 1 are entirely older than 3.5 days
    const deleted = await log.applyRetention(3.5);
    expect(deleted).toEqual(['audit-000000000001-000000000002.jsonl', 'audit-000000000003-000000000004.jsonl']);
    const anchor = JSON.parse(await readFile(join(dir, 'audit-anchor.json'), 'utf8')) as { seq: number; hash: string };
    expect(anchor.seq).toBe(4);
    const next = JSON.parse((await lines(dir, 'audit-000000000005-000000000006.jsonl'))[0]) as AuditRecord;
    expect(anchor.hash).toBe(next.prevHash);
    expect(await log.verify()).toEqual({ ok: true, records: 7 });
    expect(await log.applyRetention(3.5)).toEqual([]);
    // a leftover covered by the anchor (a crash before its deletion) is ignored, then removed
    await writeFile(join(dir, 'audit-000000000001-000000000002.jsonl'), 'junk\n');
    expect(await log.verify()).toEqual({ ok: true, records: 7 });
    expect(await log.applyRetention(3.5)).toEqual(['audit-000000000001-000000000002.jsonl']);
    await log.close();
    const again = await openLog(dir);
    expect((await again.append([userDraft(12)]))[0].seq).toBe(12);
    expect(await again.verify()).toEqual({ ok: true, records: 8 });
    expect((await readdir(dir)).sort()).toEqual([
      'audit-000000000005-000000000006.jsonl',
      'audit-000000000007-000000000008.jsonl',
      'audit-000000000009-000000000010.jsonl',
      'audit-anchor.json',
      'audit.jsonl',
    ]);
  });

  it('names an edited, a removed and a reordered line', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    await log.append([1, 2, 3, 4].map((i) => userDraft(i)));
    await log.close();
    const good = await lines(dir);

    await writeLines(dir, [good[0], good[1].replace('user2@', 'mallory@'), good[2], good[3]]);
    expect(await createAuditLog({ dataDir: dir }).verify()).toMatchObject({ ok: false, file: 'audit.jsonl', line: 2, seq: 2, reason: expect.stringMatching(/edited/) });

    await writeLines(dir, [good[0], good[2], good[3]]);
    expect(await createAuditLog({ dataDir: dir }).verify()).toMatchObject({ ok: false, line: 2, seq: 3, reason: expect.stringMatching(/removed/) });

    await writeLines(dir, [good[0], good[2], good[1], good[3]]);
    expect(await createAuditLog({ dataDir: dir }).verify()).toMatchObject({ ok: false, line: 2, seq: 3 });

    // an edit that recomputes the record's own hash still breaks the chain at the next record
    const forged = JSON.parse(good[1]) as AuditRecord;
    forged.result = 'failure';
    forged.hash = recordHash(forged);
    await writeLines(dir, [good[0], JSON.stringify(forged), good[2], good[3]]);
    expect(await createAuditLog({ dataDir: dir }).verify()).toMatchObject({ ok: false, line: 3, seq: 3, reason: expect.stringMatching(/prevHash/) });

    // a key added to a record counts too
    await writeLines(dir, [good[0], good[1].replace('{', '{"x":1,'), good[2], good[3]]);
    expect(await createAuditLog({ dataDir: dir }).verify()).toMatchObject({ ok: false, line: 2, reason: expect.stringMatching(/edited/) });
  });
});

describe('crash recovery at open', () => {
  it('cuts a torn last line with a warning and keeps appending', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    const [, second] = await log.append([userDraft(1), userDraft(2)]);
    await log.close();
    const full = await readFile(join(dir, 'audit.jsonl'));
    await appendFile(join(dir, 'audit.jsonl'), '{"action":"user.create","actor":{"id":"tok');
    expect(await createAuditLog({ dataDir: dir }).verify()).toMatchObject({ ok: false, line: 3, reason: expect.stringMatching(/incomplete/) });
    const logger = captureLogger();
    const again = await openLog(dir, {}, logger);
    expect(logger.lines.find((l) => l.level === 'warn')?.msg).toMatch(/incomplete last line/);
    expect(await again.startupCheck()).toEqual({ ok: true, records: 2 });
    expect((await readFile(join(dir, 'audit.jsonl'))).equals(full)).toBe(true);
    const [third] = await again.append([userDraft(3)]);
    expect(third.seq).toBe(3);
    expect(third.prevHash).toBe(second.hash);
    expect(await again.verify()).toEqual({ ok: true, records: 3 });
  });

  it('opens despite damage elsewhere, warns loudly, and verify reports it', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    await log.append([1, 2, 3].map((i) => userDraft(i)));
    await log.close();
    const good = await lines(dir);
    await writeLines(dir, [good[0], good[1].replace('"success"', '"failure"'), good[2]]);
    const logger = captureLogger();
    const again = await openLog(dir, {}, logger);
    // the check runs in the background: open did not wait for it
    expect(await again.startupCheck()).toMatchObject({ ok: false, file: 'audit.jsonl', line: 2, seq: 2 });
    expect(logger.lines.find((l) => l.level === 'error')?.msg).toMatch(/AUDIT LOG DAMAGED/);
    expect((await again.append([userDraft(4)]))[0].seq).toBe(4);
    expect(await again.verify()).toMatchObject({ ok: false, file: 'audit.jsonl', line: 2, seq: 2 });
  });

  it('treats an active file cut mid-record as torn, and one cut to nothing as empty', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    await log.append([userDraft(1)]);
    await log.close();
    await truncate(join(dir, 'audit.jsonl'), 10);
    const again = await openLog(dir);
    expect((await again.append([userDraft(2)]))[0]).toMatchObject({ seq: 1, prevHash: GENESIS_HASH });
    expect(await again.verify()).toEqual({ ok: true, records: 1 });
  });
});
