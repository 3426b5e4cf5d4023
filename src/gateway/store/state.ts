/**
 * The in-memory state of the embedded store: resources, unique and non-unique indexes and
 * membership, per connection. Every mutation records its inverse in an undo log so that a commit
 * whose journal write fails can be taken back exactly (including paging order).
 *
 * Stored objects are immutable: a change replaces a StoredResource or Member, it never edits one.
 * That is what lets compaction take a consistent snapshot by grabbing references.
 */
import { ScimError } from '../scim/index.js';
import { OrderedMap } from './ordered-map.js';
import type { Change, Member, OutboxChange, OutboxEntry, ResourceType, ScimJson, StoredResource } from './types.js';

/** Where undo closures go; replay and snapshot loading pass a sink that drops them. */
export interface UndoLog {
  push(undo: () => void): void;
}

/** An undo sink for replay and loading, where nothing is ever taken back. */
export const NO_UNDO: UndoLog = { push() {} };

/** A change as the journal records it: the commit request minus preconditions (already checked). */
export type JournalChange =
  | { op: 'create'; type: ResourceType; connection: string; id: string; data: ScimJson; members?: Member[] }
  | { op: 'replace'; type: ResourceType; connection: string; id: string; data: ScimJson }
  | { op: 'delete'; type: ResourceType; connection: string; id: string; soft?: boolean; deletedAt?: string }
  | { op: 'members'; connection: string; groupId: string; replaceAll?: Member[]; add?: Member[]; remove?: string[] }
  | OutboxChange;

type ResourceJournalChange = Exclude<JournalChange, { op: 'members' } | OutboxChange>;

const isOutboxChange = (c: JournalChange): c is OutboxChange =>
  c.op === 'outbox.add' || c.op === 'outbox.update' || c.op === 'outbox.remove' || c.op === 'link' || c.op === 'audit';

/** Key of a target link: connector instance + SCIM resource id. */
export const linkKey = (connector: string, resourceId: string): string => `${connector}\u0000${resourceId}`;
/** Target keys compare case-insensitively (LDAP DNs; row ids and paths are unaffected). */
export const ownerKey = (connector: string, targetKey: string): string => `${connector}\u0000${targetKey.toLowerCase()}`;

/** State of one connection (an IdP tenant): everything unique is unique per connection. */
export class ConnectionState {
  readonly users = new OrderedMap<StoredResource>();
  readonly groups = new OrderedMap<StoredResource>();
  /** Soft-deleted resources: kept, but in no index and invisible to SCIM. */
  readonly deleted = new OrderedMap<StoredResource>();
  /** lower-cased userName -> user id */
  readonly userNames = new Map<string, string>();
  /** externalId (exact) -> user id */
  readonly userExternalIds = new Map<string, string>();
  /** externalId (exact) -> group ids; not unique for groups, indexed for filters only */
  readonly groupExternalIds = new Map<string, Set<string>>();
  /** lower-cased displayName -> group id */
  readonly displayNames = new Map<string, string>();
  /** lower-cased emails[].value -> user ids */
  readonly emails = new Map<string, Set<string>>();
  /** group id -> member id -> Member, in insertion order */
  readonly members = new Map<string, OrderedMap<Member>>();
  /** member id -> ids of the groups it is a direct member of */
  readonly memberOf = new Map<string, Set<string>>();
  /** group id -> members as an array; rebuilt lazily after a change, never mutated once built */
  private readonly memberArrays = new Map<string, readonly Member[]>();

  constructor(readonly name: string) {}

  collection(type: ResourceType): OrderedMap<StoredResource> {
    return type === 'User' ? this.users : this.groups;
  }

  /** The resource with this id, whatever its type (ids are unique across types in a connection). */
  any(id: string): StoredResource | undefined {
    return this.users.get(id) ?? this.groups.get(id);
  }

