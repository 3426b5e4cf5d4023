/** The outbox and target links: committed with resource changes, ordered per resource, durable. */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupDirs, crashImage, openStore, tempDir, user } from '../../../test/fixtures/store/helpers.js';
import { outboxEntry } from './contract.test-suite.js';
import type { StoreIo } from './index.js';

afterEach(cleanupDirs);

const PAST = '2000-01-01T00:00:00.000Z';
const NOW = '2030-01-01T00:00:00.000Z';

describe('outbox', () => {
  it('commits entries with the resource change and delivers the oldest entry of each resource first', async () => {
    const store = await openStore(await tempDir());
    await store.commit({
      changes: [
        { op: 'create', type: 'User', connection: 'default', id: 'u1', data: user('a') },
        { op: 'outbox.add', entry: outboxEntry('op1', 'u1') },
      ],
    });
    await store.commit({ changes: [{ op: 'outbox.add', entry: outboxEntry('op2', 'u1', { kind: 'updateUser' }) }, { op: 'outbox.add', entry: outboxEntry('op3', 'u2') }] });
    expect((await store.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['op1', 'op3']);
    expect((await store.outboxList()).map((e) => e.id)).toEqual(['op1', 'op2', 'op3']);
    await store.commit({ changes: [{ op: 'outbox.remove', id: 'op1' }, { op: 'link', connector: 'demo-1', resourceId: 'u1', key: 'uid=a' }] });
    // op3 is still claimed by the first call (its delivery has no outcome yet)
    expect((await store.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['op2']);
    expect(await store.linkOf('demo-1', 'u1')).toBe('uid=a');
    await store.close();
  });

  it('a dead entry holds back later entries of the same resource only; backoff delays an entry', async () => {
    const store = await openStore(await tempDir());
    await store.commit({ changes: [outboxEntry('a1', 'ua'), outboxEntry('a2', 'ua'), outboxEntry('b1', 'ub')].map((e) => ({ op: 'outbox.add' as const, entry: e })) });
    await store.commit({ changes: [{ op: 'outbox.update', id: 'a1', attempts: 5, nextAttemptAt: PAST, state: 'dead', lastError: 'target refused' }] });
    expect((await store.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['b1']);
    expect((await store.outboxList({ state: 'dead' }))[0]).toMatchObject({ id: 'a1', attempts: 5, lastError: 'target refused' });
    await store.commit({ changes: [{ op: 'outbox.update', id: 'b1', attempts: 1, nextAttemptAt: '2100-01-01T00:00:00.000Z', state: 'pending' }] });
    expect(await store.outboxDue(NOW, 10)).toEqual([]);
    expect(await store.stats()).toMatchObject({ outboxPending: 2, outboxDead: 1 });
    await store.close();
  });

  it('survives a crash (journal replay) and a compaction (snapshot)', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    await store.commit({ changes: [{ op: 'outbox.add', entry: outboxEntry('k1', 'u1') }, { op: 'link', connector: 'demo-1', resourceId: 'u9', key: 'row-9' }] });
    await store.commit({ changes: [{ op: 'outbox.update', id: 'k1', attempts: 2, nextAttemptAt: PAST, state: 'pending', lastError: 'ECONNREFUSED' }] });
    const image = await crashImage(dir);
    const replayed = await openStore(image);
    expect(await replayed.outboxList()).toEqual([expect.objectContaining({ id: 'k1', attempts: 2, lastError: 'ECONNREFUSED' })]);
    expect(await replayed.linkOf('demo-1', 'u9')).toBe('row-9');
    await replayed.close();
    await store.close(); // compacts into db.json
    const reopened = await openStore(dir);
    expect((await reopened.outboxList()).map((e) => e.id)).toEqual(['k1']);
    expect(await reopened.linkOf('demo-1', 'u9')).toBe('row-9');
    await reopened.close();
  });

  it('a failed journal write takes back the outbox entries of the commit with its resource change', async () => {
    let fail = false;
    const io: StoreIo = {
      async write(h, buf, off, len, pos) {
        if (fail) throw Object.assign(new Error('ENOSPC: simulated'), { code: 'ENOSPC' });
        return (await h.write(buf, off, len, pos)).bytesWritten;
      },
      datasync: (h) => h.datasync(),
      truncate: (h, len) => h.truncate(len),
    };
    const store = await openStore(await tempDir(), {}, { io });
    fail = true;
    await expect(
      store.commit({ changes: [{ op: 'create', type: 'User', connection: 'default', id: 'u1', data: user('a') }, { op: 'outbox.add', entry: outboxEntry('x1', 'u1') }] }),
    ).rejects.toMatchObject({ status: 503 });
    expect(await store.outboxList()).toEqual([]);
    expect(await store.get('default', 'User', 'u1')).toBeUndefined();
    fail = false;
    await store.close();
  });
});
