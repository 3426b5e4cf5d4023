/**
 * The Store contract. The embedded default keeps everything in memory with a durable journal
 * (lowdb snapshot + append-only log); a PostgreSQL implementation must be able to satisfy the
 * same contract, so nothing here assumes data lives in memory: every call is async, queries take
 * the filter AST (a store may translate it to SQL), and commits carry deltas, not whole tables.
 */
import type { AttributeResolver, FilterNode } from '../scim/index.js';

export type ResourceType = 'User' | 'Group';

/** SCIM JSON as the gateway keeps it: core attributes at top level, extensions under their URN key.
 * For groups `members` is NOT part of `data`: membership is kept separately (see Member). */
export type ScimJson = Record<string, unknown>;

export interface StoredResource {
  id: string;
  type: ResourceType;
  connection: string;
  /** The resource without `id`, `meta`, `schemas` (computed on output) and, for groups, `members`. */
  data: ScimJson;
  /** Monotonic per resource, starts at 1; the ETag is W/"<version>". */
  version: number;
  created: string;
  lastModified: string;
  /** Number of members (groups only). */
  memberCount?: number;
}

export interface Member {
  /** SCIM id of the member (a User or a Group of the same connection). */
  value: string;
  type?: 'User' | 'Group';
  display?: string;
}

export type Change =
  | { op: 'create'; type: ResourceType; connection: string; id: string; data: ScimJson; members?: Member[] }
  | {
      op: 'replace';
      type: ResourceType;
      connection: string;
      id: string;
      data: ScimJson;
      /** Commit fails with 412 if the stored version differs (If-Match). */
      expectVersion?: number;
    }
  /** `soft` keeps the record as a tombstone: hidden from get/query/indexes, listed by deleted(). */
  | { op: 'delete'; type: ResourceType; connection: string; id: string; expectVersion?: number; soft?: boolean }
  /** Membership delta: O(change), whatever the group size. Applied after any replace of the same group
   * in the same commit. `replaceAll` first clears the list. Adding an existing member or removing an
   * absent one is a no-op. Bumps the group's version. */
  | {
      op: 'members';
      connection: string;
      groupId: string;
      replaceAll?: Member[];
      add?: Member[];
      remove?: string[];
      expectVersion?: number;
    };

/** What a connector must do for one SCIM change (issue 3: the outbox that feeds connectors). */
export type OutboxKind =
  | 'createUser'
  | 'updateUser'
  | 'deactivateUser'
  | 'reactivateUser'
  | 'deleteUser'
  | 'upsertGroup'
  | 'deleteGroup'
  | 'addMembers'
  | 'removeMembers';

/**
 * One operation for one connector instance, committed with the SCIM change that caused it.
 * Entries of one (connector, resource) are delivered in commit order: only the oldest is ever due,
 * and a dead one holds back the rest until it is retried or discarded.
 */
export interface OutboxEntry {
  /** Also the operation id the connector sees: the same on every retry (idempotency). */
  id: string;
  connection: string;
  /** Connector instance id (unique across connections). */
  connector: string;
  resourceType: ResourceType;
  resourceId: string;
  kind: OutboxKind;
  /** The resource as it was committed (SCIM JSON), member ids for membership changes. */
  payload: { resource?: ScimJson; memberIds?: string[] };
  createdAt: string;
  attempts: number;
  /** ISO time before which the entry is not due (backoff). */
  nextAttemptAt: string;
  state: 'pending' | 'dead';
  lastError?: string;
  /**
   * createUser only: claim protection is settled for this entry (the target was searched before
   * the commit, or before the first attempt to create). A retry after a crash then trusts the
   * connector's idempotent create instead of mistaking its own half-delivered account for a claim.
   */
  claimChecked?: boolean;
}