  /** Members of a group as an immutable array (cached until the membership changes). */
  memberList(groupId: string): readonly Member[] {
    let list = this.memberArrays.get(groupId);
    if (list === undefined) {
      const map = this.members.get(groupId);
      list = map ? [...map.values()] : [];
      if (map) this.memberArrays.set(groupId, list);
    }
    return list;
  }

  invalidateMembers(groupId: string): void {
    this.memberArrays.delete(groupId);
  }
}

interface Txn {
  at: string;
  undo: UndoLog;
  /** `connection \0 id` of resources whose version this commit already bumped: one bump per commit. */
  touched: Set<string>;
  /** Version of each touched resource before this commit, for expectVersion checks. */
  startVersions: Map<string, number>;
}

const txnKey = (connection: string, id: string): string => `${connection}\u0000${id}`;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function userNameKey(data: ScimJson): string | undefined {
  return typeof data.userName === 'string' ? data.userName.toLowerCase() : undefined;
}

function displayNameKey(data: ScimJson): string | undefined {
  return typeof data.displayName === 'string' ? data.displayName.toLowerCase() : undefined;
}

function externalIdOf(data: ScimJson): string | undefined {
  return typeof data.externalId === 'string' ? data.externalId : undefined;
}

/** Lower-cased, de-duplicated `emails[].value` strings. */
export function emailKeys(data: ScimJson): string[] {
  const emails = data.emails;
  if (!Array.isArray(emails)) return [];
  const keys = new Set<string>();
  for (const e of emails) {
    if (isObject(e) && typeof e.value === 'string') keys.add(e.value.toLowerCase());
  }
  return [...keys];
}

function multiAdd(index: Map<string, Set<string>>, key: string, id: string, undo: UndoLog): void {
  let set = index.get(key);
  if (!set) {
    set = new Set();
    index.set(key, set);
  }
  if (set.has(id)) return;
  set.add(id);
  const s = set;
  undo.push(() => {
    s.delete(id);
    if (s.size === 0 && index.get(key) === s) index.delete(key);
  });
}

function multiRemove(index: Map<string, Set<string>>, key: string, id: string, undo: UndoLog): void {
  const set = index.get(key);
  if (!set || !set.delete(id)) return;
  if (set.size === 0) index.delete(key);
  undo.push(() => {
    let s = index.get(key);
    if (!s) {
      s = new Set();
      index.set(key, s);
    }
    s.add(id);
  });
}

function uniqueSet(index: Map<string, string>, key: string, id: string, undo: UndoLog): void {
  index.set(key, id);
  undo.push(() => {
    if (index.get(key) === id) index.delete(key);
  });
}

/** How an index adds and removes an id under a key: unique (one id per key) or multi. */
interface IndexOps<M> {
  add(index: M, key: string, id: string, undo: UndoLog): void;
  remove(index: M, key: string, id: string, undo: UndoLog): void;
}
const UNIQUE: IndexOps<Map<string, string>> = { add: uniqueSet, remove: uniqueRemove };
const MULTI: IndexOps<Map<string, Set<string>>> = { add: multiAdd, remove: multiRemove };

/** Moves `id` from key `from` to key `to` (either may be absent); nothing when the key is unchanged. */
function rekey<M>(ops: IndexOps<M>, index: M, from: string | undefined, to: string | undefined, id: string, undo: UndoLog): void {
  if (from === to) return;
  if (from !== undefined) ops.remove(index, from, id, undo);
  if (to !== undefined) ops.add(index, to, id, undo);
}

function uniqueRemove(index: Map<string, string>, key: string, id: string, undo: UndoLog): void {
  if (index.get(key) !== id) return;
  index.delete(key);
  undo.push(() => index.set(key, id));
}

/** Groups keep membership outside `data` (types.ts); a stray `members` key is dropped, not stored twice. */
function groupData(data: ScimJson): ScimJson {
  if (!('members' in data)) return data;
  const { members: _ignored, ...rest } = data;
  return rest;
}

