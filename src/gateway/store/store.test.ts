import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFilter } from '../scim/filter/index.js';
import { ScimError } from '../scim/index.js';
import {
  cleanupDirs,
  crashImage,
  dump,
  groupResolver,
  openStore,
  tempDir,
  user,
  userResolver,
} from '../../../test/fixtures/store/helpers.js';
import { createLowdbStore, type Change, type Store } from './index.js';

const C = 'okta';
const AT = '2025-01-02T03:04:05.000Z';

afterEach(cleanupDirs);

const createUser = (id: string, userName: string, extra: Record<string, unknown> = {}, connection = C): Change => ({
  op: 'create',
  type: 'User',
  connection,
  id,
  data: user(userName, extra),
});
const createGroup = (id: string, displayName: string, members?: Array<{ value: string }>): Change => ({
  op: 'create',
  type: 'Group',
  connection: C,
  id,
  data: { displayName },
  ...(members ? { members } : {}),
});

async function scimError(p: Promise<unknown>): Promise<ScimError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ScimError);
    return err as ScimError;
  }
  throw new Error('expected a ScimError');
}

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

describe('CRUD', () => {
  it('creates, reads, replaces and deletes with versions and timestamps', async () => {
    const store = await openStore(await tempDir());
    const r1 = await store.commit({ changes: [createUser('u1', 'bjensen@example.com', { title: 'a' })], at: AT });
    expect(r1.seq).toBe(1);
    expect(r1.resources[0]).toEqual({
      id: 'u1',
      type: 'User',
      connection: C,
      data: { userName: 'bjensen@example.com', active: true, title: 'a' },
      version: 1,
      created: AT,
      lastModified: AT,
    });
    expect(await store.get(C, 'User', 'u1')).toEqual(r1.resources[0]);
    expect(await store.get(C, 'Group', 'u1')).toBeUndefined();
    expect(await store.get('other', 'User', 'u1')).toBeUndefined();

    const later = '2025-02-02T00:00:00.000Z';
    const r2 = await store.commit({
      changes: [{ op: 'replace', type: 'User', connection: C, id: 'u1', data: user('bjensen@example.com', { title: 'b' }), expectVersion: 1 }],
      at: later,
    });
    expect(r2.resources[0]).toMatchObject({ version: 2, created: AT, lastModified: later, data: { title: 'b' } });

    const r3 = await store.commit({ changes: [{ op: 'delete', type: 'User', connection: C, id: 'u1' }] });
    expect(r3.resources).toEqual([]);
    expect(await store.get(C, 'User', 'u1')).toBeUndefined();
    expect(await store.findOne(C, 'User', 'userName', 'bjensen@example.com')).toBeUndefined();
    await store.close();
  });

  it('does not keep references to the caller objects', async () => {
    const store = await openStore(await tempDir());
    const data = user('x', { name: { givenName: 'X' } });
    await store.commit({ changes: [{ op: 'create', type: 'User', connection: C, id: 'u1', data }] });
    (data.name as { givenName: string }).givenName = 'changed';
    expect((await store.get(C, 'User', 'u1'))!.data.name).toEqual({ givenName: 'X' });
    await store.close();
  });

  it('404 for a missing target, 409 for a duplicate id', async () => {
    const store = await openStore(await tempDir());
    await store.commit({ changes: [createUser('u1', 'a')] });
    const e1 = await scimError(store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'nope', data: user('b') }] }));
    expect(e1.status).toBe(404);
    const e2 = await scimError(store.commit({ changes: [{ op: 'delete', type: 'Group', connection: C, id: 'u1' }] }));
    expect(e2.status).toBe(404);
    const e3 = await scimError(store.commit({ changes: [createGroup('u1', 'g')] }));
    expect(e3.status).toBe(409);
    await store.close();
  });

  it('applies all changes of a commit or none', async () => {
    const store = await openStore(await tempDir());
    await store.commit({ changes: [createUser('u1', 'a')] });
    const e = await scimError(store.commit({ changes: [createUser('u2', 'b'), createGroup('g1', 'G'), createUser('u3', 'A')] }));
    expect(e.status).toBe(409);
    expect(await store.get(C, 'User', 'u2')).toBeUndefined();
    expect(await store.get(C, 'Group', 'g1')).toBeUndefined();
    expect((await store.stats()).users).toBe(1);
    // the failed commit used no seq
    expect((await store.commit({ changes: [createUser('u4', 'd')] })).seq).toBe(2);
    await store.close();
  });
});

