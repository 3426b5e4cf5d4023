/**
 * SCIM operations on one connection's resources, independent of HTTP: create, replace, patch,
 * delete, get, query. Writes to one resource are serialized (read-modify-write under a per-resource
 * lock), so concurrent PATCHes never lose an update and If-Match is checked against the version
 * the change is computed from.
 */
import { randomUUID } from 'node:crypto';
import { ScimError } from './errors.js';
import { applyPatch, deepEqual, needsMemberList, parsePatchRequest, type PatchLimits } from './patch/index.js';
import { normalizeMembers, normalizeResource, type NormalizedResource } from './resources/index.js';
import { BRIDGE_USER_SCHEMA } from './schemas/definitions.js';
import type { SchemaRegistry } from './schemas/registry.js';
import type { CommitRequest, IndexedAttribute, Member, OutboxChange, QueryResult, ResourceType, ScimJson, SortSpec, Store, StoredResource } from '../store/index.js';
import type { FilterNode } from './filter/index.js';

/** Serializes async work per key; keys are dropped when idle. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** Parses If-Match / If-None-Match: `*`, or a list of (weak or strong) ETags -> versions. */
export function parseEtagList(header: string | undefined): { any: boolean; versions: Set<number> } | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  if (header.trim() === '*') return { any: true, versions: new Set() };
  const versions = new Set<number>();
  for (const part of header.split(',')) {
    const m = /^\s*(?:W\/)?"(\d+)"\s*$/.exec(part);
    if (m) versions.add(Number(m[1]));
    else versions.add(-1); // an ETag we never issued: matches nothing
  }
  return { any: false, versions };
}

export interface ServiceLimits {
  patch: PatchLimits;
  maxResults: number;
}

/** Who makes a change (recorded in the audit log). */
export interface Actor {
  kind: 'scim-token' | 'admin' | 'system' | 'connector';
  id: string;
  name?: string;
}

export interface WriteContext {
  connection: string;
  actor?: Actor;
  /** Raw If-Match header. */
  ifMatch?: string;
}

export interface ScimService {
  registry: SchemaRegistry;
  store: Store;
  create(ctx: WriteContext, type: ResourceType, body: unknown): Promise<StoredResource>;
  replace(ctx: WriteContext, type: ResourceType, id: string, body: unknown): Promise<StoredResource>;
  patch(ctx: WriteContext, type: ResourceType, id: string, body: unknown): Promise<StoredResource>;
  remove(ctx: WriteContext, type: ResourceType, id: string): Promise<void>;
  get(connection: string, type: ResourceType, id: string): Promise<StoredResource>;
  query(connection: string, type: ResourceType, q: { filter?: FilterNode; sort?: SortSpec; startIndex: number; count: number }): Promise<QueryResult>;
}

function checkIfMatch(ifMatch: string | undefined, current: StoredResource): number | undefined {
  const parsed = parseEtagList(ifMatch);
  if (!parsed) return undefined;
  if (parsed.any) return current.version;
  if (!parsed.versions.has(current.version)) {
    throw ScimError.preconditionFailed(
      `If-Match ${ifMatch} does not match the current version W/"${current.version}" of ${current.type} ${current.id}; fetch it again and retry.`,
    );
  }
  return current.version;
}

/** Keeps the product extension's read-only `deactivatedAt` in step with `active` (Modelux: deactivate keeps the row). */
function trackDeactivation(data: ScimJson, previous: ScimJson | undefined, at: string): void {
  const wasActive = previous ? previous.active !== false : true;
  const block = { ...((data[BRIDGE_USER_SCHEMA] as Record<string, unknown> | undefined) ?? {}) };
  const previousAt = (previous?.[BRIDGE_USER_SCHEMA] as Record<string, unknown> | undefined)?.deactivatedAt;
  if (data.active === false) block.deactivatedAt = wasActive || previousAt === undefined ? at : previousAt;
  else delete block.deactivatedAt;
  if (Object.keys(block).length > 0) data[BRIDGE_USER_SCHEMA] = block;
  else delete data[BRIDGE_USER_SCHEMA];
}

/**
 * The connection's lifecycle policy, as the service needs it (provisioning/ implements it). The
 * scim layer knows when to call it, not what the rules are.
 */