/** All connections. apply() is the one code path for live commits, journal replay and nothing else. */
export class MemoryState {
  readonly connections = new Map<string, ConnectionState>();
  /** Outbox entries in commit order (entries are immutable: an update replaces the object). */
  readonly outbox = new OrderedMap<OutboxEntry>();
  /** linkKey(connector, resourceId) -> the target's key. */
  readonly links = new Map<string, string>();
  /** connector + lower-cased target key -> the resource that key was last linked to (claim checks). */
  readonly linkOwners = new Map<string, string>();

  private setLink(key: string, value: string | undefined): void {
    const sep = key.indexOf('\u0000');
    const connector = key.slice(0, sep);
    const resourceId = key.slice(sep + 1);
    const old = this.links.get(key);
    if (old !== undefined) {
      const owner = ownerKey(connector, old);
      if (this.linkOwners.get(owner) === resourceId) this.linkOwners.delete(owner);
    }
    if (value === undefined) this.links.delete(key);
    else {
      this.links.set(key, value);
      this.linkOwners.set(ownerKey(connector, value), resourceId);
    }
  }

  connection(name: string): ConnectionState | undefined {
    return this.connections.get(name);
  }

  private ensureConnection(name: string): ConnectionState {
    let conn = this.connections.get(name);
    if (!conn) {
      // An empty connection left behind by an undo is harmless, so its creation is not undone.
      conn = new ConnectionState(name);
      this.connections.set(name, conn);
    }
    return conn;
  }

  counts(): { users: number; groups: number } {
    let users = 0;
    let groups = 0;
    for (const conn of this.connections.values()) {
      users += conn.users.size;
      groups += conn.groups.size;
    }
    return { users, groups };
  }

  /**
   * Applies one commit. Creates, replaces and deletes run first, in order; then membership
   * (create's `members` and `members` ops, in order), so that a `members` op sees the replace of
   * its group and the members created in the same commit. On error the commit's own effects are
   * undone before the error is thrown.
   *
   * @param expect expectVersion per change (same index), or undefined when replaying
   * @returns the resources after the commit, in the order of `changes` (deleted ones omitted)
   */
  apply(changes: readonly JournalChange[], at: string, undo: UndoLog, expect?: ReadonlyArray<number | undefined>): StoredResource[] {
    const local: Array<() => void> = [];
    const txn: Txn = { at, undo: local, touched: new Set(), startVersions: new Map() };
    try {
      changes.forEach((c, i) => {
        if (isOutboxChange(c)) this.applyOutboxChange(c, txn);
        else if (c.op !== 'members') this.applyResourceChange(c, expect?.[i], txn);
      });
      changes.forEach((c, i) => {
        if (c.op === 'members') this.applyMembers(c, expect?.[i], txn);
        else if (c.op === 'create' && c.type === 'Group' && c.members && c.members.length > 0) {
          const conn = this.ensureConnection(c.connection);
          // (a group created and deleted in one commit has no list left to fill)
          if (conn.members.has(c.id) && this.replaceAllMembers(conn, c.id, c.members, txn)) this.refreshGroup(conn, c.id, txn);
        }
      });
    } catch (err) {
      for (let i = local.length - 1; i >= 0; i--) local[i]();
      throw err;
    }
    for (const u of local) undo.push(u);
    const out: StoredResource[] = [];
    for (const c of changes) {
      if (c.op === 'delete' || isOutboxChange(c)) continue;
      const conn = this.connections.get(c.connection);
      const res = c.op === 'members' ? conn?.groups.get(c.groupId) : conn?.collection(c.type).get(c.id);
      if (res) out.push(res);
    }
    return out;
  }

  /** Loads a tombstone from a snapshot. */
  loadDeleted(res: StoredResource): void {
    this.ensureConnection(res.connection).deleted.set(res.id, res);
  }

  /** Loads one resource from a snapshot (no checks beyond indexing, no undo). */
  load(res: StoredResource): void {
    const conn = this.ensureConnection(res.connection);
    this.index(conn, res, NO_UNDO);
    conn.collection(res.type).set(res.id, res);
    if (res.type === 'Group') conn.members.set(res.id, new OrderedMap());
  }

