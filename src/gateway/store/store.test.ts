import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupDirs, crashImage, dump, openStore, tempDir, user } from '../../../test/fixtures/store/helpers.js';
import { createGroup, createUser, scimError } from './contract.test-suite.js';
import { createLowdbStore } from './index.js';

const C = 'okta';
const AT = '2025-01-02T03:04:05.000Z';

afterEach(cleanupDirs);

describe('createLowdbStore', () => {
  it('is exported and opens a missing data dir', async () => {
    const dir = join(await tempDir(), 'nested', 'data');
    const store = createLowdbStore({ dataDir: dir });
    await store.open();
    expect(await store.stats()).toMatchObject({ users: 0, groups: 0 });
    expect((await stat(join(dir, 'store.journal'))).size).toBe(0);
    expect(JSON.parse(await readFile(join(dir, 'store.lock'), 'utf8'))).toMatchObject({ pid: process.pid });
    await store.close();
    await expect(stat(join(dir, 'store.lock'))).rejects.toThrow(/ENOENT/);
  });
});

// CRUD, uniqueness, versions, membership and queries are in the Store contract suite
// (contract.test-suite.ts), which runs on this store and on PostgreSQL. Here: what is this store's own.

describe('seq numbers', () => {
  it('start at 1, and a refused commit uses none', async () => {
    const store = await openStore(await tempDir());
    expect((await store.commit({ changes: [createUser('u1', 'a')], at: AT })).seq).toBe(1);
    const e = await scimError(store.commit({ changes: [createUser('u2', 'b'), createGroup('g1', 'G'), createUser('u3', 'A')] }));
    expect(e.status).toBe(409);
    expect((await store.commit({ changes: [createUser('u4', 'd')] })).seq).toBe(2);
    await store.close();
  });
});

describe('membership', () => {
  it('journals member changes as deltas: adding to a 50k-member group appends a small line', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, { fsync: false });
    const ids = Array.from({ length: 50_001 }, (_, i) => `u${i}`);
    for (let i = 0; i < ids.length; i += 5000) {
      await store.commit({ changes: ids.slice(i, i + 5000).map((id) => createUser(id, id)) });
    }
    await store.commit({ changes: [createGroup('big', 'Big')] });
    for (let i = 0; i < 50_000; i += 10_000) {
      await store.commit({ changes: [{ op: 'members', connection: C, groupId: 'big', add: ids.slice(i, i + 10_000).map((value) => ({ value })) }] });
    }
    const before = (await store.stats()).journalBytes;
    const t0 = performance.now();
    await store.commit({ changes: [{ op: 'members', connection: C, groupId: 'big', add: [{ value: 'u50000' }], remove: ['u7'] }] });
    const ms = performance.now() - t0;
    expect((await store.stats()).journalBytes - before).toBeLessThan(300);
    expect(ms).toBeLessThan(50);
    expect((await store.get(C, 'Group', 'big'))!.memberCount).toBe(50_000);
    expect(await store.hasMember(C, 'big', 'u7')).toBe(false);
    const list = await store.members(C, 'big');
    expect(list.at(-1)).toEqual({ value: 'u50000', type: 'User' });
    await store.close();
    const again = await openStore(dir);
    expect((await again.members(C, 'big')).map((m) => m.value)).toEqual(list.map((m) => m.value));
    await again.close();
  });
});

describe('durability basics', () => {
  it('reopens after close with identical content, and continues the seq', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    await store.commit({ changes: [createUser('u1', 'a'), createUser('u2', 'b', { emails: [{ value: 'b@x' }] })] });
    await store.commit({ changes: [createGroup('g1', 'G', [{ value: 'u2' }, { value: 'u1' }])] });
    await store.commit({ changes: [{ op: 'delete', type: 'User', connection: C, id: 'u1' }] });
    const before = await dump(store, C);
    await store.close();
    expect(JSON.parse(await readFile(join(dir, 'db.json'), 'utf8'))).toMatchObject({ format: 1, seq: 3 });
    expect((await stat(join(dir, 'store.journal'))).size).toBe(0);
    const again = await openStore(dir);
    expect(await dump(again, C)).toEqual(before);
    expect((await again.findOne(C, 'User', 'email', 'B@X'))?.id).toBe('u2');
    expect((await again.commit({ changes: [createUser('u3', 'c')] })).seq).toBe(4);
    await again.close();
  });

  it('replays the journal of a store that was never closed (crash)', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    for (let i = 0; i < 20; i++) await store.commit({ changes: [createUser(`u${i}`, `n${i}`)] });
    await store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'u3', data: user('n3', { title: 't' }) }] });
    const image = await crashImage(dir);
    const before = await dump(store, C);
    await store.close();
    const again = await openStore(image);
    expect(await dump(again, C)).toEqual(before);
    expect((await again.commit({ changes: [createUser('x', 'x')] })).seq).toBe(22);
    await again.close();
  });

  it('group commit: concurrent commits share writes, each acknowledged once durable', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.commit({ changes: [createUser(`u${i}`, `n${i}`)] })));
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const lines = (await readFile(join(dir, 'store.journal'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(200);
    const batches = new Set(lines.map((l) => (JSON.parse(l) as { b: number }).b));
    expect(batches.size).toBeLessThan(50);
    await store.close();
  });

  it('refuses commits when not open', async () => {
    const store = createLowdbStore({ dataDir: await tempDir() });
    const e = await scimError(store.commit({ changes: [createUser('u1', 'a')] }));
    expect(e.status).toBe(503);
  });
});