export interface UserWritePolicy {
  /** Fills defaults on a new user (role, user type). */
  onCreate(connection: string, data: ScimJson): void;
  /** Carries over what a PUT/PATCH left out but the gateway owns (role, user type). */
  onUpdate(connection: string, data: ScimJson, previous: ScimJson): void;
  /** Throws the ScimError the IdP should see when the write breaks a rule. */
  check(connection: string, before: ScimJson | undefined, after: ScimJson | undefined, id: string): Promise<void>;
  /** Whether a write to this stored user must be serialized with the connection's other such writes (last-owner protection). */
  guarded(connection: string, current: ScimJson): boolean;
  /** Whether DELETE keeps the user as a hidden record (soft) or removes it (hard). */
  deleteMode(connection: string): 'soft' | 'hard';
  /** Group -> role rules: the role of a user in these groups (display names); undefined when the connection has none. */
  roleFromGroups?(connection: string, groupNames: readonly string[]): string | undefined;
  /** A synthetic role group (`Admins`, `Users`): it cannot be deleted or renamed. */
  isSyntheticGroup?(connection: string, data: ScimJson): boolean;
}

/** One committed change of one resource (what provisioning turns into connector operations). */
export interface ResourceEvent {
  connection: string;
  type: ResourceType;
  id: string;
  /** Before the change (undefined on create). */
  before?: ScimJson;
  /** After the change (undefined on delete). */
  after?: ScimJson;
  /** Group membership changes, as member ids. */
  membersAdded?: string[];
  membersRemoved?: string[];
  /** A delete that keeps the record (connectors deactivate instead of deleting). */
  soft?: boolean;
}

/** What the effects did before a change commits: changes for its commit, connectors already applied. */
export interface PreparedChange {
  changes: OutboxChange[];
  /** Connectors that applied the change synchronously: they get no outbox entry. */
  handled: string[];
  /** Connectors whose target was searched for a claim before the commit. */
  claimChecked?: string[];
}

/** Side effects committed with each resource change: the provisioning outbox. */
export interface ChangeEffects {
  /**
   * Runs before the commit (under the resource's lock): may refuse the write with a ScimError
   * (claim protection, a `sync` connector's refusal) or contribute changes to its commit.
   */
  prepare?(event: ResourceEvent, actor: Actor | undefined): Promise<PreparedChange | undefined>;
  /** Extra changes for the same commit: outbox entries and the audit record of who did it. */
  changesFor(event: ResourceEvent, actor: Actor | undefined, prepared?: PreparedChange): OutboxChange[];
  /** Called once a commit that carried effects is durable (wakes the delivery worker). */
  committed(): void;
}

/**
 * A connection's custom provisioning hook: sees a write before it commits; returns a resource to
 * use instead of `after`, nothing to go on, or throws the ScimError the IdP should see.
 */
export type WriteHook = (input: {
  connection: string;
  type: ResourceType;
  operation: 'create' | 'replace' | 'patch' | 'delete';
  id: string;
  before?: ScimJson;
  after?: ScimJson;
  actor?: Actor;
}) => Promise<ScimJson | undefined>;