  /** Loads a group's member list from a snapshot; returns false if the group is unknown. */
  loadMembers(connection: string, groupId: string, members: readonly Member[]): boolean {
    const conn = this.connections.get(connection);
    const map = conn?.members.get(groupId);
    if (!conn || !map) return false;
    for (const m of members) {
      if (map.has(m.value)) continue;
      map.set(m.value, m);
      let set = conn.memberOf.get(m.value);
      if (!set) conn.memberOf.set(m.value, (set = new Set()));
      set.add(groupId);
    }
    conn.invalidateMembers(groupId);
    const group = conn.groups.get(groupId)!;
    if (group.memberCount !== map.size) conn.groups.set(groupId, { ...group, memberCount: map.size });
    return true;
  }

  /** Loads the outbox and links from a snapshot. */
  loadOutbox(entries: readonly OutboxEntry[], links: ReadonlyArray<readonly [string, string]>): void {
    for (const e of entries) this.outbox.set(e.id, e);
    for (const [k, v] of links) this.setLink(k, v);
  }

  // ---- outbox ----------------------------------------------------------------------------

  private applyOutboxChange(c: OutboxChange, txn: Txn): void {
    const outbox = this.outbox;
    switch (c.op) {
      case 'outbox.add': {
        if (outbox.has(c.entry.id)) throw ScimError.uniqueness(`outbox entry "${c.entry.id}" already exists`);
        outbox.set(c.entry.id, c.entry);
        txn.undo.push(() => outbox.delete(c.entry.id));
        return;
      }
      case 'outbox.update': {
        const old = outbox.get(c.id);
        if (!old) throw ScimError.notFound(`outbox entry "${c.id}" not found`);
        const next: OutboxEntry = { ...old, attempts: c.attempts, nextAttemptAt: c.nextAttemptAt, state: c.state };
        if (c.lastError !== undefined) next.lastError = c.lastError;
        if (c.claimChecked) next.claimChecked = true;
        outbox.set(c.id, next);
        txn.undo.push(() => outbox.set(c.id, old));
        return;
      }
      case 'outbox.remove': {
        const old = outbox.get(c.id);
        if (!old) return; // removing twice (a retry after a crash) is a no-op
        const ord = outbox.delete(c.id)!;
        txn.undo.push(() => outbox.restore(c.id, old, ord));
        return;
      }
      case 'audit':
        return; // journaled for the audit sink; no state
      case 'link': {
        const key = linkKey(c.connector, c.resourceId);
        const old = this.links.get(key);
        this.setLink(key, c.key ?? undefined);
        txn.undo.push(() => this.setLink(key, old));
        return;
      }
    }
  }

  // ---- resources -------------------------------------------------------------------------

  private applyResourceChange(c: ResourceJournalChange, expect: number | undefined, txn: Txn): void {
    if (c.op === 'create') this.create(c, txn);
    else if (c.op === 'replace') this.replace(c, expect, txn);
    else this.remove(c, expect, txn);
  }

  private create(c: Extract<JournalChange, { op: 'create' }>, txn: Txn): void {
    const conn = this.ensureConnection(c.connection);
    if (conn.any(c.id)) throw ScimError.uniqueness(`id "${c.id}" is already used by another resource in this connection`);
    const data = c.type === 'Group' ? groupData(c.data) : c.data;
    const res: StoredResource =
      c.type === 'Group'
        ? { id: c.id, type: c.type, connection: c.connection, data, version: 1, created: txn.at, lastModified: txn.at, memberCount: 0 }
        : { id: c.id, type: c.type, connection: c.connection, data, version: 1, created: txn.at, lastModified: txn.at };
    this.checkUnique(conn, res);
    this.index(conn, res, txn.undo);
    const coll = conn.collection(c.type);
    coll.set(c.id, res);
    txn.undo.push(() => coll.delete(c.id));
    if (c.type === 'Group') {
      conn.members.set(c.id, new OrderedMap());
      txn.undo.push(() => {
        conn.members.delete(c.id);
        conn.invalidateMembers(c.id);
      });
    }
    const key = txnKey(c.connection, c.id);
    txn.touched.add(key);
    txn.startVersions.set(key, 0);
  }