describe('uniqueness', () => {
  it('userName is unique per connection, case-insensitively, with a detail naming it', async () => {
    const store = await openStore(await tempDir());
    await store.commit({ changes: [createUser('u1', 'bjensen@example.com')] });
    const e = await scimError(store.commit({ changes: [createUser('u2', 'BJensen@Example.com')] }));
    expect(e.status).toBe(409);
    expect(e.scimType).toBe('uniqueness');
    expect(e.detail).toBe('userName "BJensen@Example.com" is already taken by another user in this connection');
    // another connection may use it
    await store.commit({ changes: [createUser('u2', 'bjensen@example.com', {}, 'entra')] });
    expect((await store.findOne('entra', 'User', 'userName', 'BJENSEN@example.com'))?.id).toBe('u2');
    expect((await store.findOne(C, 'User', 'userName', 'BJENSEN@example.com'))?.id).toBe('u1');
    await store.close();
  });

  it('externalId (exact) and group displayName (case-insensitive)', async () => {
    const store = await openStore(await tempDir());
    await store.commit({ changes: [createUser('u1', 'a', { externalId: 'E1' }), createGroup('g1', 'Admins')] });
    const e1 = await scimError(store.commit({ changes: [createUser('u2', 'b', { externalId: 'E1' })] }));
    expect(e1.detail).toBe('externalId "E1" is already taken by another user in this connection');
    await store.commit({ changes: [createUser('u2', 'b', { externalId: 'e1' })] });
    const e2 = await scimError(store.commit({ changes: [createGroup('g2', 'ADMINS')] }));
    expect(e2.detail).toBe('displayName "ADMINS" is already taken by another group in this connection');
    expect((await store.findOne(C, 'User', 'externalId', 'e1'))?.id).toBe('u2');
    expect((await store.findOne(C, 'Group', 'displayName', 'admins'))?.id).toBe('g1');
    await store.close();
  });

  it('a replace may keep its own userName, not take another one; a delete frees it', async () => {
    const store = await openStore(await tempDir());
    await store.commit({ changes: [createUser('u1', 'a'), createUser('u2', 'b')] });
    await store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'u1', data: user('A') }] });
    const e = await scimError(store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'u1', data: user('B') }] }));
    expect(e.status).toBe(409);
    expect((await store.get(C, 'User', 'u1'))!.data.userName).toBe('A');
    await store.commit({ changes: [{ op: 'delete', type: 'User', connection: C, id: 'u2' }] });
    await store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'u1', data: user('B') }] });
    expect((await store.findOne(C, 'User', 'userName', 'b'))?.id).toBe('u1');
    expect(await store.findOne(C, 'User', 'userName', 'a')).toBeUndefined();
    await store.close();
  });

  it('two creates with one userName in one commit conflict', async () => {
    const store = await openStore(await tempDir());
    const e = await scimError(store.commit({ changes: [createUser('u1', 'x'), createUser('u2', 'X')] }));
    expect(e.status).toBe(409);
    expect((await store.stats()).users).toBe(0);
    await store.close();
  });
});

describe('versions', () => {
  it('412 when expectVersion differs; one bump per commit', async () => {
    const store = await openStore(await tempDir());
    await store.commit({ changes: [createUser('u1', 'a'), createGroup('g1', 'G')] });
    const e = await scimError(
      store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'u1', data: user('a'), expectVersion: 2 }] }),
    );
    expect(e.status).toBe(412);
    expect(e.detail).toContain('W/"1"');
    const e2 = await scimError(store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g1', add: [{ value: 'u1' }], expectVersion: 7 }] }));
    expect(e2.status).toBe(412);
    // replace + members of one group in one commit: both checked against the version before, one bump
    const r = await store.commit({
      changes: [
        { op: 'members', connection: C, groupId: 'g1', add: [{ value: 'u1' }], expectVersion: 1 },
        { op: 'replace', type: 'Group', connection: C, id: 'g1', data: { displayName: 'G2' }, expectVersion: 1 },
      ],
    });
    expect(r.resources.map((x) => [x.id, x.version, x.memberCount])).toEqual([
      ['g1', 2, 1],
      ['g1', 2, 1],
    ]);
    expect((await store.get(C, 'Group', 'g1'))!.data).toEqual({ displayName: 'G2' });
    await store.close();
  });
});