/** Outbox and target-link changes: they ride in the same commit as resource changes, or alone. */
export type OutboxChange =
  | { op: 'outbox.add'; entry: OutboxEntry }
  /**
   * After a failed delivery: attempts, next due time, or dead. `release`: the outcome of a claimed
   * delivery (outboxDue), which hands the entry back; without it (the console's retry) a delivery
   * in flight keeps its claim.
   */
  | { op: 'outbox.update'; id: string; attempts: number; nextAttemptAt: string; state: 'pending' | 'dead'; lastError?: string; claimChecked?: true; release?: true }
  /** Delivered or discarded. */
  | { op: 'outbox.remove'; id: string }
  /** The target's key (DN, row id) for a SCIM resource in one connector; null forgets it. */
  | { op: 'link'; connector: string; resourceId: string; key: string | null }
  /**
   * Audit records of this commit: journaled with it (one fsync, all or nothing) and handed to the
   * store's AuditSink once durable; they change no state.
   */
  | { op: 'audit'; records: unknown[] };

/**
 * Where a store hands the audit records of durable commits, in commit order. The store replays
 * records the sink has not got yet (commits above `lastSeq()`) when it opens, and keeps journal
 * segments until their records are handed over.
 */
export interface AuditSink {
  /** The highest commit seq whose records the sink holds durably. */
  lastSeq(): number;
  /**
   * The records of consecutive durable commits, oldest first. Called again before the previous
   * call settled: appends must be queued in call order, and a refused append must fail those
   * queued behind it (the store stops handing over after a refusal, so that `lastSeq()` never
   * jumps over records the sink lacks). May return before the records are on disk: the store
   * calls sync() before it drops the journal segments holding them. After a refusal the store
   * hands over again from `lastSeq()` on, read back from its journal.
   */
  append(commits: ReadonlyArray<{ seq: number; records: unknown[] }>): Promise<void>;
  sync?(): Promise<void>;
  /**
   * Validates and normalises one record at commit time, before the store journals it; the store
   * journals (and later hands over) what it returns. Throws for a record the sink would refuse:
   * the store leaves that record out and logs why, and the commit goes ahead.
   */
  prepare?(record: unknown): unknown;
}

export interface CommitRequest {
  changes: Array<Change | OutboxChange>;
  /** ISO time stamped on every changed resource (created/lastModified). */
  at?: string;
}

export interface CommitHooks {
  /**
   * Called once the change is visible to later reads (before it is durable, for a store that
   * applies in memory first; at transaction commit for a database). Callers that serialize
   * writes per resource release their lock here instead of waiting for the disk, so concurrent
   * writes to one resource still share an fsync. If the commit later fails, the store undoes it
   * and fails every commit that came after it.
   */
  onApplied?: () => void;
}

export interface CommitResult {
  /** The resources as they are after the commit, in the order of `changes` (deleted ones omitted). */
  resources: StoredResource[];
  /** Journal sequence number of the commit. */
  seq: number;
}

export type IndexedAttribute = 'userName' | 'externalId' | 'displayName' | 'email';

export interface SortSpec {
  /** Resolved attribute to sort by; undefined sorts by creation order (stable across pages). */
  by?: { extension?: string; canonical: string; sub?: string; caseExact: boolean };
  order: 'ascending' | 'descending';
}

export interface QueryRequest {
  connection: string;
  type: ResourceType;
  filter?: FilterNode;
  /** Resolves the filter's attribute names (case rules, extension location). Required with `filter`. */
  resolver?: AttributeResolver;
  sort?: SortSpec;
  /** 1-based, already clamped to >= 1. */
  startIndex: number;
  /** Already clamped to 0..maxResults. */
  count: number;
}

export interface QueryResult {
  totalResults: number;
  resources: StoredResource[];
}

export interface StoreStats {
  users: number;
  groups: number;
  outboxPending: number;
  outboxDead: number;
  journalBytes: number;
  snapshotBytes: number;
  lastCompaction?: string;
  /** Compactions (snapshot rewrites) since the store opened; embedded store only. */
  compactions?: number;
  /**
   * True while the audit sink refuses the store's records (a full disk): they wait in the journal
   * and are handed over once it accepts them again. Embedded store only.
   */
  auditBehind?: boolean;
  /** Audit records left out of their commit since the store opened, because they were not valid. */
  auditRecordsLeftOut?: number;
}