  private target(conn: ConnectionState | undefined, type: ResourceType, id: string): StoredResource {
    const res = conn?.collection(type).get(id);
    if (!res) throw ScimError.notFound(`${type} "${id}" not found`);
    return res;
  }

  private checkVersion(res: StoredResource, expect: number | undefined, txn: Txn): void {
    if (expect === undefined) return;
    const base = txn.startVersions.get(txnKey(res.connection, res.id)) ?? res.version;
    if (base !== expect) {
      throw ScimError.preconditionFailed(
        `${res.type} "${res.id}" is at version W/"${base}", not W/"${expect}" (If-Match): it was changed by another request. Read it again and retry.`,
      );
    }
  }

  /** Next version of a resource changed by this commit: one bump per commit, however many changes touch it. */
  private bump(res: StoredResource, txn: Txn): number {
    const key = txnKey(res.connection, res.id);
    if (txn.touched.has(key)) return res.version;
    txn.touched.add(key);
    txn.startVersions.set(key, res.version);
    return res.version + 1;
  }

  private replace(c: Extract<JournalChange, { op: 'replace' }>, expect: number | undefined, txn: Txn): void {
    const conn = this.connections.get(c.connection);
    const old = this.target(conn, c.type, c.id);
    this.checkVersion(old, expect, txn);
    const data = c.type === 'Group' ? groupData(c.data) : c.data;
    const res: StoredResource = { ...old, data, version: this.bump(old, txn), lastModified: txn.at };
    this.checkUnique(conn!, res);
    this.reindex(conn!, old, res, txn.undo);
    const coll = conn!.collection(c.type);
    coll.set(c.id, res);
    txn.undo.push(() => coll.set(c.id, old));
  }

  private remove(c: Extract<JournalChange, { op: 'delete' }>, expect: number | undefined, txn: Txn): void {
    const found = this.connections.get(c.connection);
    const old = this.target(found, c.type, c.id);
    const conn = found!;
    this.checkVersion(old, expect, txn);
    // Cascade: leave every group it belongs to (those groups change: new version).
    const parents = conn.memberOf.get(c.id);
    if (parents) {
      for (const groupId of [...parents]) {
        if (groupId === c.id) continue; // self-membership goes with the group's own list below
        if (this.removeMember(conn, groupId, c.id, txn.undo)) this.refreshGroup(conn, groupId, txn);
      }
    }
    if (c.type === 'Group') {
      const map = conn.members.get(c.id);
      if (map) {
        for (const memberId of [...map.keys()]) this.unlink(conn, memberId, c.id, txn.undo);
        conn.members.delete(c.id);
        conn.invalidateMembers(c.id);
        txn.undo.push(() => {
          conn.members.set(c.id, map);
          conn.invalidateMembers(c.id);
        });
      }
    }
    this.unindex(conn, old, txn.undo);
    const coll = conn.collection(c.type);
    const ord = coll.delete(c.id)!;
    txn.undo.push(() => coll.restore(c.id, old, ord));
    if (c.soft) {
      // A tombstone: the record as it was, marked; a later soft delete of a re-created user with
      // the same id cannot happen (ids are never reused), so the id is a safe key.
      const tomb: StoredResource = { ...old, data: { ...old.data, active: false }, lastModified: c.deletedAt ?? txn.at, version: old.version + 1 };
      const previous = conn.deleted.get(c.id);
      conn.deleted.set(c.id, tomb);
      txn.undo.push(() => (previous ? conn.deleted.set(c.id, previous) : conn.deleted.delete(c.id)));
    }
  }

  // ---- indexes ---------------------------------------------------------------------------