describe('membership', () => {
  it('create with members, deltas, replaceAll, no-ops, groupsOf, hasMember', async () => {
    const store = await openStore(await tempDir());
    await store.commit({ changes: [createUser('u1', 'a'), createUser('u2', 'b'), createUser('u3', 'c')] });
    const r = await store.commit({ changes: [createGroup('g1', 'G1', [{ value: 'u1' }, { value: 'u2' }, { value: 'u1' }]), createGroup('g2', 'G2')] });
    expect(r.resources[0]).toMatchObject({ version: 1, memberCount: 2 });
    expect(await store.members(C, 'g1')).toEqual([
      { value: 'u1', type: 'User' },
      { value: 'u2', type: 'User' },
    ]);
    // nested group, display kept
    await store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g1', add: [{ value: 'g2', display: 'G2' }, { value: 'u1' }] }] });
    expect((await store.get(C, 'Group', 'g1'))!).toMatchObject({ version: 2, memberCount: 3 });
    expect(await store.members(C, 'g1')).toEqual([
      { value: 'u1', type: 'User' },
      { value: 'u2', type: 'User' },
      { value: 'g2', type: 'Group', display: 'G2' },
    ]);
    // no-op: no new version
    await store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g1', add: [{ value: 'u1' }], remove: ['u3'] }] });
    expect((await store.get(C, 'Group', 'g1'))!.version).toBe(2);
    await store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g2', add: [{ value: 'u1' }] }] });
    expect(await store.groupsOf(C, 'u1')).toEqual([
      { value: 'g1', display: 'G1' },
      { value: 'g2', display: 'G2' },
    ]);
    expect(await store.hasMember(C, 'g1', 'u2')).toBe(true);
    expect(await store.hasMember(C, 'g1', 'u3')).toBe(false);
    await store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g1', replaceAll: [{ value: 'u3' }], add: [{ value: 'u2' }] }] });
    expect((await store.members(C, 'g1')).map((m) => m.value)).toEqual(['u3', 'u2']);
    expect(await store.groupsOf(C, 'u1')).toEqual([{ value: 'g2', display: 'G2' }]);
    expect(await store.groupsOf(C, 'g2')).toEqual([]);
    await store.close();
  });

  it('refuses a member that does not exist in the connection', async () => {
    const store = await openStore(await tempDir());
    await store.commit({ changes: [createGroup('g1', 'G1'), createUser('u1', 'a', {}, 'other')] });
    const e = await scimError(store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g1', add: [{ value: 'u1' }] }] }));
    expect(e.status).toBe(400);
    expect(e.detail).toContain('"u1"');
    await store.close();
  });

  it('deleting a user or a group removes it from every group in the same commit', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    await store.commit({ changes: [createUser('u1', 'a'), createUser('u2', 'b')] });
    await store.commit({ changes: [createGroup('g1', 'G1', [{ value: 'u1' }, { value: 'u2' }]), createGroup('g2', 'G2', [{ value: 'u1' }])] });
    await store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g1', add: [{ value: 'g2' }] }] });
    const r = await store.commit({ changes: [{ op: 'delete', type: 'User', connection: C, id: 'u1' }], at: AT });
    expect(r.resources).toEqual([]);
    expect((await store.members(C, 'g1')).map((m) => m.value)).toEqual(['u2', 'g2']);
    expect(await store.members(C, 'g2')).toEqual([]);
    expect(await store.get(C, 'Group', 'g1')).toMatchObject({ version: 3, memberCount: 2, lastModified: AT });
    expect(await store.get(C, 'Group', 'g2')).toMatchObject({ version: 2, memberCount: 0, lastModified: AT });
    expect(await store.groupsOf(C, 'u1')).toEqual([]);
    await store.commit({ changes: [{ op: 'delete', type: 'Group', connection: C, id: 'g2' }] });
    expect((await store.members(C, 'g1')).map((m) => m.value)).toEqual(['u2']);
    const before = await dump(store, C);
    await store.close();
    const again = await openStore(dir);
    expect(await dump(again, C)).toEqual(before);
    await again.close();
  });

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

describe('query', () => {
  async function seeded(): Promise<Store> {
    const store = await openStore(await tempDir());
    await store.commit({
      changes: [
        createUser('u1', 'carol', { title: 'b', emails: [{ value: 'Carol@x.org', type: 'work' }] }),
        createUser('u2', 'alice', { title: 'A', emails: [{ value: 'alice@x.org', type: 'home' }, { value: 'shared@x.org', type: 'work', primary: true }] }),
        createUser('u3', 'bob', { emails: [{ value: 'shared@x.org', type: 'home' }] }),
        createUser('u4', 'dave', { title: 'c' }),
      ],
    });
    await store.commit({ changes: [createGroup('g1', 'Zeta', [{ value: 'u2' }]), createGroup('g2', 'alpha', [{ value: 'u3' }, { value: 'u2' }])] });
    return store;
  }
  const q = (store: Store, filter: string | undefined, extra: Partial<Parameters<Store['query']>[0]> = {}) =>
    store.query({
      connection: C,
      type: 'User',
      startIndex: 1,
      count: 100,
      ...(filter ? { filter: parseFilter(filter), resolver: extra.type === 'Group' ? groupResolver : userResolver } : {}),
      ...extra,
    });
  const ids = (r: { resources: Array<{ id: string }> }) => r.resources.map((x) => x.id);

  it('filters through indexes and by scanning', async () => {
    const store = await seeded();
    expect(ids(await q(store, 'userName eq "ALICE"'))).toEqual(['u2']);
    expect(ids(await q(store, 'emails.value eq "SHARED@x.org"'))).toEqual(['u2', 'u3']);
    expect(ids(await q(store, 'emails[type eq "work"].value eq "shared@x.org"'))).toEqual(['u2']);
    expect(ids(await q(store, 'emails eq "carol@x.org"'))).toEqual(['u1']);
    expect(ids(await q(store, 'id eq "u3" and userName eq "bob"'))).toEqual(['u3']);
    expect(ids(await q(store, 'id eq "u3" and userName eq "alice"'))).toEqual([]);
    expect(ids(await q(store, 'title co "b" or title eq "c"'))).toEqual(['u1', 'u4']);
    expect(ids(await q(store, 'meta.created pr and not (title pr)'))).toEqual(['u3']);
    const r = await q(store, 'emails.value ew "x.org"', { startIndex: 2, count: 1 });
    expect(r.totalResults).toBe(3);
    expect(ids(r)).toEqual(['u2']);
    expect(ids(await q(store, 'displayName eq "ZETA"', { type: 'Group' }))).toEqual(['g1']);
    expect(ids(await q(store, 'members.value eq "u2"', { type: 'Group' }))).toEqual(['g1', 'g2']);
    expect(ids(await q(store, 'members[value eq "u3"]', { type: 'Group' }))).toEqual(['g2']);
    await store.close();
  });

  it('sorts stably with the caseExact rule, missing values last', async () => {
    const store = await seeded();
    const by = (canonical: string, caseExact = false, sub?: string) => ({ canonical, caseExact, ...(sub ? { sub } : {}) });
    expect(ids(await q(store, undefined, { sort: { by: by('title'), order: 'ascending' } }))).toEqual(['u2', 'u1', 'u4', 'u3']);
    expect(ids(await q(store, undefined, { sort: { by: by('title', true), order: 'ascending' } }))).toEqual(['u2', 'u1', 'u4', 'u3']);
    expect(ids(await q(store, undefined, { sort: { by: by('title'), order: 'descending' } }))).toEqual(['u4', 'u1', 'u2', 'u3']);
    expect(ids(await q(store, undefined, { sort: { by: by('userName'), order: 'ascending' }, startIndex: 2, count: 2 }))).toEqual(['u3', 'u1']);
    // multi-valued: primary value, else the first
    expect(ids(await q(store, undefined, { sort: { by: by('emails', false, 'value'), order: 'ascending' } }))).toEqual(['u1', 'u2', 'u3', 'u4']);
    expect(ids(await q(store, 'emails pr', { sort: { by: by('emails', false, 'type'), order: 'descending' } }))).toEqual(['u1', 'u2', 'u3']);
    expect(ids(await q(store, undefined, { sort: { order: 'descending' } }))).toEqual(['u1', 'u2', 'u3', 'u4']);
    expect(ids(await q(store, undefined, { type: 'Group', sort: { by: by('displayName'), order: 'ascending' } }))).toEqual(['g2', 'g1']);
    await store.close();
  });

  it('rejects an unknown attribute in a filter with invalidFilter', async () => {
    const store = await seeded();
    const e = await scimError(q(store, 'nope eq "x"'));
    expect(e.scimType).toBe('invalidFilter');
    const e2 = await scimError(q(store, 'nope eq "x"', { connection: 'empty' }));
    expect(e2.scimType).toBe('invalidFilter');
    await store.close();
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
