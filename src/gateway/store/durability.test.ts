import { spawn, spawnSync } from 'node:child_process';
import { appendFile, copyFile, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { readlinkSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ScimError } from '../scim/index.js';
import { captureLogger, cleanupDirs, crashImage, dump, openStore, tempDir, user } from '../../../test/fixtures/store/helpers.js';
import type { Change, StoreIo } from './index.js';

const C = 'default';
afterEach(cleanupDirs);

const createUser = (id: string, extra: Record<string, unknown> = {}): Change => ({
  op: 'create',
  type: 'User',
  connection: C,
  id,
  data: user(`name-${id}`, extra),
});

/** Path of an open file handle (Linux), so that a fault can target the journal or the snapshot. */
const pathOf = (h: FileHandle): string => readlinkSync(`/proc/self/fd/${h.fd}`);

interface Fault {
  code: string;
  op: 'write' | 'datasync';
  /** only files whose path matches */
  match?: RegExp;
  /** write half of the buffer before failing (a torn write) */
  partial?: boolean;
  /** wait for this before failing / proceeding */
  gate?: Promise<void>;
  /** fail (true) or only wait at the gate (false) */
  fail?: boolean;
  reached?: () => void;
}

function faultyIo(): { io: StoreIo; fault: { current?: Fault } } {
  const fault: { current?: Fault } = {};
  const hit = async (h: FileHandle, op: Fault['op']): Promise<Fault | undefined> => {
    const f = fault.current;
    if (!f || f.op !== op || (f.match && !f.match.test(pathOf(h)))) return undefined;
    f.reached?.();
    if (f.gate) await f.gate;
    return f.fail === false ? undefined : f;
  };
  const err = (f: Fault) => Object.assign(new Error(`${f.code}: simulated`), { code: f.code });
  const io: StoreIo = {
    async write(h, buf, off, len, pos) {
      const f = await hit(h, 'write');
      if (f) {
        if (f.partial && len > 1) await h.write(buf, off, Math.floor(len / 2), pos);
        throw err(f);
      }
      return (await h.write(buf, off, len, pos)).bytesWritten;
    },
    async datasync(h) {
      const f = await hit(h, 'datasync');
      if (f) throw err(f);
      await h.datasync();
    },
    truncate: (h, len) => h.truncate(len),
  };
  return { io, fault };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function journalLines(dir: string): Promise<string[]> {
  return (await readFile(join(dir, 'store.journal'), 'utf8')).split('\n').filter(Boolean);
}

describe('disk full / IO errors', () => {
  for (const variant of [
    { name: 'ENOSPC on a torn write', fault: { code: 'ENOSPC', op: 'write', partial: true } as Fault },
    { name: 'EIO on fdatasync', fault: { code: 'EIO', op: 'datasync' } as Fault },
  ]) {
    it(`${variant.name}: rejects the batch and everything queued, undoes memory and the journal, recovers`, async () => {
      const dir = await tempDir();
      const { io, fault } = faultyIo();
      const log = captureLogger();
      const store = await openStore(dir, { logger: log }, { io });
      await store.commit({ changes: [createUser('u1'), createUser('u2', { emails: [{ value: 'two@x' }] }), createUser('u3')] });
      await store.commit({
        changes: [{ op: 'create', type: 'Group', connection: C, id: 'g1', data: { displayName: 'G' }, members: [{ value: 'u1' }, { value: 'u2' }, { value: 'u3' }] }],
      });
      const before = await dump(store, C);
      const journalBefore = (await stat(join(dir, 'store.journal'))).size;

      fault.current = variant.fault;
      const attempts = [
        store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'u1', data: user('name-u1', { title: 'x' }) }] }),
        store.commit({ changes: [{ op: 'delete', type: 'User', connection: C, id: 'u2' }] }),
        store.commit({ changes: [createUser('u4')] }),
        store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g1', remove: ['u1'], add: [{ value: 'u4' }] }] }),
      ];
      const outcomes = await Promise.allSettled(attempts);
      for (const o of outcomes) {
        expect(o.status).toBe('rejected');
        const e = (o as PromiseRejectedResult).reason as ScimError;
        expect(e).toBeInstanceOf(ScimError);
        expect(e.status).toBe(503);
        expect(e.detail).toBe(`The data directory ${dir} cannot be written (${variant.fault.code}): nothing was changed. Free space and retry.`);
      }
      // memory: as before, including paging order and member order
      expect(await dump(store, C)).toEqual(before);
      expect((await store.findOne(C, 'User', 'email', 'two@x'))?.id).toBe('u2');
      expect(await store.groupsOf(C, 'u2')).toEqual([{ value: 'g1', display: 'G' }]);
      // disk: nothing half-written survives
      expect((await stat(join(dir, 'store.journal'))).size).toBe(journalBefore);
      const image = await crashImage(dir);
      expect(log.lines.some((l) => l.level === 'error')).toBe(true);

      // space returns
      fault.current = undefined;
      const ok = await store.commit({ changes: [{ op: 'delete', type: 'User', connection: C, id: 'u2' }] });
      expect(ok.seq).toBe(3);
      expect((await store.members(C, 'g1')).map((m) => m.value)).toEqual(['u1', 'u3']);
      const after = await dump(store, C);
      const image2 = await crashImage(dir);
      await store.close();

      const reopened = await openStore(image);
      expect(await dump(reopened, C)).toEqual(before);
      await reopened.close();
      const reopened2 = await openStore(image2);
      expect(await dump(reopened2, C)).toEqual(after);
      await reopened2.close();
    });
  }

  it('a failed snapshot write leaves the journal complete; the next compaction succeeds', async () => {
    const dir = await tempDir();
    const { io, fault } = faultyIo();
    const log = captureLogger();
    const store = await openStore(dir, { logger: log }, { io });
    for (let i = 0; i < 10; i++) await store.commit({ changes: [createUser(`u${i}`)] });
    fault.current = { code: 'ENOSPC', op: 'write', match: /\.tmp$/ };
    await store.compactNow();
    expect(log.lines.find((l) => l.level === 'warn')?.msg).toMatch(/compaction failed/);
    expect((await readdir(dir)).sort()).toEqual(['store.journal', 'store.journal.0000000000000010', 'store.lock']);
    await store.commit({ changes: [createUser('late')] });
    const before = await dump(store, C);
    const image = await crashImage(dir);
    fault.current = undefined;
    await store.compactNow();
    expect((await readdir(dir)).sort()).toEqual(['db.json', 'store.journal', 'store.lock']);
    await store.close();
    const a = await openStore(image);
    expect(await dump(a, C)).toEqual(before);
    await a.close();
    const b = await openStore(dir);
    expect(await dump(b, C)).toEqual(before);
    await b.close();
  });

  it('a snapshot never includes commits that were rolled back after it was taken', async () => {
    const dir = await tempDir();
    const { io, fault } = faultyIo();
    const store = await openStore(dir, {}, { io });
    await store.commit({ changes: [createUser('a')] });
    await store.compactNow();
    const gate = deferred();
    // the first journal fsync after the rotation waits, then fails
    fault.current = { code: 'EIO', op: 'datasync', match: /store\.journal$/, gate: gate.promise };
    const compaction = store.compactNow();
    // applied now, written to the fresh segment after the rotation: the snapshot includes it
    const b = store.commit({ changes: [createUser('b')] });
    while (!(await readdir(dir)).some((f) => f.endsWith('.tmp'))) await new Promise((r) => setTimeout(r, 2));
    gate.resolve();
    await expect(b).rejects.toThrow(/cannot be written \(EIO\)/);
    await compaction;
    fault.current = undefined;
    expect(await readFile(join(dir, 'db.json'), 'utf8')).not.toContain('name-b');
    expect(await store.get(C, 'User', 'b')).toBeUndefined();
    await store.close();
    const again = await openStore(dir);
    expect(await again.get(C, 'User', 'b')).toBeUndefined();
    expect(await again.get(C, 'User', 'a')).toBeDefined();
    await again.close();
  });
});