  private checkUnique(conn: ConnectionState, res: StoredResource): void {
    const d = res.data;
    if (res.type === 'User') {
      const un = userNameKey(d);
      const owner = un === undefined ? undefined : conn.userNames.get(un);
      if (owner !== undefined && owner !== res.id) {
        throw ScimError.uniqueness(`userName "${String(d.userName)}" is already taken by another user in this connection`);
      }
      const ext = externalIdOf(d);
      const extOwner = ext === undefined ? undefined : conn.userExternalIds.get(ext);
      if (extOwner !== undefined && extOwner !== res.id) {
        throw ScimError.uniqueness(`externalId "${ext}" is already taken by another user in this connection`);
      }
    } else {
      const dn = displayNameKey(d);
      const owner = dn === undefined ? undefined : conn.displayNames.get(dn);
      if (owner !== undefined && owner !== res.id) {
        throw ScimError.uniqueness(`displayName "${String(d.displayName)}" is already taken by another group in this connection`);
      }
    }
  }

  private index(conn: ConnectionState, res: StoredResource, undo: UndoLog): void {
    const d = res.data;
    const ext = externalIdOf(d);
    if (res.type === 'User') {
      const un = userNameKey(d);
      if (un !== undefined) uniqueSet(conn.userNames, un, res.id, undo);
      if (ext !== undefined) uniqueSet(conn.userExternalIds, ext, res.id, undo);
      for (const e of emailKeys(d)) multiAdd(conn.emails, e, res.id, undo);
    } else {
      const dn = displayNameKey(d);
      if (dn !== undefined) uniqueSet(conn.displayNames, dn, res.id, undo);
      if (ext !== undefined) multiAdd(conn.groupExternalIds, ext, res.id, undo);
    }
  }

  private unindex(conn: ConnectionState, res: StoredResource, undo: UndoLog): void {
    const d = res.data;
    const ext = externalIdOf(d);
    if (res.type === 'User') {
      const un = userNameKey(d);
      if (un !== undefined) uniqueRemove(conn.userNames, un, res.id, undo);
      if (ext !== undefined) uniqueRemove(conn.userExternalIds, ext, res.id, undo);
      for (const e of emailKeys(d)) multiRemove(conn.emails, e, res.id, undo);
    } else {
      const dn = displayNameKey(d);
      if (dn !== undefined) uniqueRemove(conn.displayNames, dn, res.id, undo);
      if (ext !== undefined) multiRemove(conn.groupExternalIds, ext, res.id, undo);
    }
  }

  /** unindex(old) + index(res), touching only the keys that differ (most updates change none). */
  private reindex(conn: ConnectionState, old: StoredResource, res: StoredResource, undo: UndoLog): void {
    const before = old.data;
    const after = res.data;
    const oldExt = externalIdOf(before);
    const ext = externalIdOf(after);
    if (res.type === 'User') {
      rekey(UNIQUE, conn.userNames, userNameKey(before), userNameKey(after), res.id, undo);
      rekey(UNIQUE, conn.userExternalIds, oldExt, ext, res.id, undo);
      if (before.emails !== after.emails) {
        const oldEmails = emailKeys(before);
        const emails = emailKeys(after);
        for (const e of oldEmails) if (!emails.includes(e)) multiRemove(conn.emails, e, res.id, undo);
        for (const e of emails) if (!oldEmails.includes(e)) multiAdd(conn.emails, e, res.id, undo);
      }
    } else {
      rekey(UNIQUE, conn.displayNames, displayNameKey(before), displayNameKey(after), res.id, undo);
      rekey(MULTI, conn.groupExternalIds, oldExt, ext, res.id, undo);
    }
  }

  // ---- membership ------------------------------------------------------------------------

