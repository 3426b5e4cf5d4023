/**
 * The Store contract (types.ts) as one suite every implementation runs: the embedded lowdb store
 * and the PostgreSQL store (store-contract.test.ts). Behaviours the lowdb tests pinned down
 * (store.test.ts, outbox.test.ts, tombstones.test.ts), stated through the interface only.
 */
import { describe, expect, it } from 'vitest';
import { parseFilter } from '../scim/filter/index.js';
import { ScimError } from '../scim/index.js';
import { dump, groupResolver, user, userResolver } from '../../../test/fixtures/store/helpers.js';
import type { Change, OutboxEntry, Store } from './index.js';

export interface StoreFactory {
  /** A fresh, empty, opened store. */
  create(): Promise<Store>;
  /** The same data opened again after `store.close()`. */
  reopen(store: Store): Promise<Store>;
}

const C = 'okta';
const AT = '2025-01-02T03:04:05.000Z';
const PAST = '2000-01-01T00:00:00.000Z';
const NOW = '2030-01-01T00:00:00.000Z';

export const createUser = (id: string, userName: string, extra: Record<string, unknown> = {}, connection = C): Change => ({
  op: 'create',
  type: 'User',
  connection,
  id,
  data: user(userName, extra),
});
export const createGroup = (id: string, displayName: string, members?: Array<{ value: string }>, connection = C): Change => ({
  op: 'create',
  type: 'Group',
  connection,
  id,
  data: { displayName },
  ...(members ? { members } : {}),
});

export function outboxEntry(id: string, resourceId: string, extra: Partial<OutboxEntry> = {}): OutboxEntry {
  return {
    id,
    connection: 'default',
    connector: 'demo-1',
    resourceType: 'User',
    resourceId,
    kind: 'createUser',
    payload: { resource: { userName: resourceId } },
    createdAt: PAST,
    attempts: 0,
    nextAttemptAt: PAST,
    state: 'pending',
    ...extra,
  };
}

export async function scimError(p: Promise<unknown>): Promise<ScimError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ScimError);
    return err as ScimError;
  }
  throw new Error('expected a ScimError');
}