export function createScimService(opts: {
  store: Store;
  registry: SchemaRegistry;
  limits: ServiceLimits;
  policy?: UserWritePolicy;
  effects?: ChangeEffects;
  /** The connection's custom provisioning hook, if it has one. */
  hookFor?: (connection: string) => WriteHook | undefined;
}): ScimService {
  const { store, registry, limits, policy, effects } = opts;
  /**
   * Appends the event's effects to a commit's changes; returns whether any is more than an audit
   * record (something for `committed()` to act on: an outbox entry, a link).
   */
  const withEffects = async (changes: CommitRequest['changes'], event: ResourceEvent, actor: Actor | undefined): Promise<boolean> => {
    if (!effects) return false;
    const prepared = effects.prepare ? await effects.prepare(event, actor) : undefined;
    const extra = effects.changesFor(event, actor, prepared);
    if (prepared) changes.push(...prepared.changes);
    changes.push(...extra);
    return [...extra, ...(prepared?.changes ?? [])].some((c) => c.op !== 'audit');
  };
  /** Member ids added and removed when a group's list is replaced whole (PUT, replace members). */
  const memberDiff = async (connection: string, groupId: string, next: Member[]): Promise<{ membersAdded: string[]; membersRemoved: string[] }> => {
    if (!effects && !policy?.roleFromGroups) return { membersAdded: [], membersRemoved: [] };
    const current = new Set((await store.members(connection, groupId)).map((m) => m.value));
    const wanted = new Set(next.map((m) => m.value));
    return { membersAdded: [...wanted].filter((v) => !current.has(v)), membersRemoved: [...current].filter((v) => !wanted.has(v)) };
  };
  const locks = new KeyedMutex();
  // Taken before a resource lock, never after: writes that could remove the last owner are
  // serialized per connection, so two concurrent deactivations cannot both pass the check.
  const guardLocks = new KeyedMutex();
  const guardUserWrite = async <T>(connection: string, type: ResourceType, id: string, fn: () => Promise<T>): Promise<T> => {
    if (type !== 'User' || !policy) return fn();
    const current = await store.get(connection, 'User', id);
    if (!current || !policy.guarded(connection, current.data)) return fn();
    // A store shared by several gateway instances (PostgreSQL) holds the guard across all of them.
    return guardLocks.run(connection, () => (store.exclusive ? store.exclusive(`last-owner:${connection}`, fn) : fn()));
  };
  /**
   * Several gateway instances on one store: the locks here are per process, so another instance
   * may change a resource between our read and our commit. The store's version check refuses
   * that commit (412); unless the client asked for a version (If-Match), the change is computed
   * again from the new state. A retry holds the resource across instances (Store.exclusive), so
   * writers that lost a race queue there instead of racing again. With one process the locks make
   * this never happen.
   */
  const CONFLICT_RETRIES = 8;
  const isRaceLost = (err: unknown, ifMatch: string | undefined, attempt: number): boolean =>
    err instanceof ScimError && err.status === 412 && ifMatch === undefined && attempt < CONFLICT_RETRIES;
  const lockKey = (connection: string, type: ResourceType, id: string) => `${connection}\u0000${type}\u0000${id}`;

  /**
   * Read-compute-commit for one resource: `compute` runs under the resource's lock and returns
   * either the changes to commit or a result that needs no write. The lock is released as soon
   * as the store has applied the change, and durability is awaited outside it, so concurrent
   * writes to one resource (200 PATCHes to one group) still share fsyncs.
   */
  async function writeSerialized(
    ctx: WriteContext,
    key: string,
    compute: () => Promise<{ request: CommitRequest; event: ResourceEvent; effects?: boolean; release?: () => void } | { result: StoredResource | undefined }>,
  ): Promise<StoredResource | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        const once = () => writeSerializedOnce(key, compute);
        return await (attempt > 1 && store.exclusive ? store.exclusive(`write:${key}`, once) : once());
      } catch (err) {
        if (!isRaceLost(err, ctx.ifMatch, attempt)) throw err;
      }
    }
  }

  async function writeSerializedOnce(
    key: string,
    compute: () => Promise<{ request: CommitRequest; event: ResourceEvent; effects?: boolean; release?: () => void } | { result: StoredResource | undefined }>,
  ): Promise<StoredResource | undefined> {
    const step = await locks.run(key, async () => {
      const c = await compute();
      if ('result' in c) return { result: c.result };
      try {
        let applied!: () => void;
        const appliedSignal = new Promise<void>((r) => (applied = r));
        const durable = store.commit(c.request, { onApplied: applied });
        await Promise.race([appliedSignal, durable]);
        return { durable, effects: c.effects, event: c.event };
      } finally {
        c.release?.(); // locks of users whose role the change rewrote
      }
    });
    if ('result' in step) return step.result;
    const committed = await step.durable;
    if (step.effects) effects?.committed();
    // Outbox changes return no resource: the last one is the resource this write is about.
    return committed.resources[committed.resources.length - 1];
  }

  /** Takes the locks of several resources (in a fixed order, so two writers cannot deadlock); returns their release. */
  const holdLocks = async (keys: string[]): Promise<() => void> => {
    const releases: Array<() => void> = [];
    for (const key of [...new Set(keys)].sort()) {
      await new Promise<void>((acquired) => {
        void locks.run(key, () => new Promise<void>((release) => {
          releases.push(release);
          acquired();
        }));
      });
    }
    return () => {
      for (const r of releases.splice(0)) r();
    };
  };

  /**
   * Group -> role rules: a group write that moves users in or out of a group (or renames or deletes
   * it) rewrites those users' roles in the same commit, under their locks. Users only: a nested
   * group's members keep their role. Returns the release of the users' locks.
   */
  async function deriveRoles(ctx: WriteContext, event: ResourceEvent, changes: CommitRequest['changes']): Promise<{ release?: () => void; effects: boolean }> {
    const none = { effects: false };
    if (!policy?.roleFromGroups || event.type !== 'Group' || policy.roleFromGroups(ctx.connection, []) === undefined) return none;
    const conn = ctx.connection;
    const afterName = typeof event.after?.displayName === 'string' ? event.after.displayName : undefined;
    const deleted = event.after === undefined;
    const renamed = !deleted && event.before !== undefined && event.before.displayName !== event.after!.displayName;
    const added = new Set(event.membersAdded ?? []);
    const removed = new Set(event.membersRemoved ?? []);
    const affected = new Set([...added, ...removed]);
    if (renamed || deleted) for (const m of await store.members(conn, event.id)) affected.add(m.value);
    if (affected.size === 0) return none;
    const ids = [...affected].sort();
    const release = await holdLocks(ids.map((id) => lockKey(conn, 'User', id)));
    try {
      const userChanges: CommitRequest['changes'] = [];
      let effectsAdded = false;
      for (const uid of ids) {
        const user = await store.get(conn, 'User', uid);
        if (!user) continue;
        const names: string[] = [];
        for (const g of await store.groupsOf(conn, uid)) {
          if (g.value === event.id) continue;
          const group = await store.get(conn, 'Group', g.value);
          if (typeof group?.data.displayName === 'string') names.push(group.data.displayName);
        }
        const inGroup = !deleted && !removed.has(uid) && (added.has(uid) || (await store.hasMember(conn, event.id, uid)));
        if (inGroup && afterName !== undefined) names.push(afterName);
        const role = policy.roleFromGroups(conn, names)!;
        const block = (user.data[BRIDGE_USER_SCHEMA] as Record<string, unknown> | undefined) ?? {};
        if (block.role === role) continue;
        const after: ScimJson = { ...user.data, [BRIDGE_USER_SCHEMA]: { ...block, role } };
        await policy.check(conn, user.data, after, uid); // the last owner keeps the role
        userChanges.push({ op: 'replace', type: 'User', connection: conn, id: uid, data: after, expectVersion: user.version });
        effectsAdded = (await withEffects(userChanges, { connection: conn, type: 'User', id: uid, before: user.data, after }, ctx.actor)) || effectsAdded;
      }
      // First in the commit: the group stays the last resource, which is what the write returns.
      changes.unshift(...userChanges);
      return { release, effects: effectsAdded };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Runs the connection's hook; an amended resource is validated again like a request body. */
  async function amendByHook(ctx: WriteContext, type: ResourceType, operation: 'create' | 'replace' | 'patch', id: string, before: ScimJson | undefined, n: NormalizedResource): Promise<NormalizedResource> {
    const hook = opts.hookFor?.(ctx.connection);
    if (!hook) return n;
    const amended = await hook({ connection: ctx.connection, type, operation, id, ...(before ? { before } : {}), after: n.data, ...(ctx.actor ? { actor: ctx.actor } : {}) });
    if (!amended) return n;
    const { id: _id, meta: _meta, ...rest } = amended;
    let out: NormalizedResource;
    try {
      out = normalizeResource(registry, type, { ...rest, schemas: Array.isArray(rest.schemas) ? rest.schemas : [registry.resourceType(type).schema] });
    } catch (err) {
      if (err instanceof ScimError) throw ScimError.invalidValue(`The provisioning hook of connection "${ctx.connection}" returned an invalid ${type}: ${err.detail}`);
      throw err;
    }
    // Members travel beside the resource: a hook that leaves them out keeps them.
    if (type === 'Group' && !('members' in rest) && n.members) out.members = n.members;
    return out;
  }

  /** The uniqueness the store enforces at commit, checked early (the commit still decides a race). */
  async function assertUnique(connection: string, type: ResourceType, data: ScimJson): Promise<void> {
    const checks: Array<[IndexedAttribute, string]> =
      type === 'User'
        ? [['userName', 'user'], ['externalId', 'user']]
        : [['displayName', 'group']];
    for (const [attr, what] of checks) {
      const value = data[attr];
      if (typeof value !== 'string' || value === '') continue;
      if (await store.findOne(connection, type, attr, value)) throw ScimError.uniqueness(`${attr} "${value}" is already taken by another ${what} in this connection`);
    }
  }

  /** Synthetic role groups keep their name and existence whatever the IdP sends. */
  function guardSynthetic(connection: string, before: ScimJson, after: ScimJson | undefined): void {
    if (!policy?.isSyntheticGroup?.(connection, before)) return;
    const name = String(before.displayName);
    if (after === undefined) throw ScimError.mutability(`"${name}" is a synthetic role group of connection "${connection}": it cannot be deleted. Remove its members instead.`);
    if (after.displayName !== before.displayName) throw ScimError.mutability(`"${name}" is a synthetic role group of connection "${connection}": it cannot be renamed.`);
  }

  async function mustGet(connection: string, type: ResourceType, id: string): Promise<StoredResource> {
    const r = await store.get(connection, type, id);
    if (!r) throw ScimError.notFound(`${type} ${id} not found.`);
    return r;
  }

  /** Members must exist in the same connection; fills type and display from the referenced resource. */
  async function resolveMembers(connection: string, groupId: string, members: Member[]): Promise<Member[]> {
    const out: Member[] = [];
    for (const m of members) {
      if (m.value === groupId) throw ScimError.invalidValue(`A group cannot be a member of itself (${groupId}).`);
      const user = m.type !== 'Group' ? await store.get(connection, 'User', m.value) : undefined;
      const target = user ?? (m.type !== 'User' ? await store.get(connection, 'Group', m.value) : undefined);
      if (!target) {
        throw ScimError.invalidValue(`Member ${m.value} does not exist: create the user or group first, then add it to the group.`);
      }
      const display = m.display ?? ((target.type === 'User' ? (target.data.displayName ?? target.data.userName) : target.data.displayName) as string | undefined);
      out.push(display === undefined ? { value: m.value, type: target.type } : { value: m.value, type: target.type, display });
    }
    return out;
  }

  return {
    registry,
    store,

    async create(ctx, type, body) {
      let n = normalizeResource(registry, type, body);
      const id = randomUUID();
      const at = new Date().toISOString();
      if (type === 'User') {
        if (n.data.active === undefined) n.data.active = true;
        policy?.onCreate(ctx.connection, n.data);
      }
      n = await amendByHook(ctx, type, 'create', id, undefined, n);
      if (type === 'User') {
        if (n.data.active === undefined) n.data.active = true;
        trackDeactivation(n.data, undefined, at);
        policy?.onCreate(ctx.connection, n.data);
        await policy?.check(ctx.connection, undefined, n.data, id);
      }
      const members = type === 'Group' && n.members ? await resolveMembers(ctx.connection, id, n.members) : undefined;
      // Before a sync connector or a claim check reaches a target, refuse what the store would refuse.
      if (effects?.prepare) await assertUnique(ctx.connection, type, n.data);
      const changes: CommitRequest['changes'] = [{ op: 'create', type, connection: ctx.connection, id, data: n.data, ...(members ? { members } : {}) }];
      const event: ResourceEvent = { connection: ctx.connection, type, id, after: n.data, ...(members ? { membersAdded: members.map((m) => m.value) } : {}) };
      let hasEffects = await withEffects(changes, event, ctx.actor);
      let result;
      let roles: Awaited<ReturnType<typeof deriveRoles>>;
      for (let attempt = 1; ; attempt++) {
        // role rewrites carry the users' versions: recomputed if another instance changed a user
        const attemptChanges = [...changes];
        roles = await deriveRoles(ctx, event, attemptChanges);
        try {
          result = await store.commit({ changes: attemptChanges, at });
          break;
        } catch (err) {
          if (!isRaceLost(err, undefined, attempt)) throw err;
        } finally {
          roles.release?.();
        }
      }
      hasEffects ||= roles.effects;
      if (hasEffects) effects?.committed();
      return result.resources[result.resources.length - 1];
    },

    async replace(ctx, type, id, body) {
      return (await guardUserWrite(ctx.connection, type, id, () => writeSerialized(ctx, lockKey(ctx.connection, type, id), async () => {
        const current = await mustGet(ctx.connection, type, id);
        const expectVersion = checkIfMatch(ctx.ifMatch, current) ?? current.version;
        if (body && typeof body === 'object' && !Array.isArray(body)) {
          const bodyId = (body as Record<string, unknown>).id;
          if (bodyId !== undefined && bodyId !== null && bodyId !== id) {
            throw ScimError.mutability(`"id" is read-only: the body says ${JSON.stringify(bodyId)} but the URL names ${id}.`);
          }
        }
        let n = normalizeResource(registry, type, body);
        const at = new Date().toISOString();
        n = await amendByHook(ctx, type, 'replace', id, current.data, n);
        if (type === 'User') {
          // An omitted `active` keeps its state: a PUT never reactivates or deactivates by accident.
          if (n.data.active === undefined) n.data.active = current.data.active ?? true;
          trackDeactivation(n.data, current.data, at);
          policy?.onUpdate(ctx.connection, n.data, current.data);
          await policy?.check(ctx.connection, current.data, n.data, id);
        }
        const changes: CommitRequest['changes'] = [{ op: 'replace', type, connection: ctx.connection, id, data: n.data, expectVersion }];
        const event: ResourceEvent = { connection: ctx.connection, type, id, before: current.data, after: n.data };
        if (type === 'Group') {
          // RFC7644 §3.5.1: PUT replaces the whole resource, members included.
          const members = await resolveMembers(ctx.connection, id, n.members ?? []);
          changes.push({ op: 'members', connection: ctx.connection, groupId: id, replaceAll: members });
          Object.assign(event, await memberDiff(ctx.connection, id, members));
          guardSynthetic(ctx.connection, current.data, n.data);
        }
        const hasEffects = await withEffects(changes, event, ctx.actor);
        const roles = await deriveRoles(ctx, event, changes);
        return { request: { changes, at }, event, effects: hasEffects || roles.effects, ...(roles.release ? { release: roles.release } : {}) };
      })))!;
    },

    async patch(ctx, type, id, body) {
      return (await guardUserWrite(ctx.connection, type, id, () => writeSerialized(ctx, lockKey(ctx.connection, type, id), async () => {
        const current = await mustGet(ctx.connection, type, id);
        const patchCtx = { type, resolver: registry.resolver(type), id, limits: limits.patch };
        const ops = parsePatchRequest(body, patchCtx);
        const expectVersion = checkIfMatch(ctx.ifMatch, current) ?? current.version;
        const currentMembers = type === 'Group' && needsMemberList(ops) ? await store.members(ctx.connection, id) : undefined;
        const result = applyPatch(current.data, ops, patchCtx, currentMembers);
        if (!result.changed) return { result: current };
        const at = new Date().toISOString();
        // A membership-only PATCH leaves the group's data as stored (already normalized): spare
        // normalizing it again (a copy: the stored object must never be edited in place).
        let n: NormalizedResource = type === 'Group' && deepEqual(result.data, current.data)
          ? { data: { ...current.data } }
          : normalizeResource(registry, type, { ...result.data, schemas: [registry.resourceType(type).schema] });
        n = await amendByHook(ctx, type, 'patch', id, current.data, n);
        if (type === 'User') {
          trackDeactivation(n.data, current.data, at);
          policy?.onUpdate(ctx.connection, n.data, current.data);
          await policy?.check(ctx.connection, current.data, n.data, id);
        }
        const changes: CommitRequest['changes'] = [];
        const dataChanged = !deepEqual(n.data, current.data);
        const event: ResourceEvent = { connection: ctx.connection, type, id, before: current.data, after: dataChanged ? n.data : current.data };
        // A membership-only PATCH leaves the group's data alone: only the O(change) delta is written.
        if (dataChanged) changes.push({ op: 'replace', type, connection: ctx.connection, id, data: n.data, expectVersion });
        const delta = result.members;
        if (delta && (delta.replaceAll || delta.add.length > 0 || delta.remove.length > 0)) {
          const replaceAll = delta.replaceAll ? await resolveMembers(ctx.connection, id, normalizeMembers(delta.replaceAll, 'members')) : undefined;
          const add = await resolveMembers(ctx.connection, id, normalizeMembers(delta.add, 'members'));
          changes.push({ op: 'members', connection: ctx.connection, groupId: id, ...(replaceAll ? { replaceAll } : {}), add, remove: delta.remove, expectVersion });
          if (effects || policy?.roleFromGroups) {
            if (replaceAll) Object.assign(event, await memberDiff(ctx.connection, id, replaceAll));
            // Only real changes reach connectors; hasMember is O(1), whatever the group size.
            const isMember = async (v: string) => replaceAll !== undefined || (await store.hasMember(ctx.connection, id, v));
            const added = new Set(event.membersAdded ?? []);
            for (const m of add) if (!(await isMember(m.value)) || replaceAll !== undefined) added.add(m.value);
            const removed = new Set(event.membersRemoved ?? []);
            for (const v of delta.remove) if (await isMember(v)) removed.add(v);
            for (const v of removed) added.delete(v);
            event.membersAdded = [...added];
            event.membersRemoved = [...removed];
          }
        }
        if (changes.length === 0) return { result: current };
        if (type === 'Group') guardSynthetic(ctx.connection, current.data, event.after);
        const hasEffects = await withEffects(changes, event, ctx.actor);
        const roles = await deriveRoles(ctx, event, changes);
        return { request: { changes, at }, event, effects: hasEffects || roles.effects, ...(roles.release ? { release: roles.release } : {}) };
      })))!;
    },

    async remove(ctx, type, id) {
      await guardUserWrite(ctx.connection, type, id, () =>
        writeSerialized(ctx, lockKey(ctx.connection, type, id), async () => {
          const current = await mustGet(ctx.connection, type, id);
          const expectVersion = checkIfMatch(ctx.ifMatch, current);
          if (type === 'User') await policy?.check(ctx.connection, current.data, undefined, id);
          else guardSynthetic(ctx.connection, current.data, undefined);
          await opts.hookFor?.(ctx.connection)?.({ connection: ctx.connection, type, operation: 'delete', id, before: current.data, ...(ctx.actor ? { actor: ctx.actor } : {}) });
          const soft = type === 'User' && policy?.deleteMode(ctx.connection) === 'soft';
          const changes: CommitRequest['changes'] = [{ op: 'delete', type, connection: ctx.connection, id, ...(expectVersion ? { expectVersion } : {}), ...(soft ? { soft } : {}) }];
          const event: ResourceEvent = { connection: ctx.connection, type, id, before: current.data, ...(soft ? { soft } : {}) };
          let hasEffects = await withEffects(changes, event, ctx.actor);
          if (effects) {
            // The store drops a deleted resource from every group it was in: connectors hear of it
            // too, or their groups keep a member that is gone (a dangling DN in LDAP).
            for (const g of await store.groupsOf(ctx.connection, id)) {
              const group = await store.get(ctx.connection, 'Group', g.value);
              if (!group) continue;
              hasEffects = (await withEffects(changes, { connection: ctx.connection, type: 'Group', id: g.value, before: group.data, after: group.data, membersRemoved: [id] }, ctx.actor)) || hasEffects;
            }
          }
          const roles = await deriveRoles(ctx, event, changes);
          return { request: { changes }, event, effects: hasEffects || roles.effects, ...(roles.release ? { release: roles.release } : {}) };
        }),
      );
    },

    get: mustGet,

    async query(connection, type, q) {
      return store.query({ connection, type, filter: q.filter, resolver: registry.resolver(type), sort: q.sort, startIndex: q.startIndex, count: q.count });
    },
  };
}