  private applyMembers(c: Extract<JournalChange, { op: 'members' }>, expect: number | undefined, txn: Txn): void {
    const conn = this.connections.get(c.connection);
    const group = this.target(conn, 'Group', c.groupId);
    this.checkVersion(group, expect, txn);
    let changed = false;
    if (c.replaceAll) changed = this.replaceAllMembers(conn!, c.groupId, c.replaceAll, txn) || changed;
    // remove before add, so that a remove+add of one member in one op (a PATCH replace) re-adds it
    for (const id of c.remove ?? []) changed = this.removeMember(conn!, c.groupId, id, txn.undo) || changed;
    for (const m of c.add ?? []) changed = this.addMember(conn!, c.groupId, m, txn.undo) || changed;
    if (changed) this.refreshGroup(conn!, c.groupId, txn);
  }

  /** The stored form of a member: its type is taken from the resource it names, which must exist. */
  private toMember(conn: ConnectionState, m: Member): Member {
    if (!isObject(m) || typeof m.value !== 'string' || m.value === '') {
      throw ScimError.invalidValue('members: every member needs a "value" (the id of a User or Group)');
    }
    const target = conn.any(m.value);
    if (!target) throw ScimError.invalidValue(`members: "${m.value}" is not the id of a User or Group in this connection`);
    const member: Member = { value: m.value, type: target.type };
    if (typeof m.display === 'string') member.display = m.display;
    return member;
  }

  private link(conn: ConnectionState, memberId: string, groupId: string, undo: UndoLog): void {
    multiAdd(conn.memberOf, memberId, groupId, undo);
  }

  private unlink(conn: ConnectionState, memberId: string, groupId: string, undo: UndoLog): void {
    multiRemove(conn.memberOf, memberId, groupId, undo);
  }

  private addMember(conn: ConnectionState, groupId: string, m: Member, undo: UndoLog): boolean {
    const map = conn.members.get(groupId)!;
    if (isObject(m) && typeof m.value === 'string' && map.has(m.value)) return false;
    const member = this.toMember(conn, m);
    map.set(member.value, member);
    conn.invalidateMembers(groupId);
    undo.push(() => {
      map.delete(member.value);
      conn.invalidateMembers(groupId);
    });
    this.link(conn, member.value, groupId, undo);
    return true;
  }

  private removeMember(conn: ConnectionState, groupId: string, memberId: string, undo: UndoLog): boolean {
    const map = conn.members.get(groupId);
    const old = map?.get(memberId);
    if (!map || !old) return false;
    const ord = map.delete(memberId)!;
    conn.invalidateMembers(groupId);
    undo.push(() => {
      map.restore(memberId, old, ord);
      conn.invalidateMembers(groupId);
    });
    this.unlink(conn, memberId, groupId, undo);
    return true;
  }

  private replaceAllMembers(conn: ConnectionState, groupId: string, list: readonly Member[], txn: Txn): boolean {
    const old = conn.members.get(groupId)!;
    const next = new OrderedMap<Member>();
    for (const m of list) {
      if (isObject(m) && typeof m.value === 'string' && next.has(m.value)) continue;
      const member = this.toMember(conn, m);
      next.set(member.value, member);
    }
    if (sameMembers(old, next)) return false;
    for (const id of old.keys()) if (!next.has(id)) this.unlink(conn, id, groupId, txn.undo);
    for (const id of next.keys()) if (!old.has(id)) this.link(conn, id, groupId, txn.undo);
    conn.members.set(groupId, next);
    conn.invalidateMembers(groupId);
    txn.undo.push(() => {
      conn.members.set(groupId, old);
      conn.invalidateMembers(groupId);
    });
    return true;
  }

  /** Replaces the group's StoredResource after a membership change: memberCount, version, lastModified. */
  private refreshGroup(conn: ConnectionState, groupId: string, txn: Txn): void {
    const old = conn.groups.get(groupId);
    if (!old) return;
    const count = conn.members.get(groupId)?.size ?? 0;
    const res: StoredResource = { ...old, memberCount: count, version: this.bump(old, txn), lastModified: txn.at };
    conn.groups.set(groupId, res);
    txn.undo.push(() => conn.groups.set(groupId, old));
  }
}