/** Defines the contract tests for one implementation. */
export function storeContract(name: string, factory: StoreFactory): void {
  const open = () => factory.create();

  describe(`${name}: CRUD`, () => {
    it('creates, reads, replaces and deletes with versions and timestamps', async () => {
      const store = await open();
      const r1 = await store.commit({ changes: [createUser('u1', 'bjensen@example.com', { title: 'a' })], at: AT });
      expect(r1.seq).toBeGreaterThan(0);
      expect(r1.resources[0]).toEqual({ id: 'u1', type: 'User', connection: C, data: { userName: 'bjensen@example.com', active: true, title: 'a' }, version: 1, created: AT, lastModified: AT });
      expect(await store.get(C, 'User', 'u1')).toEqual(r1.resources[0]);
      expect(await store.get(C, 'Group', 'u1')).toBeUndefined();
      expect(await store.get('other', 'User', 'u1')).toBeUndefined();
      const later = '2025-02-02T00:00:00.000Z';
      const r2 = await store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'u1', data: user('bjensen@example.com', { title: 'b' }), expectVersion: 1 }], at: later });
      expect(r2.seq).toBeGreaterThan(r1.seq);
      expect(r2.resources[0]).toMatchObject({ version: 2, created: AT, lastModified: later, data: { title: 'b' } });
      const r3 = await store.commit({ changes: [{ op: 'delete', type: 'User', connection: C, id: 'u1' }] });
      expect(r3.resources).toEqual([]);
      expect(await store.get(C, 'User', 'u1')).toBeUndefined();
      expect(await store.findOne(C, 'User', 'userName', 'bjensen@example.com')).toBeUndefined();
      await store.close();
    });

    it('does not keep references to the caller objects', async () => {
      const store = await open();
      const data = user('x', { name: { givenName: 'X' } });
      await store.commit({ changes: [{ op: 'create', type: 'User', connection: C, id: 'u1', data }] });
      (data.name as { givenName: string }).givenName = 'changed';
      expect((await store.get(C, 'User', 'u1'))!.data.name).toEqual({ givenName: 'X' });
      await store.close();
    });

    it('404 for a missing target, 409 for a duplicate id', async () => {
      const store = await open();
      await store.commit({ changes: [createUser('u1', 'a')] });
      expect((await scimError(store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'nope', data: user('b') }] }))).status).toBe(404);
      expect((await scimError(store.commit({ changes: [{ op: 'delete', type: 'Group', connection: C, id: 'u1' }] }))).status).toBe(404);
      const e3 = await scimError(store.commit({ changes: [createGroup('u1', 'g')] }));
      expect(e3.status).toBe(409);
      expect(e3.detail).toBe('id "u1" is already used by another resource in this connection');
      await store.close();
    });

    it('applies all changes of a commit or none', async () => {
      const store = await open();
      await store.commit({ changes: [createUser('u1', 'a')] });
      const e = await scimError(store.commit({ changes: [createUser('u2', 'b'), createGroup('g1', 'G'), { op: 'outbox.add', entry: outboxEntry('x1', 'u2') }, createUser('u3', 'A')] }));
      expect(e.status).toBe(409);
      expect(await store.get(C, 'User', 'u2')).toBeUndefined();
      expect(await store.get(C, 'Group', 'g1')).toBeUndefined();
      expect(await store.outboxList()).toEqual([]);
      expect((await store.stats()).users).toBe(1);
      await store.close();
    });

    it('keeps everything across close and open', async () => {
      const store = await open();
      await store.commit({ changes: [createUser('u1', 'a'), createUser('u2', 'b', { emails: [{ value: 'b@x' }] })] });
      await store.commit({ changes: [createGroup('g1', 'G', [{ value: 'u2' }, { value: 'u1' }])] });
      await store.commit({ changes: [{ op: 'delete', type: 'User', connection: C, id: 'u1' }] });
      await store.commit({ changes: [{ op: 'outbox.add', entry: outboxEntry('k1', 'u2') }, { op: 'link', connector: 'demo-1', resourceId: 'u9', key: 'row-9' }] });
      const before = await dump(store, C);
      await store.close();
      const again = await factory.reopen(store);
      expect(await dump(again, C)).toEqual(before);
      expect((await again.findOne(C, 'User', 'email', 'B@X'))?.id).toBe('u2');
      expect((await again.outboxList()).map((e) => e.id)).toEqual(['k1']);
      expect(await again.linkOf('demo-1', 'u9')).toBe('row-9');
      await again.close();
    });

    it('refuses commits when not open', async () => {
      const store = await open();
      await store.close();
      expect((await scimError(store.commit({ changes: [createUser('u1', 'a')] }))).status).toBe(503);
    });
  });

  describe(`${name}: uniqueness`, () => {
    it('userName is unique per connection, case-insensitively, with a detail naming it', async () => {
      const store = await open();
      await store.commit({ changes: [createUser('u1', 'bjensen@example.com')] });
      const e = await scimError(store.commit({ changes: [createUser('u2', 'BJensen@Example.com')] }));
      expect(e.status).toBe(409);
      expect(e.scimType).toBe('uniqueness');
      expect(e.detail).toBe('userName "BJensen@Example.com" is already taken by another user in this connection');
      await store.commit({ changes: [createUser('u2', 'bjensen@example.com', {}, 'entra')] });
      expect((await store.findOne('entra', 'User', 'userName', 'BJENSEN@example.com'))?.id).toBe('u2');
      expect((await store.findOne(C, 'User', 'userName', 'BJENSEN@example.com'))?.id).toBe('u1');
      await store.close();
    });

    it('externalId (exact) and group displayName (case-insensitive)', async () => {
      const store = await open();
      await store.commit({ changes: [createUser('u1', 'a', { externalId: 'E1' }), createGroup('g1', 'Admins')] });
      expect((await scimError(store.commit({ changes: [createUser('u2', 'b', { externalId: 'E1' })] }))).detail).toBe('externalId "E1" is already taken by another user in this connection');
      await store.commit({ changes: [createUser('u2', 'b', { externalId: 'e1' })] });
      expect((await scimError(store.commit({ changes: [createGroup('g2', 'ADMINS')] }))).detail).toBe('displayName "ADMINS" is already taken by another group in this connection');
      expect((await store.findOne(C, 'User', 'externalId', 'e1'))?.id).toBe('u2');
      expect((await store.findOne(C, 'Group', 'displayName', 'admins'))?.id).toBe('g1');
      await store.close();
    });

    it('non-ASCII userNames fold as JavaScript folds them', async () => {
      const store = await open();
      await store.commit({ changes: [createUser('u1', 'ÄNNE@Bücher.example')] });
      expect((await scimError(store.commit({ changes: [createUser('u2', 'änne@bücher.example')] }))).status).toBe(409);
      expect((await store.findOne(C, 'User', 'userName', 'änne@BÜCHER.example'))?.id).toBe('u1');
      await store.close();
    });

    it('a replace may keep its own userName, not take another one; a delete frees it', async () => {
      const store = await open();
      await store.commit({ changes: [createUser('u1', 'a'), createUser('u2', 'b')] });
      await store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'u1', data: user('A') }] });
      expect((await scimError(store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'u1', data: user('B') }] }))).status).toBe(409);
      expect((await store.get(C, 'User', 'u1'))!.data.userName).toBe('A');
      await store.commit({ changes: [{ op: 'delete', type: 'User', connection: C, id: 'u2' }] });
      await store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'u1', data: user('B') }] });
      expect((await store.findOne(C, 'User', 'userName', 'b'))?.id).toBe('u1');
      expect(await store.findOne(C, 'User', 'userName', 'a')).toBeUndefined();
      await store.close();
    });

    it('two creates with one userName in one commit conflict', async () => {
      const store = await open();
      expect((await scimError(store.commit({ changes: [createUser('u1', 'x'), createUser('u2', 'X')] }))).status).toBe(409);
      expect((await store.stats()).users).toBe(0);
      await store.close();
    });
  });

  describe(`${name}: versions`, () => {
    it('412 when expectVersion differs; one bump per commit', async () => {
      const store = await open();
      await store.commit({ changes: [createUser('u1', 'a'), createGroup('g1', 'G')] });
      const e = await scimError(store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'u1', data: user('a'), expectVersion: 2 }] }));
      expect(e.status).toBe(412);
      expect(e.detail).toContain('W/"1"');
      expect((await scimError(store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g1', add: [{ value: 'u1' }], expectVersion: 7 }] }))).status).toBe(412);
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

    it('concurrent commits to one resource: each expectVersion is checked against committed state', async () => {
      const store = await open();
      await store.commit({ changes: [createUser('u1', 'a')] });
      const tries = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'u1', data: user('a', { title: `t${i}` }), expectVersion: 1 }] })),
      );
      expect(tries.filter((t) => t.status === 'fulfilled')).toHaveLength(1);
      expect(tries.filter((t) => t.status === 'rejected').every((t) => (t as PromiseRejectedResult).reason.status === 412)).toBe(true);
      expect((await store.get(C, 'User', 'u1'))!.version).toBe(2);
      await store.close();
    });
  });

  describe(`${name}: membership`, () => {
    it('create with members, deltas, replaceAll, no-ops, groupsOf, hasMember', async () => {
      const store = await open();
      await store.commit({ changes: [createUser('u1', 'a'), createUser('u2', 'b'), createUser('u3', 'c')] });
      const r = await store.commit({ changes: [createGroup('g1', 'G1', [{ value: 'u1' }, { value: 'u2' }, { value: 'u1' }]), createGroup('g2', 'G2')] });
      expect(r.resources[0]).toMatchObject({ version: 1, memberCount: 2 });
      expect(await store.members(C, 'g1')).toEqual([{ value: 'u1', type: 'User' }, { value: 'u2', type: 'User' }]);
      await store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g1', add: [{ value: 'g2', display: 'G2' }, { value: 'u1' }] }] });
      expect((await store.get(C, 'Group', 'g1'))!).toMatchObject({ version: 2, memberCount: 3 });
      expect(await store.members(C, 'g1')).toEqual([{ value: 'u1', type: 'User' }, { value: 'u2', type: 'User' }, { value: 'g2', type: 'Group', display: 'G2' }]);
      const noop = await store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g1', add: [{ value: 'u1' }], remove: ['u3'] }] });
      expect(noop.resources.map((x) => [x.id, x.version])).toEqual([['g1', 2]]);
      expect((await store.get(C, 'Group', 'g1'))!.version).toBe(2);
      await store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g2', add: [{ value: 'u1' }] }] });
      expect(await store.groupsOf(C, 'u1')).toEqual([{ value: 'g1', display: 'G1' }, { value: 'g2', display: 'G2' }]);
      // many at once (a page of users rendered together) answer each its own
      expect(await Promise.all(['u1', 'u2', 'u3', 'nobody', 'u1'].map((id) => store.groupsOf(C, id)))).toEqual([
        [{ value: 'g1', display: 'G1' }, { value: 'g2', display: 'G2' }],
        [{ value: 'g1', display: 'G1' }],
        [],
        [],
        [{ value: 'g1', display: 'G1' }, { value: 'g2', display: 'G2' }],
      ]);
      expect(await store.groupsOf('other', 'u1')).toEqual([]);
      // a store that reads a user with its groups in one call answers as get() + groupsOf()
      if (store.getUserWithGroups) {
        expect(await store.getUserWithGroups(C, 'u1')).toEqual({ resource: await store.get(C, 'User', 'u1'), groups: await store.groupsOf(C, 'u1') });
        expect(await store.getUserWithGroups(C, 'u3')).toEqual({ resource: await store.get(C, 'User', 'u3'), groups: [] });
        expect(await store.getUserWithGroups(C, 'g1')).toBeUndefined(); // a group is not a user
        expect(await store.getUserWithGroups(C, 'nobody')).toBeUndefined();
      }
      expect(await store.hasMember(C, 'g1', 'u2')).toBe(true);
      expect(await store.hasMember(C, 'g1', 'u3')).toBe(false);
      await store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g1', replaceAll: [{ value: 'u3' }], add: [{ value: 'u2' }] }] });
      expect((await store.members(C, 'g1')).map((m) => m.value)).toEqual(['u3', 'u2']);
      expect((await store.get(C, 'Group', 'g1'))!).toMatchObject({ version: 3, memberCount: 2 });
      expect(await store.groupsOf(C, 'u1')).toEqual([{ value: 'g2', display: 'G2' }]);
      expect(await store.groupsOf(C, 'g2')).toEqual([]);
      // remove + add of one member in one op re-adds it (a PATCH replace)
      const swapped = await store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g1', remove: ['u3'], add: [{ value: 'u3' }] }] });
      expect(swapped.resources.map((x) => [x.id, x.version, x.memberCount])).toEqual([['g1', 4, 2]]);
      expect((await store.members(C, 'g1')).map((m) => m.value)).toEqual(['u2', 'u3']);
      await store.close();
    });

    it('refuses a member that does not exist in the connection', async () => {
      const store = await open();
      await store.commit({ changes: [createGroup('g1', 'G1'), createUser('u1', 'a', {}, 'other')] });
      const e = await scimError(store.commit({ changes: [{ op: 'members', connection: C, groupId: 'g1', add: [{ value: 'u1' }] }] }));
      expect(e.status).toBe(400);
      expect(e.detail).toContain('"u1"');
      await store.close();
    });

    it('deleting a user or a group removes it from every group in the same commit', async () => {
      const store = await open();
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
      const again = await factory.reopen(store);
      expect(await dump(again, C)).toEqual(before);
      await again.close();
    });

    it('a member change of a 5k-member group is O(change)', async () => {
      const store = await open();
      const ids = Array.from({ length: 5_001 }, (_, i) => `u${i}`);
      for (let i = 0; i < ids.length; i += 2500) await store.commit({ changes: ids.slice(i, i + 2500).map((id) => createUser(id, id)) });
      await store.commit({ changes: [createGroup('big', 'Big'), { op: 'members', connection: C, groupId: 'big', add: ids.slice(0, 5000).map((value) => ({ value })) }] });
      await store.commit({ changes: [createGroup('small', 'Small', ids.slice(0, 10).map((value) => ({ value })))] });
      // the same changes to a 10-member and a 5,000-member group cost about the same: O(change)
      const timeOf = async (groupId: string) => {
        const t0 = performance.now();
        for (let i = 0; i < 20; i++) {
          await store.commit({ changes: [{ op: 'members', connection: C, groupId, add: [{ value: 'u5000' }], remove: ['u7'] }] });
          await store.commit({ changes: [{ op: 'members', connection: C, groupId, add: [{ value: 'u7' }], remove: ['u5000'] }] });
        }
        return (performance.now() - t0) / 40;
      };
      const small = await timeOf('small');
      const big = await timeOf('big');
      expect(big).toBeLessThan(small * 3 + 2);
      expect(big).toBeLessThan(50);
      expect((await store.get(C, 'Group', 'big'))!.memberCount).toBe(5000);
      expect((await store.members(C, 'big')).at(-1)).toEqual({ value: 'u7', type: 'User' });
      await store.close();
    });
  });

  describe(`${name}: query`, () => {
    async function seeded(): Promise<Store> {
      const store = await open();
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

    it('pages in creation order; count 0 gives only totalResults', async () => {
      const store = await seeded();
      expect(ids(await q(store, undefined))).toEqual(['u1', 'u2', 'u3', 'u4']);
      const page = await q(store, undefined, { startIndex: 2, count: 2 });
      expect(page.totalResults).toBe(4);
      expect(ids(page)).toEqual(['u2', 'u3']);
      expect(await q(store, undefined, { count: 0 })).toEqual({ totalResults: 4, resources: [] });
      expect(await q(store, undefined, { startIndex: 9 })).toEqual({ totalResults: 4, resources: [] });
      expect(await store.query({ connection: 'none', type: 'User', startIndex: 1, count: 10 })).toEqual({ totalResults: 0, resources: [] });
      await store.close();
    });

    it('filters', async () => {
      const store = await seeded();
      expect(ids(await q(store, 'userName eq "ALICE"'))).toEqual(['u2']);
      expect(ids(await q(store, 'emails.value eq "SHARED@x.org"'))).toEqual(['u2', 'u3']);
      expect(ids(await q(store, 'emails[type eq "work"].value eq "shared@x.org"'))).toEqual(['u2']);
      expect(ids(await q(store, 'emails eq "carol@x.org"'))).toEqual(['u1']);
      expect(ids(await q(store, 'id eq "u3" and userName eq "bob"'))).toEqual(['u3']);
      expect(ids(await q(store, 'id eq "u3" and userName eq "alice"'))).toEqual([]);
      expect(ids(await q(store, 'title co "b" or title eq "c"'))).toEqual(['u1', 'u4']);
      expect(ids(await q(store, 'meta.created pr and not (title pr)'))).toEqual(['u3']);
      expect(ids(await q(store, 'userName ne "bob"'))).toEqual(['u1', 'u2', 'u4']);
      expect(ids(await q(store, 'title sw "A" or userName ew "VE"'))).toEqual(['u2', 'u4']);
      expect(ids(await q(store, 'userName gt "bob" and userName le "dave"'))).toEqual(['u1', 'u4']);
      expect(ids(await q(store, 'emails[type eq "home" and value sw "alice"]'))).toEqual(['u2']);
      expect(ids(await q(store, 'active eq true and meta.lastModified ge "2000-01-01T00:00:00Z"'))).toEqual(['u1', 'u2', 'u3', 'u4']);
      expect(ids(await q(store, 'title eq null'))).toEqual(['u3']);
      const r = await q(store, 'emails.value ew "x.org"', { startIndex: 2, count: 1 });
      expect(r.totalResults).toBe(3);
      expect(ids(r)).toEqual(['u2']);
      expect(ids(await q(store, 'displayName eq "ZETA"', { type: 'Group' }))).toEqual(['g1']);
      expect(ids(await q(store, 'members.value eq "u2"', { type: 'Group' }))).toEqual(['g1', 'g2']);
      expect(ids(await q(store, 'members[value eq "u3"]', { type: 'Group' }))).toEqual(['g2']);
      expect(ids(await q(store, 'members pr and not (members.value eq "u3")', { type: 'Group' }))).toEqual(['g1']);
      await store.close();
    });

    it('filters with non-ASCII text (case folding as JavaScript does it)', async () => {
      const store = await open();
      await store.commit({ changes: [createUser('u1', 'a', { title: 'ÉCOLE' }), createUser('u2', 'b', { title: 'école du Nord' }), createUser('u3', 'c', { title: 'ecole' })] });
      expect(ids(await q(store, 'title eq "école"'))).toEqual(['u1']);
      expect(ids(await q(store, 'title sw "ÉCOLE"'))).toEqual(['u1', 'u2']);
      expect(ids(await q(store, 'title co "cole"', { sort: { by: { canonical: 'title', caseExact: false }, order: 'ascending' } }))).toEqual(['u3', 'u1', 'u2']);
      await store.close();
    });

    it('sorts stably with the caseExact rule, missing values last', async () => {
      const store = await seeded();
      const by = (canonical: string, caseExact = false, sub?: string) => ({ canonical, caseExact, ...(sub ? { sub } : {}) });
      expect(ids(await q(store, undefined, { sort: { by: by('title'), order: 'ascending' } }))).toEqual(['u2', 'u1', 'u4', 'u3']);
      expect(ids(await q(store, undefined, { sort: { by: by('title', true), order: 'ascending' } }))).toEqual(['u2', 'u1', 'u4', 'u3']);
      expect(ids(await q(store, undefined, { sort: { by: by('title'), order: 'descending' } }))).toEqual(['u4', 'u1', 'u2', 'u3']);
      expect(ids(await q(store, undefined, { sort: { by: by('userName'), order: 'ascending' }, startIndex: 2, count: 2 }))).toEqual(['u3', 'u1']);
      expect(ids(await q(store, undefined, { sort: { by: by('emails', false, 'value'), order: 'ascending' } }))).toEqual(['u1', 'u2', 'u3', 'u4']);
      expect(ids(await q(store, 'emails pr', { sort: { by: by('emails', false, 'type'), order: 'descending' } }))).toEqual(['u1', 'u2', 'u3']);
      expect(ids(await q(store, undefined, { sort: { order: 'descending' } }))).toEqual(['u1', 'u2', 'u3', 'u4']);
      expect(ids(await q(store, undefined, { type: 'Group', sort: { by: by('displayName'), order: 'ascending' } }))).toEqual(['g2', 'g1']);
      await store.close();
    });

    it('rejects an unknown attribute in a filter with invalidFilter', async () => {
      const store = await seeded();
      expect((await scimError(q(store, 'nope eq "x"'))).scimType).toBe('invalidFilter');
      expect((await scimError(q(store, 'nope eq "x"', { connection: 'empty' }))).scimType).toBe('invalidFilter');
      await store.close();
    });
  });

  describe(`${name}: soft delete`, () => {
    it('hides the user, frees its userName, and keeps the record', async () => {
      const store = await open();
      await store.commit({ changes: [{ op: 'create', type: 'User', connection: 'c', id: 'u1', data: user('ann') }] });
      await store.commit({ changes: [{ op: 'delete', type: 'User', connection: 'c', id: 'u1', soft: true }] });
      expect(await store.get('c', 'User', 'u1')).toBeUndefined();
      expect(await store.findOne('c', 'User', 'userName', 'ann')).toBeUndefined();
      await store.commit({ changes: [{ op: 'create', type: 'User', connection: 'c', id: 'u2', data: user('ann') }] });
      expect((await store.deleted('c', 'User')).map((r) => [r.id, r.data.active, r.version])).toEqual([['u1', false, 2]]);
      expect((await store.query({ connection: 'c', type: 'User', startIndex: 1, count: 10 })).totalResults).toBe(1);
      await store.commit({ changes: [{ op: 'create', type: 'User', connection: 'c', id: 'u3', data: user('bob') }, { op: 'delete', type: 'User', connection: 'c', id: 'u3' }] });
      await store.close();
      const again = await factory.reopen(store);
      expect((await again.deleted('c', 'User')).map((r) => r.id)).toEqual(['u1']);
      expect((await again.get('c', 'User', 'u2'))?.data.userName).toBe('ann');
      await again.close();
    });
  });

  describe(`${name}: outbox and links`, () => {
    it('commits entries with the resource change and delivers the oldest entry of each resource first', async () => {
      const store = await open();
      await store.commit({ changes: [{ op: 'create', type: 'User', connection: 'default', id: 'u1', data: user('a') }, { op: 'outbox.add', entry: outboxEntry('op1', 'u1') }] });
      await store.commit({ changes: [{ op: 'outbox.add', entry: outboxEntry('op2', 'u1', { kind: 'updateUser' }) }, { op: 'outbox.add', entry: outboxEntry('op3', 'u2') }] });
      expect((await store.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['op1', 'op3']);
      expect((await store.outboxList()).map((e) => e.id)).toEqual(['op1', 'op2', 'op3']);
      expect((await scimError(store.commit({ changes: [{ op: 'outbox.add', entry: outboxEntry('op1', 'u1') }] }))).status).toBe(409);
      await store.commit({ changes: [{ op: 'outbox.remove', id: 'op1' }, { op: 'link', connector: 'demo-1', resourceId: 'u1', key: 'uid=a' }] });
      await store.commit({ changes: [{ op: 'outbox.remove', id: 'op1' }] }); // twice is a no-op
      // op3 is still claimed by the first call (its delivery has no outcome yet)
      expect((await store.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['op2']);
      expect(await store.linkOf('demo-1', 'u1')).toBe('uid=a');
      expect(await store.linkedResource('demo-1', 'UID=A')).toBe('u1');
      await store.commit({ changes: [{ op: 'link', connector: 'demo-1', resourceId: 'u1', key: null }] });
      expect(await store.linkOf('demo-1', 'u1')).toBeUndefined();
      expect(await store.linkedResource('demo-1', 'uid=a')).toBeUndefined();
      await store.close();
    });

    it('a dead entry holds back later entries of the same resource only; backoff delays an entry', async () => {
      const store = await open();
      await store.commit({ changes: [outboxEntry('a1', 'ua'), outboxEntry('a2', 'ua'), outboxEntry('b1', 'ub')].map((e) => ({ op: 'outbox.add' as const, entry: e })) });
      await store.commit({ changes: [{ op: 'outbox.update', id: 'a1', attempts: 5, nextAttemptAt: PAST, state: 'dead', lastError: 'target refused' }] });
      expect((await store.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['b1']);
      expect((await store.outboxList({ state: 'dead' }))[0]).toMatchObject({ id: 'a1', attempts: 5, lastError: 'target refused' });
      await store.commit({ changes: [{ op: 'outbox.update', id: 'b1', attempts: 1, nextAttemptAt: '2100-01-01T00:00:00.000Z', state: 'pending', claimChecked: true }] });
      expect(await store.outboxDue(NOW, 10)).toEqual([]);
      expect((await store.outboxList({ state: 'pending' })).find((e) => e.id === 'b1')).toMatchObject({ claimChecked: true, attempts: 1 });
      expect((await scimError(store.commit({ changes: [{ op: 'outbox.update', id: 'nope', attempts: 1, nextAttemptAt: PAST, state: 'pending' }] }))).status).toBe(404);
      expect(await store.stats()).toMatchObject({ outboxPending: 2, outboxDead: 1 });
      await store.close();
    });

    it('a claimed entry is never handed out again until its outcome is committed or it is released', async () => {
      const store = await open();
      await store.commit({ changes: [outboxEntry('c1', 'uc'), outboxEntry('c2', 'uc'), outboxEntry('d1', 'ud')].map((e) => ({ op: 'outbox.add' as const, entry: e })) });
      expect((await store.outboxDue(NOW, 1)).map((e) => e.id)).toEqual(['c1']);
      expect((await store.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['d1']); // c1 in flight holds back c2
      expect(await store.outboxDue(NOW, 10)).toEqual([]);
      expect(await store.outboxGet('c1')).toMatchObject({ id: 'c1', resourceId: 'uc' });
      expect(await store.outboxGet('nope')).toBeUndefined();
      // an update that is not the delivery's outcome (a console retry) leaves the claim in place
      await store.commit({ changes: [{ op: 'outbox.update', id: 'c1', attempts: 0, nextAttemptAt: PAST, state: 'pending' }] });
      expect(await store.outboxDue(NOW, 10)).toEqual([]);
      // the failed attempt's outcome hands c1 back: due again once its backoff is over
      await store.commit({ changes: [{ op: 'outbox.update', id: 'c1', attempts: 1, nextAttemptAt: PAST, state: 'pending', lastError: 'down', release: true }] });
      expect((await store.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['c1']);
      // delivered: the next entry of that resource is due; d1 handed back undelivered is due again
      await store.commit({ changes: [{ op: 'outbox.remove', id: 'c1' }] });
      await store.outboxRelease(['d1']);
      expect((await store.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['c2', 'd1']);
      expect(await store.outboxGet('c1')).toBeUndefined();
      await store.close();
    });
  });
}
