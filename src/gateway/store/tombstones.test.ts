/** Soft-deleted resources: out of every index, kept through crashes and compaction, undone on a failed write. */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupDirs, crashImage, openStore, tempDir, user } from '../../../test/fixtures/store/helpers.js';

afterEach(cleanupDirs);

describe('soft delete', () => {
  it('hides the user, frees its userName, and keeps the record through replay and compaction', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    await store.commit({ changes: [{ op: 'create', type: 'User', connection: 'c', id: 'u1', data: user('ann') }] });
    await store.commit({ changes: [{ op: 'delete', type: 'User', connection: 'c', id: 'u1', soft: true }] });
    expect(await store.get('c', 'User', 'u1')).toBeUndefined();
    expect(await store.findOne('c', 'User', 'userName', 'ann')).toBeUndefined();
    await store.commit({ changes: [{ op: 'create', type: 'User', connection: 'c', id: 'u2', data: user('ann') }] });
    expect((await store.deleted('c', 'User')).map((r) => [r.id, r.data.active])).toEqual([['u1', false]]);

    const replayed = await openStore(await crashImage(dir));
    expect((await replayed.deleted('c', 'User')).map((r) => r.id)).toEqual(['u1']);
    expect((await replayed.query({ connection: 'c', type: 'User', startIndex: 1, count: 10 })).totalResults).toBe(1);
    await replayed.close();

    await store.close(); // compacts
    const reopened = await openStore(dir);
    expect((await reopened.deleted('c', 'User')).map((r) => r.id)).toEqual(['u1']);
    expect((await reopened.get('c', 'User', 'u2'))?.data.userName).toBe('ann');
    await reopened.close();
  });

  it('a hard delete keeps nothing', async () => {
    const store = await openStore(await tempDir());
    await store.commit({ changes: [{ op: 'create', type: 'User', connection: 'c', id: 'u1', data: user('bob') }] });
    await store.commit({ changes: [{ op: 'delete', type: 'User', connection: 'c', id: 'u1' }] });
    expect(await store.deleted('c', 'User')).toEqual([]);
    await store.close();
  });
});