function sameMembers(a: OrderedMap<Member>, b: OrderedMap<Member>): boolean {
  if (a.size !== b.size) return false;
  const ib = b.values();
  for (const x of a.values()) {
    const y = ib.next().value as Member;
    if (x.value !== y.value || x.type !== y.type || x.display !== y.display) return false;
  }
  return true;
}

/** Checks the shape of a commit's changes and turns them into journal records (expectVersion removed). */
export function toJournalChange(c: Change | OutboxChange): JournalChange {
  if (!isObject(c)) throw ScimError.invalidValue('commit: a change must be an object');
  const str = (v: unknown, what: string): string => {
    if (typeof v !== 'string' || v === '') throw ScimError.invalidValue(`commit: ${c.op} change without ${what}`);
    return v;
  };
  const type = (v: unknown): ResourceType => {
    if (v !== 'User' && v !== 'Group') throw ScimError.invalidValue(`commit: unknown resource type ${JSON.stringify(v)}`);
    return v;
  };
  switch (c.op) {
    case 'create': {
      if (!isObject(c.data)) throw ScimError.invalidValue('commit: create change without data');
      const rec: JournalChange = { op: 'create', type: type(c.type), connection: str(c.connection, 'connection'), id: str(c.id, 'id'), data: c.data };
      if (c.members !== undefined) {
        if (c.type !== 'Group' || !Array.isArray(c.members)) throw ScimError.invalidValue('commit: members can only be given to a Group, as an array');
        rec.members = c.members;
      }
      return rec;
    }
    case 'replace':
      if (!isObject(c.data)) throw ScimError.invalidValue('commit: replace change without data');
      return { op: 'replace', type: type(c.type), connection: str(c.connection, 'connection'), id: str(c.id, 'id'), data: c.data };
    case 'delete':
      return { op: 'delete', type: type(c.type), connection: str(c.connection, 'connection'), id: str(c.id, 'id'), ...(c.soft ? { soft: true } : {}) };
    case 'members': {
      const rec: JournalChange = { op: 'members', connection: str(c.connection, 'connection'), groupId: str(c.groupId, 'groupId') };
      if (c.replaceAll !== undefined) rec.replaceAll = arrayOf(c.replaceAll, 'replaceAll');
      if (c.add !== undefined) rec.add = arrayOf(c.add, 'add');
      if (c.remove !== undefined) rec.remove = arrayOf(c.remove, 'remove');
      return rec;
    }
    case 'outbox.add': {
      const e = c.entry;
      if (!isObject(e) || typeof e.id !== 'string' || typeof e.connector !== 'string' || typeof e.resourceId !== 'string' || typeof e.kind !== 'string') {
        throw ScimError.invalidValue('commit: outbox.add needs an entry with id, connector, resourceId and kind');
      }
      return { op: 'outbox.add', entry: e };
    }
    case 'outbox.update':
      return {
        op: 'outbox.update',
        id: str(c.id, 'id'),
        attempts: c.attempts,
        nextAttemptAt: c.nextAttemptAt,
        state: c.state,
        ...(c.lastError !== undefined ? { lastError: c.lastError } : {}),
        ...(c.claimChecked === true ? { claimChecked: true as const } : {}),
        ...(c.release === true ? { release: true as const } : {}),
      };
    case 'outbox.remove':
      return { op: 'outbox.remove', id: str(c.id, 'id') };
    case 'audit':
      if (!Array.isArray(c.records)) throw ScimError.invalidValue('commit: audit needs records');
      return { op: 'audit', records: c.records };
    case 'link':
      return { op: 'link', connector: str(c.connector, 'connector'), resourceId: str(c.resourceId, 'resourceId'), key: c.key === null ? null : str(c.key, 'key') };
    default:
      throw ScimError.invalidValue(`commit: unknown change op ${JSON.stringify((c as { op?: unknown }).op)}`);
  }
}

function arrayOf<T>(v: T[], what: string): T[] {
  if (!Array.isArray(v)) throw ScimError.invalidValue(`commit: members ${what} must be an array`);
  return v;
}