export interface Store {
  open(): Promise<void>;
  /** Flushes pending writes, compacts if useful, releases files. */
  close(): Promise<void>;

  get(connection: string, type: ResourceType, id: string): Promise<StoredResource | undefined>;
  /** Exact lookup on a unique index: userName (case-insensitive), externalId (case-sensitive), group displayName (case-insensitive). */
  findOne(connection: string, type: ResourceType, attr: IndexedAttribute, value: string): Promise<StoredResource | undefined>;
  query(request: QueryRequest): Promise<QueryResult>;

  /** Members of a group, in insertion order. */
  members(connection: string, groupId: string): Promise<Member[]>;
  /** Whether `memberId` is a member of the group: O(1), for filters such as members[value eq "x"]. */
  hasMember(connection: string, groupId: string, memberId: string): Promise<boolean>;
  /** Groups the resource is a direct member of (for User.groups). */
  groupsOf(connection: string, memberId: string): Promise<Array<{ value: string; display?: string }>>;
  /**
   * A user and its groups read together (one round trip for a store behind a network; a store
   * without it is asked get() then groupsOf()). Undefined when there is no such user.
   */
  getUserWithGroups?(connection: string, id: string): Promise<{ resource: StoredResource; groups: Array<{ value: string; display?: string }> } | undefined>;

  /**
   * Applies all changes or none, durably (fsynced) before the promise resolves.
   * Throws ScimError 409 uniqueness (userName / externalId / group displayName taken within the
   * connection), 412 (expectVersion mismatch), 404 (target missing), 503 (disk full / IO error,
   * nothing applied). Concurrent commits share one fsync (group commit).
   */
  commit(request: CommitRequest, hooks?: CommitHooks): Promise<CommitResult>;

  stats(): Promise<StoreStats>;

  /**
   * Claims entries due for delivery at `now`: the oldest pending entry of each (connector,
   * resource), oldest first, that nobody holds. A claimed entry is not returned again (to this
   * process or another instance) until its outcome is committed (`outbox.remove`, or
   * `outbox.update` with `release`) or it is handed back with outboxRelease; a store shared by
   * several instances lets another take it over only once this process is gone.
   */
  outboxDue(now: string, limit: number): Promise<OutboxEntry[]>;
  /** Hands claimed entries back undelivered (a worker that stops, or gives up recording an outcome). */
  outboxRelease(ids: readonly string[]): Promise<void>;
  /** One entry by id (an indexed lookup), or undefined once it is delivered or discarded. */
  outboxGet(id: string): Promise<OutboxEntry | undefined>;
  /** All entries, oldest first, optionally only one state or one connection (console, CLI). */
  outboxList(filter?: { state?: 'pending' | 'dead'; connection?: string; connector?: string }): Promise<OutboxEntry[]>;
  /** Soft-deleted resources of a connection (tombstones), newest last. */
  deleted(connection: string, type: ResourceType): Promise<StoredResource[]>;
  /** The target key a connector returned for a SCIM resource. */
  linkOf(connector: string, resourceId: string): Promise<string | undefined>;
  /** The resource a connector's target key was last linked to (case-insensitive key), if any. */
  linkedResource(connector: string, targetKey: string): Promise<string | undefined>;

  /**
   * Runs `fn` while holding a lock named `key` that every gateway instance sharing this store
   * honours (a store shared by several processes has one; a single-process store needs none: the
   * caller's in-process lock is enough). Used where a check and the commit after it must not
   * interleave with another instance's (last-owner protection).
   */
  exclusive?<T>(key: string, fn: () => Promise<T>): Promise<T>;

  /**
   * Writes a consistent copy of everything acknowledged so far into `targetDir` (created if
   * missing), without stopping writes. The copy opens as a store of its own.
   */
  backup(targetDir: string): Promise<{ file: string; seq: number; bytes: number; users: number; groups: number }>;
}