describe('crash recovery', () => {
  async function fiveCommits(): Promise<{ dir: string; image: string; before: unknown }> {
    const dir = await tempDir();
    const store = await openStore(dir);
    for (let i = 1; i <= 5; i++) await store.commit({ changes: [createUser(`u${i}`)] });
    const image = await crashImage(dir);
    const before = await dump(store, C);
    await store.close();
    return { dir, image, before };
  }

  it('cuts a torn last line away with a warning', async () => {
    const { image, before } = await fiveCommits();
    const lines = await journalLines(image);
    const size = (await stat(join(image, 'store.journal'))).size;
    await appendFile(join(image, 'store.journal'), lines[0].slice(0, 40));
    const log = captureLogger();
    const store = await openStore(image, { logger: log });
    expect(await dump(store, C)).toEqual(before);
    const warn = log.lines.find((l) => l.level === 'warn');
    expect(warn?.msg).toContain('store.journal line 6 was torn');
    expect((await stat(join(image, 'store.journal'))).size).toBe(size);
    expect((await store.commit({ changes: [createUser('u6')] })).seq).toBe(6);
    await store.close();
  });

  it('a last line cut short loses only that (unacknowledged) commit', async () => {
    const { image } = await fiveCommits();
    const size = (await stat(join(image, 'store.journal'))).size;
    await truncate(join(image, 'store.journal'), size - 10);
    const store = await openStore(image);
    expect((await store.stats()).users).toBe(4);
    expect(await store.get(C, 'User', 'u5')).toBeUndefined();
    await store.close();
  });

  it('zero-filled tail (size extended, data not written) is torn, not corrupt', async () => {
    const { image, before } = await fiveCommits();
    await appendFile(join(image, 'store.journal'), Buffer.alloc(4096));
    const store = await openStore(image);
    expect(await dump(store, C)).toEqual(before);
    await store.close();
  });

  it('refuses a corrupt line in the middle, naming file and line, and releases the lock', async () => {
    const { image } = await fiveCommits();
    const lines = await journalLines(image);
    lines[1] = lines[1].replace('name-u2', 'name-X2');
    await writeFile(join(image, 'store.journal'), lines.join('\n') + '\n');
    await expect(openStore(image)).rejects.toThrow(
      'store.journal line 2 is corrupt (checksum mismatch); the store was not opened. Restore the last backup, or move db.json and every store.journal* file aside together to start empty.',
    );
    expect(await readdir(image)).not.toContain('store.lock');
    // nothing was changed on disk
    expect(await journalLines(image)).toEqual(lines);
  });

  it('a damaged final batch (pages written out of order) is torn, not corrupt', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    await store.commit({ changes: [createUser('u1')] });
    await store.commit({ changes: [createUser('u2')] });
    await Promise.all([3, 4, 5].map((i) => store.commit({ changes: [createUser(`u${i}`)] })));
    const image = await crashImage(dir);
    await store.close();
    const lines = await journalLines(image);
    const batches = lines.map((l) => (JSON.parse(l) as { b: number }).b);
    expect(batches).toEqual([1, 2, 3, 4, 4]);
    lines[3] = '\0'.repeat(lines[3].length);
    await writeFile(join(image, 'store.journal'), lines.join('\n') + '\n');
    const again = await openStore(image);
    expect((await again.stats()).users).toBe(3);
    await again.close();
  });

  it('refuses an unreadable db.json', async () => {
    const { dir } = await fiveCommits();
    const text = await readFile(join(dir, 'db.json'), 'utf8');
    await writeFile(join(dir, 'db.json'), text.slice(0, text.length / 2));
    await expect(openStore(dir)).rejects.toThrow(/^db\.json is corrupt \(.*\); the store was not opened\. Restore the last backup/);
  });

  it('refuses a journal with a missing segment (seq gap)', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    for (let i = 1; i <= 3; i++) await store.commit({ changes: [createUser(`u${i}`)] });
    const image = await crashImage(dir);
    await store.close();
    const lines = await journalLines(image);
    await writeFile(join(image, 'store.journal'), [lines[0], lines[2]].join('\n') + '\n');
    await expect(openStore(image)).rejects.toThrow(/store\.journal line 2 is corrupt \(seq 3 follows seq 1\)/);
  });
});

describe('compaction', () => {
  it('rotates, snapshots and drops covered segments while writes go on', async () => {
    const dir = await tempDir();
    const log = captureLogger();
    const store = await openStore(dir, { compactAfterBytes: 20_000, logger: log });
    let n = 0;
    const worker = async (w: number) => {
      for (let i = 0; i < 60; i++) {
        const id = `w${w}-${i}`;
        await store.commit({ changes: [createUser(id, { title: 'x'.repeat(50) })] });
        if (i % 3 === 0) await store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id, data: user(`name-${id}`, { title: 'y' }), expectVersion: 1 }] });
        n++;
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
    expect(n).toBe(960);
    const stats = await store.stats();
    expect(stats.lastCompaction).toBeDefined();
    expect(stats.snapshotBytes).toBeGreaterThan(100_000);
    expect(stats.journalBytes).toBeLessThan(200_000);
    expect(log.lines.filter((l) => l.msg === 'store: compacted').length).toBeGreaterThan(2);
    expect(stats.compactions).toBe(log.lines.filter((l) => l.msg === 'store: compacted').length);
    const before = await dump(store, C);
    const image = await crashImage(dir);
    await store.close();
    const files = await readdir(dir);
    expect(files.filter((f) => f.startsWith('store.journal.'))).toEqual([]);
    for (const d of [dir, image]) {
      const again = await openStore(d);
      expect(await dump(again, C)).toEqual(before);
      await again.close();
    }
  });

  it('a crash in the middle of compaction (snapshot half written) replays from the rotated segments', async () => {
    const dir = await tempDir();
    const { io, fault } = faultyIo();
    const store = await openStore(dir, {}, { io, snapshotChunkBytes: 1024 });
    for (let i = 0; i < 30; i++) await store.commit({ changes: [createUser(`u${i}`, { title: 't'.repeat(100) })] });
    await store.compactNow(); // db.json at seq 30
    for (let i = 30; i < 60; i++) await store.commit({ changes: [createUser(`u${i}`, { title: 't'.repeat(100) })] });
    const gate = deferred();
    const reached = deferred();
    fault.current = { code: 'X', op: 'write', match: /\.tmp$/, gate: gate.promise, fail: false, reached: reached.resolve };
    const compaction = store.compactNow();
    await reached.promise;
    // writes continue into the fresh segment while the snapshot is being written
    for (let i = 60; i < 65; i++) await store.commit({ changes: [createUser(`u${i}`)] });
    const image1 = await crashImage(dir);
    const before = await dump(store, C);
    expect((await readdir(image1)).sort()).toEqual(
      expect.arrayContaining(['db.json', 'store.journal', 'store.journal.0000000000000060']),
    );
    fault.current = undefined;
    gate.resolve();
    await compaction;
    const image2 = await crashImage(dir);
    await store.close();
    // crash after db.json was replaced but before the old segment was deleted
    await copyFile(join(image1, 'store.journal.0000000000000060'), join(image2, 'store.journal.0000000000000060'));
    for (const d of [image1, image2]) {
      const again = await openStore(d);
      expect(await dump(again, C)).toEqual(before);
      await again.close();
      expect((await readdir(d)).filter((f) => f.endsWith('.tmp') || f.startsWith('store.journal.'))).toEqual([]);
    }
  });
});

describe('lock', () => {
  it('refuses a data dir in use by a live process, naming its pid', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    await expect(openStore(dir)).rejects.toThrow(`The data directory ${dir} is in use by process ${process.pid}`);
    await store.close();

    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      await writeFile(join(dir, 'store.lock'), JSON.stringify({ pid: child.pid }));
      await expect(openStore(dir)).rejects.toThrow(`is in use by process ${child.pid}`);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('takes over a stale lock (dead pid) with a warning', async () => {
    const dir = await tempDir();
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    await writeFile(join(dir, 'store.lock'), JSON.stringify({ pid: dead }) + '\n');
    const log = captureLogger();
    const store = await openStore(dir, { logger: log });
    expect(log.lines.find((l) => l.level === 'warn')).toMatchObject({ o: { pid: dead } });
    expect(JSON.parse(await readFile(join(dir, 'store.lock'), 'utf8'))).toMatchObject({ pid: process.pid });
    await store.close();
  });
});
