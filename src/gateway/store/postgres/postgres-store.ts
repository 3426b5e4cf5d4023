/**
 * The PostgreSQL store: the Store contract (../types.ts) over one database that several gateway
 * instances share. Each commit is one transaction that first takes a transaction advisory lock
 * per resource it touches (sorted, so two commits cannot deadlock on them): commits of one
 * resource are therefore serialized across instances, versions are checked against committed
 * state, and outbox entries of one resource get their seq in commit order. Uniqueness is the
 * database's (unique indexes on keys the gateway computes exactly as the embedded store does).
 * The outbox is shared: outboxDue leases the head entry of each (connector, resource) with
 * FOR UPDATE SKIP LOCKED; a leased entry is never claimed again while its lease is renewed, and
 * an instance renews exactly the entries it holds (claimed, outcome not yet committed). A dead
 * instance's leases expire; a restarted one (same instance id) takes its own back at once.
 * See docs/decisions/0013-postgres-store.md and 0015-postgres-failover.md.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { compileFilter } from '../../scim/filter/index.js';
import { ScimError, type AttributeResolver, type ResolvedAttribute } from '../../scim/index.js';
import { DurableJsonFile, SNAPSHOT_FILE, SNAPSHOT_FORMAT, type SnapshotConnection, type SnapshotData } from '../snapshot.js';
import { emailKeys, linkKey, toJournalChange, type JournalChange } from '../state.js';
import type {
  CommitHooks,
  CommitRequest,
  CommitResult,
  IndexedAttribute,
  Member,
  OutboxChange,
  OutboxEntry,
  QueryRequest,
  QueryResult,
  ResourceType,
  ScimJson,
  Store,
  StoreStats,
  StoredResource,
} from '../types.js';
import { prepareDraft } from '../../audit/index.js';
import { PostgresAuditLog, stageInTransaction } from './audit-log.js';
import { Database, DatabaseUnavailableError, isUnavailable, redactMessage, redactUrl, type PasswordSource } from './connection.js';
import { migrate } from './migrations.js';
import { Params, sortLateral, translateFilter, translateSuperset, type SqlContext } from './sql-filter.js';

/** The logging surface the store needs (pino-compatible). */
export interface PostgresStoreLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface PostgresStoreOptions {
  /** postgres://user[:password]@host:port/database; shown only redacted. */
  url: string;
  /** Asked for the password when neither the URL nor PGPASSWORD has one. */
  password?: PasswordSource;
  logger?: PostgresStoreLogger;
  /** Connections of this instance's pool (default 10). */
  poolSize?: number;
  /** How long an outbox lease lasts without renewal (default 5 s); a dead instance's entries wait this long. */
  leaseMs?: number;
  /**
   * This instance's name in leases, stable across restarts (the gateway keeps it in its data
   * directory), so that a restarted instance takes back what it held at once. Default: random.
   */
  instanceId?: string;
  /** Longest wait for the database per statement or connection attempt before a 503 (default 10 s). */
  timeoutMs?: number;
  /**
   * Most resources a filter the database cannot evaluate may make the gateway examine in memory;
   * past it the query is refused with 400 tooMany (default 10,000).
   */
  fallbackScanLimit?: number;
}

const fallbackLogger: PostgresStoreLogger = {
  info() {},
  warn: (o, msg) => console.warn(JSON.stringify({ level: 'warn', msg, ...o })),
  error: (o, msg) => console.error(JSON.stringify({ level: 'error', msg, ...o })),
};

interface ResourceRow {
  connection: string;
  id: string;
  type: ResourceType;
  data: ScimJson;
  version: number;
  created: string;
  last_modified: string;
  member_count: number | null;
}

interface OutboxRow {
  id: string;
  connection: string;
  connector: string;
  resource_type: ResourceType;
  resource_id: string;
  kind: OutboxEntry['kind'];
  payload: OutboxEntry['payload'];
  created_at: string;
  attempts: number;
  next_attempt_at: string;
  state: 'pending' | 'dead';
  last_error: string | null;
  claim_checked: boolean;
}

const RESOURCE_COLUMNS = 'r.connection, r.id, r.type, r.data, r.version, r.created, r.last_modified, r.member_count';

/**
 * The type check of a statement that finds a row by its primary key (connection, id), written so
 * that no index can use it: with `r.type = $3` the paging index (connection, type, ord) matched
 * two columns too, and on a cached generic plan PostgreSQL chose it and read every user to find
 * one (10 ms per PATCH at 500 users).
 */
const BY_ID_TYPE = (param: string): string => `(r.type || '') = ${param}`;
const OUTBOX_COLUMNS = 'o.id, o.connection, o.connector, o.resource_type, o.resource_id, o.kind, o.payload, o.created_at, o.attempts, o.next_attempt_at, o.state, o.last_error, o.claim_checked';

function toResource(row: ResourceRow): StoredResource {
  const r: StoredResource = { id: row.id, type: row.type, connection: row.connection, data: row.data, version: row.version, created: row.created, lastModified: row.last_modified };
  if (row.type === 'Group') r.memberCount = row.member_count ?? 0;
  return r;
}

function toEntry(row: OutboxRow): OutboxEntry {
  const e: OutboxEntry = {
    id: row.id,
    connection: row.connection,
    connector: row.connector,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    kind: row.kind,
    payload: row.payload,
    createdAt: row.created_at,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    state: row.state,
  };
  if (row.last_error !== null) e.lastError = row.last_error;
  if (row.claim_checked) e.claimChecked = true;
  return e;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Groups keep membership outside `data`, as the embedded store does. */
function groupData(data: ScimJson): ScimJson {
  if (!('members' in data)) return data;
  const { members: _ignored, ...rest } = data;
  return rest;
}

/** The lookup keys of a resource: the embedded store's index keys (JavaScript case folding). */
export function keysOf(type: ResourceType, data: ScimJson): { userName: string | null; externalId: string | null; displayName: string | null; emails: string[] } {
  const externalId = typeof data.externalId === 'string' ? data.externalId : null;
  if (type === 'User') {
    return { userName: typeof data.userName === 'string' ? data.userName.toLowerCase() : null, externalId, displayName: null, emails: emailKeys(data) };
  }
  return { userName: null, externalId, displayName: typeof data.displayName === 'string' ? data.displayName.toLowerCase() : null, emails: [] };
}

/** A 64-bit advisory lock key for a resource (collisions only serialize two unrelated commits). */
function lockKey(connection: string, id: string): string {
  return BigInt.asIntN(64, createHash('sha256').update(`${connection}\u0000${id}`).digest().readBigUInt64BE(0)).toString();
}

/** The advisory lock keys of the resources a commit touches, sorted: two commits never wait on each other in a cycle. */
function lockKeysOf(changes: readonly JournalChange[]): string[] {
  const keys = new Set<string>();
  for (const c of changes) {
    if (c.op === 'create' || c.op === 'replace' || c.op === 'delete') keys.add(lockKey(c.connection, c.id));
    else if (c.op === 'members') keys.add(lockKey(c.connection, c.groupId));
    else if (c.op === 'outbox.add') keys.add(lockKey(c.entry.connection, c.entry.resourceId));
  }
  return [...keys].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
}

/**
 * Whether a commit's statements can be sent at once: creates (no group members), replaces,
 * outbox and link changes, each resource at most once (a second change of one resource in the
 * same commit reads the first's result), nothing that cascades (deletes, membership).
 */
function pipelinable(changes: readonly JournalChange[]): boolean {
  const seen = new Set<string>();
  for (const c of changes) {
    if (c.op === 'delete' || c.op === 'members') return false;
    if (c.op === 'create' || c.op === 'replace') {
      if (c.op === 'create' && c.type === 'Group' && c.members && c.members.length > 0) return false;
      const key = txnKey(c.connection, c.id);
      if (seen.has(key)) return false;
      seen.add(key);
    }
  }
  return true;
}

const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 5;

function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Per-commit bookkeeping, as the embedded store's Txn: one version bump per resource per commit. */
interface Txn {
  at: string;
  /** `connection \0 id` -> version before this commit (0 for a create). */
  start: Map<string, number>;
  /** The resource as this commit leaves it (null: deleted). */
  latest: Map<string, StoredResource | null>;
  audit: unknown[];
}

const txnKey = (connection: string, id: string): string => `${connection}\u0000${id}`;

/** The PostgreSQL store (see the file comment). */
export class PostgresStore implements Store {
  /** Audit records left out of their commit since open, because they were not valid. */
  private auditLeftOut = 0;
  /** Owns every pool of this store (ended at close). */
  private root?: Database;
  private database?: Database;
  /** Connections that hold `exclusive` locks: apart from the main pool, so a holder can always commit. */
  private locks?: Database;
  /** One connection for lease renewals: they must not queue behind a busy main pool. */
  private control?: Database;
  private opened = false;
  private heartbeat?: NodeJS.Timeout;
  private auditTimer?: NodeJS.Timeout;
  /** Outbox entries this instance claimed and has not settled: the only leases it renews. */
  private readonly held = new Set<string>();
  /**
   * Since when every database call has worked (undefined: the last one failed). Another
   * instance's expired leases are taken over only after a whole lease of working connectivity:
   * when the database comes back, their owners get a lease's time to renew them first.
   */
  private healthySince?: number;
  /** groupsOf calls waiting for their shared query, per connection. */
  private readonly groupsBatches = new Map<string, Map<string, Array<{ resolve(v: Array<{ value: string; display?: string }>): void; reject(err: unknown): void }>>>();
  private readonly log: PostgresStoreLogger;
  private readonly leaseMs: number;
  private readonly fallbackScanLimit: number;
  /** SQL that lower-cases text for sorting: ICU where the server has it, ASCII otherwise. */
  private sortFold: (text: string) => string = (t) => `lower(${t} COLLATE "C")`;
  instanceId: string;
  /** The audit log kept in this database (one chain for every instance). */
  readonly auditLog: PostgresAuditLog;

  constructor(private readonly options: PostgresStoreOptions) {
    this.log = options.logger ?? fallbackLogger;
    this.leaseMs = options.leaseMs ?? 5_000;
    this.fallbackScanLimit = options.fallbackScanLimit ?? 10_000;
    this.instanceId = options.instanceId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.auditLog = new PostgresAuditLog(() => this.db(), this.log);
  }

  /** Where the store is, safe to log. */
  get location(): string {
    return redactUrl(this.options.url);
  }

  private db(): Database {
    if (!this.database || !this.opened) throw ScimError.unavailable('The store is not open.');
    return this.database;
  }

  /** A database error as the caller may see it: no password, the location named. */
  private unreachable(err: unknown): ScimError {
    this.healthySince = undefined;
    const committing = err instanceof DatabaseUnavailableError && err.committing;
    const message = err instanceof DatabaseUnavailableError ? err.message : `The database ${this.location} cannot be reached (${redactMessage(err instanceof Error ? err.message : String(err), this.options.url)})`;
    // a connection lost during COMMIT may have lost only the answer: the outcome is unknown
    const outcome = committing ? 'whether the change was saved is unknown: read it again before retrying' : 'nothing was changed. Retry in a moment';
    return ScimError.unavailable(`${message}: ${outcome}.`);
  }

  private healthy(): void {
    this.healthySince ??= Date.now();
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  async open(): Promise<void> {
    if (this.opened) return;
    const t0 = performance.now();
    // A first connection prepares the schema and settles this instance's id (takeBackLeases); the
    // pools that follow carry that id as their application_name, which is how a twin is detected.
    const root = await Database.open({
      url: this.options.url,
      password: this.options.password,
      max: 1,
      applicationName: 'scim-bridge (starting)',
      logger: this.log,
      ...(this.options.timeoutMs !== undefined ? { timeoutMs: this.options.timeoutMs } : {}),
    }).catch((err: Error) => {
      throw new Error(`The PostgreSQL store at ${this.location} cannot be used: ${redactMessage(err.message, this.options.url)}`);
    });
    let client: pg.PoolClient;
    try {
      client = await root.connect();
    } catch (err) {
      await root.end();
      throw new Error(`Cannot connect to the PostgreSQL store at ${this.location}: ${redactMessage((err as Error).message, this.options.url)}`);
    }
    try {
      const applied = await migrate(client);
      if (applied.length > 0) this.log.info({ database: this.location, versions: applied }, 'store: applied schema migrations');
      const icu = await client.query("SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'");
      if (icu.rowCount) this.sortFold = (t) => `lower(${t} COLLATE "und-x-icu")`;
      // Fresh statistics: after a bulk load (a migration, an IdP's first sync) the planner would
      // otherwise still see empty tables until autovacuum gets to them, and scan.
      await client.query('ANALYZE scim_resources, scim_members, scim_outbox, scim_links').catch((err: Error) => {
        this.log.warn({ err: redactMessage(err.message, this.options.url) }, 'store: could not ANALYZE the tables; queries may be slow until autovacuum does');
      });
      await this.takeBackLeases(client);
    } catch (err) {
      client.release(true);
      await root.end();
      throw new Error(`The PostgreSQL store at ${this.location} could not be prepared: ${redactMessage((err as Error).message, this.options.url)}`);
    }
    // the preparing connection is not kept: it is the only one under the starting name
    client.release(true);
    const applicationName = `scim-bridge ${this.instanceId}`;
    this.root = root;
    // Reads share two pipelined connections; transactions take the others one at a time.
    this.database = root.fork({ max: this.options.poolSize ?? 10, applicationName, pipeline: true, sharedReaders: 2 });
    this.locks = root.fork({ max: 4, applicationName: `${applicationName} locks` });
    this.control = root.fork({ max: 1, applicationName: `${applicationName} leases` });
    this.opened = true;
    this.healthySince = Date.now();
    // A live instance keeps the leases of what it holds; a killed one stops renewing and they expire.
    this.heartbeat = setInterval(() => void this.renewLeases(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.heartbeat.unref();
    // Records a killed instance staged but never chained: whoever is alive chains them.
    this.auditTimer = setInterval(() => void this.auditLog.kickIfPending(), 1_000);
    this.auditTimer.unref();
    this.auditLog.kick();
    const stats = await this.stats();
    this.log.info({ database: this.location, instance: this.instanceId, users: stats.users, groups: stats.groups, ms: Math.round(performance.now() - t0) }, 'store: opened');
  }

  /**
   * A restarted instance (same id) takes back the leases its previous run held: nothing of that
   * run is in flight any more. Unless another live process uses the same id (a copied data
   * directory): then this one runs under a new id and leaves those leases alone.
   */
  private async takeBackLeases(client: pg.PoolClient): Promise<void> {
    const applicationName = `scim-bridge ${this.instanceId}`;
    const twins = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND (application_name = $1 OR starts_with(application_name, $2))',
      [applicationName, `${applicationName} `],
    );
    if (twins.rows[0].n > 0) {
      const previous = this.instanceId;
      this.instanceId = `${previous}:${randomBytes(4).toString('hex')}`;
      this.log.warn({ instance: previous, now: this.instanceId }, 'store: another running gateway uses this instance id (a copied data directory?); this one runs under a new id');
      return;
    }
    const r = await client.query('UPDATE scim_outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1', [this.instanceId]);
    if (r.rowCount) this.log.info({ entries: r.rowCount }, 'store: took back the outbox entries this instance held before it restarted');
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.auditTimer) clearInterval(this.auditTimer);
    this.heartbeat = undefined;
    this.auditTimer = undefined;
    await this.auditLog.sync().catch((err: Error) => this.log.warn({ err: redactMessage(err.message, this.options.url) }, 'store: audit records stay staged; the next instance to run chains them'));
    await this.auditLog.close();
    try {
      // hand our entries back at once instead of letting the leases run out
      await this.database!.query('UPDATE scim_outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1', [this.instanceId]);
    } catch (err) {
      this.log.warn({ err: redactMessage((err as Error).message, this.options.url) }, 'store: could not release outbox leases; they expire by themselves');
    }
    this.held.clear();
    this.opened = false;
    await this.root!.end();
    this.root = undefined;
    this.database = undefined;
    this.locks = undefined;
    this.control = undefined;
  }

  /** Renews the leases of the entries this instance holds (also when they expired meanwhile, unless another instance took them). */
  private async renewLeases(): Promise<void> {
    if (!this.opened) return;
    try {
      if (this.held.size > 0) {
        await this.control!.query(`UPDATE scim_outbox SET lease_until = clock_timestamp() + $3 * interval '1 millisecond' WHERE lease_owner = $1 AND id = ANY($2::text[])`, [
          this.instanceId,
          [...this.held],
          this.leaseMs,
        ]);
      } else {
        await this.control!.query('SELECT 1');
      }
      this.healthy();
    } catch (err) {
      this.healthySince = undefined;
      this.log.warn({ err: redactMessage((err as Error).message, this.options.url) }, 'store: could not renew outbox leases');
    }
  }

  /**
   * Runs `fn` in a transaction; serialization failures and deadlocks are retried, an unreachable
   * database becomes 503. `begin` (BEGIN plus parameterless SQL) travels in one round trip; `fn`
   * gets its last result.
   */
  private async transaction<T>(fn: (client: pg.PoolClient, begun: Promise<pg.QueryResult | undefined>, tx: { commitNow(): void }) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    const db = this.db();
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await db.transaction(fn, begin);
        this.healthy();
        return result;
      } catch (err) {
        if (RETRYABLE.has(pgCode(err) ?? '') && attempt < MAX_ATTEMPTS) continue;
        if (err instanceof ScimError) throw err;
        if (isUnavailable(err)) throw this.unreachable(err);
        throw this.mapError(err);
      }
    }
  }

  /** Database errors a request can cause, as the SCIM errors the embedded store throws. */
  private mapError(err: unknown): Error {
    const code = pgCode(err);
    if (code === '22P05' || code === '22021') return ScimError.invalidValue('A value contains a character the database cannot store (NUL).');
    if (code === '23503') return ScimError.invalidValue('members: a member was deleted while the change was being made; read the group again and retry.');
    const message = redactMessage(err instanceof Error ? err.message : String(err), this.options.url);
    return new Error(`store: ${message}`);
  }

  /**
   * Runs `fn` while holding a lock every instance on this database honours (last-owner
   * protection, retries after a lost version race). The lock lives on a connection of its own
   * pool, so `fn`'s commits never wait for a connection a lock holder keeps.
   */
  async exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    this.db();
    let client: pg.PoolClient;
    try {
      client = await this.locks!.connect();
    } catch (err) {
      throw this.unreachable(err);
    }
    const k = lockKey('exclusive', key);
    let broken = false;
    try {
      await client.query('SELECT pg_advisory_lock($1)', [k]);
    } catch (err) {
      client.release(true);
      throw this.unreachable(err);
    }
    try {
      return await fn();
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [k]).catch(() => {
        broken = true; // the session ends with the connection, and with it the lock
      });
      client.release(broken);
    }
  }

  // ---- commit ------------------------------------------------------------------------------

  async commit(request: CommitRequest, hooks?: CommitHooks): Promise<CommitResult> {
    if (!this.opened) throw ScimError.unavailable('The store is not open.');
    const at = request.at ?? new Date().toISOString();
    // The same shape checks as the embedded store; JSON copies so nothing references the caller's objects.
    const changes = request.changes.map((c) => JSON.parse(JSON.stringify(toJournalChange(c))) as JournalChange);
    const expect = request.changes.map((c) => ('expectVersion' in c ? c.expectVersion : undefined));
    const keys = lockKeysOf(changes);
    // Locks and the commit's seq go with BEGIN (one statement list); the keys are integers we made.
    // The seq is also kept as a transaction-local setting, for the audit records staged below.
    const begin = `BEGIN; SELECT count(*) FROM (SELECT pg_advisory_xact_lock(k) FROM unnest(ARRAY[${keys.join(',')}]::bigint[]) WITH ORDINALITY AS u(k, i) ORDER BY i) AS l; SELECT set_config('scim.seq', nextval('scim_commit_seq')::text, true) AS seq`;
    const result = await this.transaction((client, begun, tx) => this.applyCommit(client, changes, expect, at, begun, tx), begin);
    // What this instance held and has now settled (delivered, or handed back after an attempt).
    for (const c of changes) {
      if (c.op === 'outbox.remove' || (c.op === 'outbox.update' && c.release)) this.held.delete(c.id);
    }
    if (changes.some((c) => c.op === 'audit')) this.auditLog.kick();
    hooks?.onApplied?.();
    return result;
  }

  /**
   * Runs after BEGIN, the resource locks (statements after them read what earlier holders
   * committed) and the seq. A commit whose statements do not depend on each other's results (the
   * IdP's creates and updates, a delivery's outcome) is sent as one pipeline behind BEGIN and
   * its answers read together: one round trip before COMMIT instead of one per statement, and
   * none at all when COMMIT can go with them (a create, a delivery's success).
   */
  private async applyCommit(
    client: pg.PoolClient,
    changes: JournalChange[],
    expect: Array<number | undefined>,
    at: string,
    begun: Promise<pg.QueryResult | undefined>,
    tx: { commitNow(): void },
  ): Promise<CommitResult> {
    const txn: Txn = { at, start: new Map(), latest: new Map(), audit: [] };
    const seqOf = async () => Number(((await begun)!.rows[0] as { seq: string }).seq);
    let seq: number;
    if (pipelinable(changes)) {
      const pending: Array<Promise<unknown>> = [seqOf()];
      const rows: Array<Promise<ResourceRow | undefined> | undefined> = [];
      for (let i = 0; i < changes.length; i++) {
        const c = changes[i];
        if (c.op === 'create') rows[i] = this.insertResource(client, c, at);
        else if (c.op === 'replace') rows[i] = this.updateResource(client, c, 1, expect[i] ?? null, at);
        else if (c.op !== 'members' && c.op !== 'delete') pending.push(this.outboxChange(client, c, txn));
      }
      pending.push(this.stageAudit(client, txn));
      // Where every failure is an error (no update that may match no row), COMMIT goes too.
      if (changes.every((c) => c.op !== 'replace' && c.op !== 'outbox.update')) tx.commitNow();
      // Every answer, then the first failure: the transaction is aborted from there on (25P02).
      const settled = await Promise.allSettled([...pending, ...rows.filter((r) => r !== undefined)]);
      const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected' && pgCode(r.reason) !== '25P02');
      if (failure) throw failure.reason;
      const aborted = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (aborted) throw aborted.reason;
      seq = await seqOf();
      for (let i = 0; i < changes.length; i++) {
        const c = changes[i];
        if (c.op !== 'create' && c.op !== 'replace') continue;
        const row = await rows[i]!;
        const key = txnKey(c.connection, c.id);
        if (!row) {
          // the version check in the WHERE failed, or there is no such resource: which one
          const cur = await this.target(client, c.connection, c.type, c.id);
          this.checkVersion(c.type, c.id, cur.version, key, expect[i], txn);
          throw new Error(`store: replace of ${c.type} ${c.id} matched no row`);
        }
        txn.start.set(key, c.op === 'create' ? 0 : row.version - 1);
        txn.latest.set(key, toResource(row));
      }
    } else {
      seq = await seqOf();
      // Creates, replaces, deletes and outbox changes first, in order; then membership (as state.ts).
      for (let i = 0; i < changes.length; i++) {
        const c = changes[i];
        if (c.op === 'members') continue;
        if (c.op === 'create') await this.create(client, c, txn);
        else if (c.op === 'replace') await this.replace(client, c, expect[i], txn);
        else if (c.op === 'delete') await this.remove(client, c, expect[i], txn);
        else await this.outboxChange(client, c, txn);
      }
      for (let i = 0; i < changes.length; i++) {
        const c = changes[i];
        if (c.op === 'members') await this.applyMembers(client, c, expect[i], txn);
        else if (c.op === 'create' && c.type === 'Group' && c.members && c.members.length > 0 && txn.latest.get(txnKey(c.connection, c.id))) {
          await this.replaceAllMembers(client, c.connection, c.id, c.members, txn);
        }
      }
      await this.stageAudit(client, txn);
    }

    const resources: StoredResource[] = [];
    for (const c of changes) {
      if (c.op !== 'create' && c.op !== 'replace' && c.op !== 'members') continue;
      const r = txn.latest.get(txnKey(c.connection, c.op === 'members' ? c.groupId : c.id));
      if (r) resources.push(r);
    }
    return { resources, seq };
  }

  /** Stages the commit's audit records; their storeSeq is the commit's (the `scim.seq` setting BEGIN made). */
  private async stageAudit(client: pg.PoolClient, txn: Txn): Promise<void> {
    if (txn.audit.length === 0) return;
    const drafts = [];
    for (const r of txn.audit) {
      try {
        drafts.push(prepareDraft(r));
      } catch (err) {
        this.auditLeftOut++;
        this.log.error({ err }, 'store: an audit record of a commit is not valid and was left out');
      }
    }
    await stageInTransaction(client, drafts);
  }

  private uniqueness(err: unknown, c: { id: string; data: ScimJson }): Error {
    if (pgCode(err) !== '23505') return err as Error;
    const constraint = (err as { constraint?: string }).constraint ?? '';
    const d = c.data;
    if (constraint === 'scim_resources_user_name') return ScimError.uniqueness(`userName "${String(d.userName)}" is already taken by another user in this connection`);
    if (constraint === 'scim_resources_user_external_id') return ScimError.uniqueness(`externalId "${String(d.externalId)}" is already taken by another user in this connection`);
    if (constraint === 'scim_resources_display_name') return ScimError.uniqueness(`displayName "${String(d.displayName)}" is already taken by another group in this connection`);
    if (constraint === 'scim_resources_pkey') return ScimError.uniqueness(`id "${c.id}" is already used by another resource in this connection`);
    return err as Error;
  }

  /** Runs a statement that may hit a unique index; the error names the attribute as the embedded store does. */
  private async unique<R extends pg.QueryResultRow>(client: pg.PoolClient, sql: string | { name: string; text: string }, params: unknown[], c: { id: string; data: ScimJson }): Promise<pg.QueryResult<R>> {
    try {
      return await client.query<R>(typeof sql === 'string' ? { text: sql, values: params } : { ...sql, values: params });
    } catch (err) {
      throw this.uniqueness(err, c);
    }
  }

  /** The INSERT of a created resource (a taken key is the 409 the embedded store gives). */
  private async insertResource(client: pg.PoolClient, c: Extract<JournalChange, { op: 'create' }>, at: string): Promise<ResourceRow> {
    const data = c.type === 'Group' ? groupData(c.data) : c.data;
    const k = keysOf(c.type, data);
    const r = await this.unique<ResourceRow>(
      client,
      {
        name: 'scim-insert-resource',
        text: `INSERT INTO scim_resources AS r (connection, id, type, data, version, created, last_modified, member_count, user_name_key, external_id, display_name_key, email_keys)
       VALUES ($1, $2, $3, $4, 1, $5, $5, $6, $7, $8, $9, $10) RETURNING ${RESOURCE_COLUMNS}`,
      },
      [c.connection, c.id, c.type, data, at, c.type === 'Group' ? 0 : null, k.userName, k.externalId, k.displayName, k.emails],
      { id: c.id, data },
    );
    return r.rows[0];
  }

  private async create(client: pg.PoolClient, c: Extract<JournalChange, { op: 'create' }>, txn: Txn): Promise<void> {
    const row = await this.insertResource(client, c, txn.at);
    const key = txnKey(c.connection, c.id);
    txn.start.set(key, 0);
    txn.latest.set(key, toResource(row));
  }

  /**
   * One statement: the new data, `inc` on the version, and the version check (`version`, or
   * null for none) in the WHERE (the row is ours: its advisory lock is held). No row: the
   * resource is missing or at another version.
   */
  private async updateResource(client: pg.PoolClient, c: Extract<JournalChange, { op: 'replace' }>, inc: number, version: number | null, at: string): Promise<ResourceRow | undefined> {
    const data = c.type === 'Group' ? groupData(c.data) : c.data;
    const k = keysOf(c.type, data);
    const r = await this.unique<ResourceRow>(
      client,
      {
        name: 'scim-update-resource',
        text: `UPDATE scim_resources AS r SET data = $4, version = version + $5, last_modified = $6, user_name_key = $7, external_id = $8, display_name_key = $9, email_keys = $10
       WHERE r.connection = $1 AND r.id = $2 AND ${BY_ID_TYPE('$3')} AND ($11::int IS NULL OR r.version = $11) RETURNING ${RESOURCE_COLUMNS}`,
      },
      [c.connection, c.id, c.type, data, inc, at, k.userName, k.externalId, k.displayName, k.emails, version],
      { id: c.id, data },
    );
    return r.rows[0];
  }

  /** The version an expectVersion is checked against: the one before this commit. */
  private checkVersion(type: ResourceType, id: string, current: number, key: string, expect: number | undefined, txn: Txn): void {
    if (expect === undefined) return;
    const base = txn.start.get(key) ?? current;
    if (base !== expect) {
      throw ScimError.preconditionFailed(
        `${type} "${id}" is at version W/"${base}", not W/"${expect}" (If-Match): it was changed by another request. Read it again and retry.`,
      );
    }
  }

  /** The row, locked for this transaction, or 404. */
  private async target(client: pg.PoolClient, connection: string, type: ResourceType, id: string): Promise<ResourceRow> {
    const r = await client.query<ResourceRow>(`SELECT ${RESOURCE_COLUMNS} FROM scim_resources r WHERE r.connection = $1 AND r.id = $2 AND ${BY_ID_TYPE('$3')} FOR UPDATE`, [connection, id, type]);
    if (!r.rows[0]) throw ScimError.notFound(`${type} "${id}" not found`);
    return r.rows[0];
  }

  /** Version increment of a resource this commit changes: one bump per commit. */
  private bump(key: string, current: number, txn: Txn): number {
    if (txn.start.has(key)) return 0;
    txn.start.set(key, current);
    return 1;
  }

  private async replace(client: pg.PoolClient, c: Extract<JournalChange, { op: 'replace' }>, expect: number | undefined, txn: Txn): Promise<void> {
    const key = txnKey(c.connection, c.id);
    const start = txn.start.get(key);
    if (expect !== undefined && start !== undefined) this.checkVersion(c.type, c.id, start, key, expect, txn);
    const inc = start === undefined ? 1 : 0;
    const row = await this.updateResource(client, c, inc, start === undefined ? (expect ?? null) : null, txn.at);
    if (!row) {
      const cur = await this.target(client, c.connection, c.type, c.id); // 404 when missing
      this.checkVersion(c.type, c.id, cur.version, key, expect, txn); // else the 412
      throw new Error(`store: replace of ${c.type} ${c.id} matched no row`);
    }
    if (inc === 1) txn.start.set(key, row.version - 1);
    txn.latest.set(key, toResource(row));
  }

  private async remove(client: pg.PoolClient, c: Extract<JournalChange, { op: 'delete' }>, expect: number | undefined, txn: Txn): Promise<void> {
    const key = txnKey(c.connection, c.id);
    const old = await this.target(client, c.connection, c.type, c.id);
    this.checkVersion(c.type, c.id, old.version, key, expect, txn);
    // Cascade: leave every group it belongs to (those groups change: new version).
    const parents = await client.query<{ group_id: string; n: string }>(
      `WITH gone AS (DELETE FROM scim_members WHERE connection = $1 AND member_id = $2 AND group_id <> $2 RETURNING group_id)
       SELECT group_id, count(*)::text AS n FROM gone GROUP BY group_id ORDER BY group_id`,
      [c.connection, c.id],
    );
    for (const p of parents.rows) await this.refreshGroup(client, c.connection, p.group_id, -Number(p.n), false, txn);
    if (c.type === 'Group') await client.query('DELETE FROM scim_members WHERE connection = $1 AND group_id = $2', [c.connection, c.id]);
    await client.query('DELETE FROM scim_resources WHERE connection = $1 AND id = $2', [c.connection, c.id]);
    if (c.soft) {
      const current = txn.latest.get(key) ?? toResource(old);
      await client.query(
        `INSERT INTO scim_tombstones (connection, id, type, data, version, created, last_modified, member_count)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (connection, id) DO UPDATE SET type = EXCLUDED.type, data = EXCLUDED.data, version = EXCLUDED.version,
           created = EXCLUDED.created, last_modified = EXCLUDED.last_modified, member_count = EXCLUDED.member_count`,
        [c.connection, c.id, c.type, { ...current.data, active: false }, current.version + 1, current.created, c.deletedAt ?? txn.at, current.memberCount ?? null],
      );
    }
    txn.latest.set(key, null);
  }

  // ---- membership --------------------------------------------------------------------------

  /** New member count (absolute, or a delta) and version of a group whose membership changed. */
  private async refreshGroup(client: pg.PoolClient, connection: string, groupId: string, count: number, absolute: boolean, txn: Txn): Promise<void> {
    const key = txnKey(connection, groupId);
    const inc = txn.start.has(key) ? 0 : 1;
    const r = await client.query<ResourceRow>(
      `UPDATE scim_resources AS r SET member_count = CASE WHEN $3 THEN $4 ELSE coalesce(member_count, 0) + $4 END, version = version + $5, last_modified = $6
       WHERE r.connection = $1 AND r.id = $2 AND ${BY_ID_TYPE("'Group'")} RETURNING ${RESOURCE_COLUMNS}`,
      [connection, groupId, absolute, count, inc, txn.at],
    );
    if (!r.rows[0]) return;
    if (inc === 1) txn.start.set(key, r.rows[0].version - 1);
    txn.latest.set(key, toResource(r.rows[0]));
  }

  private async applyMembers(client: pg.PoolClient, c: Extract<JournalChange, { op: 'members' }>, expect: number | undefined, txn: Txn): Promise<void> {
    const key = txnKey(c.connection, c.groupId);
    const group = await this.target(client, c.connection, 'Group', c.groupId);
    this.checkVersion('Group', c.groupId, group.version, key, expect, txn);
    txn.latest.set(key, toResource(group)); // the result even when nothing changes
    let changed = false;
    if (c.replaceAll) changed = (await this.replaceAllMembers(client, c.connection, c.groupId, c.replaceAll, txn, false)) || changed;
    // remove before add, so that a remove+add of one member in one op (a PATCH replace) re-adds it
    let delta = 0;
    const remove = (c.remove ?? []).filter((v): v is string => typeof v === 'string');
    if (remove.length > 0) {
      const r = await client.query('DELETE FROM scim_members WHERE connection = $1 AND group_id = $2 AND member_id = ANY($3::text[])', [c.connection, c.groupId, remove]);
      delta -= r.rowCount ?? 0;
      if (r.rowCount) changed = true;
    }
    if (c.add && c.add.length > 0) {
      const added = await this.addMembers(client, c.connection, c.groupId, c.add);
      delta += added;
      if (added > 0) changed = true;
    }
    if (!changed) return;
    if (c.replaceAll) {
      const count = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM scim_members WHERE connection = $1 AND group_id = $2', [c.connection, c.groupId]);
      await this.refreshGroup(client, c.connection, c.groupId, count.rows[0].n, true, txn);
    } else {
      // a delta keeps a PATCH of a big group O(change)
      await this.refreshGroup(client, c.connection, c.groupId, delta, false, txn);
    }
  }

  /** The stored form of members: each must name a User or Group of the connection; its type comes from it. */
  private async resolveMembers(client: pg.PoolClient, connection: string, list: readonly Member[]): Promise<Member[]> {
    for (const m of list) {
      if (!isObject(m) || typeof m.value !== 'string' || m.value === '') {
        throw ScimError.invalidValue('members: every member needs a "value" (the id of a User or Group)');
      }
    }
    const ids = [...new Set(list.map((m) => m.value))];
    const found = await client.query<{ id: string; type: ResourceType }>('SELECT id, type FROM scim_resources WHERE connection = $1 AND id = ANY($2::text[])', [connection, ids]);
    const types = new Map(found.rows.map((r) => [r.id, r.type]));
    return list.map((m) => {
      const type = types.get(m.value);
      if (!type) throw ScimError.invalidValue(`members: "${m.value}" is not the id of a User or Group in this connection`);
      const member: Member = { value: m.value, type };
      if (typeof m.display === 'string') member.display = m.display;
      return member;
    });
  }

  private async insertMembers(client: pg.PoolClient, connection: string, groupId: string, members: readonly Member[]): Promise<number> {
    if (members.length === 0) return 0;
    const r = await client.query(
      `INSERT INTO scim_members (connection, group_id, member_id, member_type, display)
       SELECT $1, $2, u.id, u.type, u.display FROM unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u(id, type, display, i) ORDER BY u.i
       ON CONFLICT DO NOTHING`,
      [connection, groupId, members.map((m) => m.value), members.map((m) => m.type), members.map((m) => m.display ?? null)],
    );
    return r.rowCount ?? 0;
  }

  /** Adds members not yet in the group (existing ones are left as they are); returns how many. */
  private async addMembers(client: pg.PoolClient, connection: string, groupId: string, add: readonly Member[]): Promise<number> {
    const candidates: Member[] = [];
    const seen = new Set<string>();
    for (const m of add) {
      if (isObject(m) && typeof m.value === 'string') {
        if (seen.has(m.value)) continue;
        seen.add(m.value);
      }
      candidates.push(m);
    }
    for (const m of candidates) {
      if (!isObject(m) || typeof m.value !== 'string' || m.value === '') {
        throw ScimError.invalidValue('members: every member needs a "value" (the id of a User or Group)');
      }
    }
    // one query: which ids exist (and as what), and which are members already
    const found = await client.query<{ id: string; type: ResourceType; member: boolean }>(
      `SELECT r.id, r.type, EXISTS (SELECT 1 FROM scim_members m WHERE m.connection = r.connection AND m.group_id = $2 AND m.member_id = r.id) AS member
         FROM scim_resources r WHERE r.connection = $1 AND r.id = ANY($3::text[])`,
      [connection, groupId, candidates.map((m) => m.value)],
    );
    const byId = new Map(found.rows.map((r) => [r.id, r]));
    const fresh: Member[] = [];
    for (const m of candidates) {
      const hit = byId.get(m.value);
      if (hit?.member) continue; // adding an existing member is a no-op
      if (!hit) throw ScimError.invalidValue(`members: "${m.value}" is not the id of a User or Group in this connection`);
      const member: Member = { value: m.value, type: hit.type };
      if (typeof m.display === 'string') member.display = m.display;
      fresh.push(member);
    }
    return this.insertMembers(client, connection, groupId, fresh);
  }

  /** Replaces the whole list (in the given order); returns whether it changed. */
  private async replaceAllMembers(client: pg.PoolClient, connection: string, groupId: string, list: readonly Member[], txn: Txn, refresh = true): Promise<boolean> {
    const unique: Member[] = [];
    const seen = new Set<string>();
    for (const m of list) {
      if (isObject(m) && typeof m.value === 'string') {
        if (seen.has(m.value)) continue;
        seen.add(m.value);
      }
      unique.push(m);
    }
    const next = await this.resolveMembers(client, connection, unique);
    const current = (await client.query<{ member_id: string; member_type: string; display: string | null }>(
      'SELECT member_id, member_type, display FROM scim_members WHERE connection = $1 AND group_id = $2 ORDER BY pos',
      [connection, groupId],
    )).rows;
    const same = current.length === next.length && current.every((m, i) => m.member_id === next[i].value && m.member_type === next[i].type && (m.display ?? undefined) === next[i].display);
    if (same) return false;
    await client.query('DELETE FROM scim_members WHERE connection = $1 AND group_id = $2', [connection, groupId]);
    await this.insertMembers(client, connection, groupId, next);
    if (refresh) await this.refreshGroup(client, connection, groupId, next.length, true, txn);
    return true;
  }

  // ---- outbox and links --------------------------------------------------------------------

  private async outboxChange(client: pg.PoolClient, c: OutboxChange, txn: Txn): Promise<void> {
    switch (c.op) {
      case 'outbox.add': {
        const e = c.entry;
        try {
          await client.query(
            `INSERT INTO scim_outbox (id, connection, connector, resource_type, resource_id, kind, payload, created_at, attempts, next_attempt_at, state, last_error, claim_checked)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
            [e.id, e.connection, e.connector, e.resourceType, e.resourceId, e.kind, e.payload ?? {}, e.createdAt, e.attempts ?? 0, e.nextAttemptAt, e.state ?? 'pending', e.lastError ?? null, e.claimChecked === true],
          );
        } catch (err) {
          if (pgCode(err) === '23505') throw ScimError.uniqueness(`outbox entry "${e.id}" already exists`);
          throw err;
        }
        return;
      }
      case 'outbox.update': {
        // The lease goes with a settled attempt (`release`, from the instance that holds it); an
        // update from elsewhere (the console's retry, a claim check) leaves a delivery in flight alone.
        const r = await client.query(
          `UPDATE scim_outbox SET attempts = $2, next_attempt_at = $3, state = $4, last_error = coalesce($5, last_error), claim_checked = claim_checked OR $6,
             lease_owner = CASE WHEN $8 AND lease_owner = $7 THEN NULL ELSE lease_owner END,
             lease_until = CASE WHEN $8 AND lease_owner = $7 THEN NULL ELSE lease_until END
           WHERE id = $1`,
          [c.id, c.attempts, c.nextAttemptAt, c.state, c.lastError ?? null, c.claimChecked === true, this.instanceId, c.release === true],
        );
        if (!r.rowCount) throw ScimError.notFound(`outbox entry "${c.id}" not found`);
        return;
      }
      case 'outbox.remove':
        await client.query('DELETE FROM scim_outbox WHERE id = $1', [c.id]); // twice (a retry after a crash) is a no-op
        return;
      case 'link':
        if (c.key === null) await client.query('DELETE FROM scim_links WHERE connector = $1 AND resource_id = $2', [c.connector, c.resourceId]);
        else {
          await client.query(
            `INSERT INTO scim_links (connector, resource_id, target_key, key_lower) VALUES ($1, $2, $3, $4)
             ON CONFLICT (connector, resource_id) DO UPDATE SET target_key = EXCLUDED.target_key, key_lower = EXCLUDED.key_lower, linked_seq = nextval('scim_commit_seq')`,
            [c.connector, c.resourceId, c.key, c.key.toLowerCase()],
          );
        }
        return;
      case 'audit':
        txn.audit.push(...c.records);
        return;
    }
  }

  async outboxDue(now: string, limit: number): Promise<OutboxEntry[]> {
    if (limit <= 0) return [];
    // The head of each (connector, resource) is its lowest seq, whatever its state: a dead or
    // leased head holds back the rest of that resource (the NOT EXISTS, one probe of the
    // (connector, resource_id, seq) index per candidate, in seq order until `limit` are found:
    // no pass over the whole backlog per claim). A head is claimable when due and not
    // leased; another instance's expired lease only after a whole lease of working connectivity
    // (see healthySince). An entry this instance holds is never claimed again: its lease is
    // renewed until its outcome is committed. SKIP LOCKED: an instance claiming at the same
    // moment takes others.
    const takeOver = this.healthySince !== undefined && Date.now() - this.healthySince >= this.leaseMs;
    const r = await this.sql<OutboxRow & { seq: string }>(
      `WITH claimable AS (
         SELECT o.id FROM scim_outbox o
          WHERE o.state = 'pending' AND o.next_attempt_at COLLATE "C" <= $1
            AND (o.lease_owner IS NULL OR ($5 AND o.lease_owner <> $2 AND o.lease_until < clock_timestamp()))
            AND NOT EXISTS (SELECT 1 FROM scim_outbox p WHERE p.connector = o.connector AND p.resource_id = o.resource_id AND p.seq < o.seq)
          ORDER BY o.seq LIMIT $3 FOR UPDATE OF o SKIP LOCKED
       )
       UPDATE scim_outbox o SET lease_owner = $2, lease_until = clock_timestamp() + $4 * interval '1 millisecond'
         FROM claimable c WHERE o.id = c.id
       RETURNING ${OUTBOX_COLUMNS}, o.seq`,
      [now, this.instanceId, limit, this.leaseMs, takeOver],
    );
    const rows = r.rows.sort((a, b) => Number(a.seq) - Number(b.seq));
    for (const row of rows) this.held.add(row.id);
    return rows.map(toEntry);
  }

  async outboxRelease(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.sql('UPDATE scim_outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1 AND id = ANY($2::text[])', [this.instanceId, [...ids]]);
    for (const id of ids) this.held.delete(id);
  }

  async outboxGet(id: string): Promise<OutboxEntry | undefined> {
    const r = await this.quick<OutboxRow>(`SELECT ${OUTBOX_COLUMNS} FROM scim_outbox o WHERE o.id = $1`, [id]);
    return r.rows[0] ? toEntry(r.rows[0]) : undefined;
  }

  async outboxList(filter: { state?: 'pending' | 'dead'; connection?: string; connector?: string } = {}): Promise<OutboxEntry[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.state) where.push(`o.state = $${params.push(filter.state)}`);
    if (filter.connection) where.push(`o.connection = $${params.push(filter.connection)}`);
    if (filter.connector) where.push(`o.connector = $${params.push(filter.connector)}`);
    const r = await this.sql<OutboxRow>(`SELECT ${OUTBOX_COLUMNS} FROM scim_outbox o ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY o.seq`, params);
    return r.rows.map(toEntry);
  }

  async linkOf(connector: string, resourceId: string): Promise<string | undefined> {
    const r = await this.quick<{ target_key: string }>('SELECT target_key FROM scim_links WHERE connector = $1 AND resource_id = $2', [connector, resourceId]);
    return r.rows[0]?.target_key;
  }

  async linkedResource(connector: string, targetKey: string): Promise<string | undefined> {
    const r = await this.quick<{ resource_id: string }>(
      'SELECT resource_id FROM scim_links WHERE connector = $1 AND key_lower = $2 ORDER BY linked_seq DESC LIMIT 1',
      [connector, targetKey.toLowerCase()],
    );
    return r.rows[0]?.resource_id;
  }

  // ---- reads -------------------------------------------------------------------------------

  /** A short read by key (primary key or a unique index): on the shared pipelined connections. */
  private quick<R extends pg.QueryResultRow>(sql: string, params: unknown[], name?: string): Promise<pg.QueryResult<R>> {
    return this.sql<R>(sql, params, { shared: true, ...(name ? { name } : {}) });
  }

  /** A read outside any transaction; an unreachable database is a 503. */
  private async sql<R extends pg.QueryResultRow>(sql: string, params: unknown[] = [], options: { name?: string; shared?: boolean } = {}): Promise<pg.QueryResult<R>> {
    const db = this.db();
    try {
      const r = await db.query<R>(sql, params, options);
      this.healthy();
      return r;
    } catch (err) {
      if (isUnavailable(err)) throw this.unreachable(err);
      throw this.mapError(err);
    }
  }

  async get(connection: string, type: ResourceType, id: string): Promise<StoredResource | undefined> {
    // by primary key alone (the type is checked here): no plan can prefer the paging index
    const r = await this.quick<ResourceRow>(`SELECT ${RESOURCE_COLUMNS} FROM scim_resources r WHERE r.connection = $1 AND r.id = $2`, [connection, id], 'scim-get');
    return r.rows[0]?.type === type ? toResource(r.rows[0]) : undefined;
  }

  async getUserWithGroups(connection: string, id: string): Promise<{ resource: StoredResource; groups: Array<{ value: string; display?: string }> } | undefined> {
    const r = await this.quick<ResourceRow & { groups: Array<{ value: string; display: string | null }> }>(
      `SELECT ${RESOURCE_COLUMNS},
              (SELECT coalesce(json_agg(json_build_object('value', g.id, 'display', CASE WHEN jsonb_typeof(g.data -> 'displayName') = 'string' THEN g.data ->> 'displayName' END) ORDER BY g.ord), '[]'::json)
                 FROM scim_members m JOIN scim_resources g ON g.connection = m.connection AND g.id = m.group_id
                WHERE m.connection = r.connection AND m.member_id = r.id) AS groups
         FROM scim_resources r WHERE r.connection = $1 AND r.id = $2`,
      [connection, id],
      'scim-get-user-with-groups',
    );
    const row = r.rows[0];
    if (row?.type !== 'User') return undefined;
    return { resource: toResource(row), groups: row.groups.map((g) => (g.display === null ? { value: g.value } : { value: g.value, display: g.display })) };
  }

  async findOne(connection: string, type: ResourceType, attr: IndexedAttribute, value: string): Promise<StoredResource | undefined> {
    if (typeof value !== 'string') return undefined;
    // The type is a literal, not a parameter: the unique indexes are partial (type = 'User' ...)
    // and a generic plan with `type = $2` cannot use them (it walked the paging index instead: a
    // userName lookup that found nothing read every row). Unique keys need no ORDER BY.
    let sql: string | undefined;
    let param: unknown = value;
    if (type === 'User') {
      if (attr === 'userName') [sql, param] = [`r.type = 'User' AND r.user_name_key = $2`, value.toLowerCase()];
      else if (attr === 'externalId') sql = `r.type = 'User' AND r.external_id = $2`;
      else if (attr === 'email') [sql, param] = [`r.type = 'User' AND r.email_keys @> ARRAY[$2]::text[] ORDER BY r.ord`, value.toLowerCase()];
    } else {
      if (attr === 'displayName') [sql, param] = [`r.type = 'Group' AND r.display_name_key = $2`, value.toLowerCase()];
      else if (attr === 'externalId') sql = `r.type = 'Group' AND r.external_id = $2 ORDER BY r.ord`;
    }
    if (!sql) return undefined;
    // Not a named (prepared) statement: after five runs PostgreSQL may switch a prepared
    // statement to a generic plan, and for this lookup it picked a scan of every row.
    const r = await this.quick<ResourceRow>(`SELECT ${RESOURCE_COLUMNS} FROM scim_resources r WHERE r.connection = $1 AND ${sql} LIMIT 1`, [connection, param]);
    return r.rows[0] ? toResource(r.rows[0]) : undefined;
  }

  async members(connection: string, groupId: string): Promise<Member[]> {
    const r = await this.sql<{ member_id: string; member_type: 'User' | 'Group'; display: string | null }>(
      `SELECT m.member_id, m.member_type, m.display FROM scim_members m WHERE m.connection = $1 AND m.group_id = $2 ORDER BY m.pos`,
      [connection, groupId],
    );
    return r.rows.map((m) => (m.display === null ? { value: m.member_id, type: m.member_type } : { value: m.member_id, type: m.member_type, display: m.display }));
  }

  async hasMember(connection: string, groupId: string, memberId: string): Promise<boolean> {
    const r = await this.quick('SELECT 1 FROM scim_members WHERE connection = $1 AND group_id = $2 AND member_id = $3', [connection, groupId, memberId]);
    return (r.rowCount ?? 0) > 0;
  }

  /**
   * Groups of a member. Calls made in the same tick (a page of users rendered concurrently) share
   * one query: nothing is cached, the batch only collects callers that are already waiting.
   */
  groupsOf(connection: string, memberId: string): Promise<Array<{ value: string; display?: string }>> {
    return new Promise((resolve, reject) => {
      let batch = this.groupsBatches.get(connection);
      if (!batch) {
        batch = new Map();
        this.groupsBatches.set(connection, batch);
        queueMicrotask(() => void this.flushGroupsOf(connection));
      }
      const waiting = batch.get(memberId) ?? [];
      waiting.push({ resolve, reject });
      batch.set(memberId, waiting);
    });
  }

  private async flushGroupsOf(connection: string): Promise<void> {
    const batch = this.groupsBatches.get(connection)!;
    this.groupsBatches.delete(connection);
    try {
      const r = await this.quick<{ member_id: string; id: string; display: string | null }>(
        `SELECT m.member_id, r.id, CASE WHEN jsonb_typeof(r.data -> 'displayName') = 'string' THEN r.data ->> 'displayName' END AS display
           FROM scim_members m JOIN scim_resources r ON r.connection = m.connection AND r.id = m.group_id
          WHERE m.connection = $1 AND m.member_id = ANY($2::text[]) ORDER BY r.ord`,
        [connection, [...batch.keys()]],
        'scim-groups-of',
      );
      const byMember = new Map<string, Array<{ value: string; display?: string }>>();
      for (const g of r.rows) {
        const list = byMember.get(g.member_id) ?? [];
        list.push(g.display === null ? { value: g.id } : { value: g.id, display: g.display });
        byMember.set(g.member_id, list);
      }
      for (const [memberId, waiting] of batch) for (const w of waiting) w.resolve((byMember.get(memberId) ?? []).map((g) => ({ ...g })));
    } catch (err) {
      for (const waiting of batch.values()) for (const w of waiting) w.reject(err);
    }
  }

  async deleted(connection: string, type: ResourceType): Promise<StoredResource[]> {
    const r = await this.sql<ResourceRow>(
      `SELECT ${RESOURCE_COLUMNS} FROM scim_tombstones r WHERE r.connection = $1 AND r.type = $2 ORDER BY r.ord`,
      [connection, type],
    );
    return r.rows.map(toResource);
  }

  async stats(): Promise<StoreStats> {
    const r = await this.sql<{ users: number; groups: number; pending: number; dead: number; bytes: string }>(
      `SELECT (SELECT count(*)::int FROM scim_resources WHERE type = 'User') AS users,
              (SELECT count(*)::int FROM scim_resources WHERE type = 'Group') AS groups,
              (SELECT count(*)::int FROM scim_outbox WHERE state = 'pending') AS pending,
              (SELECT count(*)::int FROM scim_outbox WHERE state = 'dead') AS dead,
              (SELECT sum(pg_total_relation_size(c))::text FROM unnest(ARRAY['scim_resources', 'scim_members', 'scim_tombstones', 'scim_outbox', 'scim_links']::regclass[]) AS c) AS bytes`,
    );
    const row = r.rows[0];
    return { users: row.users, groups: row.groups, outboxPending: row.pending, outboxDead: row.dead, journalBytes: 0, snapshotBytes: Number(row.bytes), auditRecordsLeftOut: this.auditLeftOut };
  }

  async query(req: QueryRequest): Promise<QueryResult> {
    if (req.filter && !req.resolver) throw new TypeError('QueryRequest.filter needs QueryRequest.resolver');
    const from = Math.max(1, req.startIndex) - 1;
    const count = Math.max(0, req.count);
    const sorted = req.sort?.by !== undefined;
    let filterSql: string | undefined;
    let compiled: ((r: Record<string, unknown>) => boolean) | undefined;
    let members: Map<string, Member[]> | undefined;
    if (req.filter) {
      // compiled first, always: an invalid filter is the same invalidFilter 400 in both stores
      members = new Map();
      const memberMap = members;
      compiled = compileFilter(req.filter, req.resolver!, { read: (res, r) => readAttribute(res as unknown as StoredResource, r, memberMap) });
    }
    const base = (params: Params): string => {
      // the type as a literal: the partial unique indexes (type = 'User' ...) then match at plan time
      const where = [`r.connection = ${params.add(req.connection)}`, req.type === 'User' ? `r.type = 'User'` : `r.type = 'Group'`];
      if (req.filter) {
        filterSql = translateFilter(req.filter, this.sqlContext(req.type, req.resolver!, params));
        if (filterSql !== undefined) where.push(`(${filterSql})`);
      }
      return where.join(' AND ');
    };

    const params = new Params();
    const where = base(params);
    if (req.filter && filterSql === undefined) return this.queryInMemory(req, compiled!, members!, from, count);
    const countAll = async () => {
      const p = new Params();
      return (await this.sql<{ n: number }>(`SELECT count(*)::int AS n FROM scim_resources r WHERE ${base(p)}`, p.values)).rows[0].n;
    };
    if (count === 0) return { totalResults: await countAll(), resources: [] };
    // An IdP's lookup by a unique key (`userName eq "…"`, before every create) answers from one
    // index probe: a short read for the shared connections.
    const page = await this.page(where, params, req, from, count, sorted, !sorted && isUniqueKeyLookup(req.type, req.filter));
    // A short page is the last one: it tells the total (an IdP's `userName eq` lookup is one query).
    if (page.length > 0 && page.length < count) return { totalResults: from + page.length, resources: page };
    if (page.length === 0 && from === 0) return { totalResults: 0, resources: [] };
    return { totalResults: await countAll(), resources: page };
  }

  private sqlContext(type: ResourceType, resolver: AttributeResolver, params: Params): SqlContext {
    return { type, resolver, params, sortFold: this.sortFold };
  }

  /** One page of rows matching `where`, sorted (or in creation order), in SQL. */
  private async page(where: string, params: Params, req: QueryRequest, from: number, count: number, sorted: boolean, short = false): Promise<StoredResource[]> {
    let lateral = '';
    let orderBy = 'r.ord';
    if (sorted) {
      ({ lateral, orderBy } = sortLateral(req.sort!, this.sqlContext(req.type, req.resolver ?? NO_RESOLVER, params)));
    }
    const sql = `SELECT ${RESOURCE_COLUMNS} FROM scim_resources r ${lateral} WHERE ${where} ORDER BY ${orderBy} LIMIT ${params.add(count)} OFFSET ${params.add(from)}`;
    return (await this.sql<ResourceRow>(sql, params.values, { shared: short })).rows.map(toResource);
  }

  /**
   * A filter SQL cannot evaluate exactly: the translatable conjuncts narrow the candidates, the
   * in-memory evaluator decides, and SQL sorts and pages the matches. Bounded: more than
   * fallbackScanLimit candidates is a 400 tooMany rather than an unbounded scan.
   */
  private async queryInMemory(req: QueryRequest, compiled: (r: Record<string, unknown>) => boolean, members: Map<string, Member[]>, from: number, count: number): Promise<QueryResult> {
    const params = new Params();
    const where = [`r.connection = ${params.add(req.connection)}`, `r.type = ${params.add(req.type)}`];
    const superset = translateSuperset(req.filter!, this.sqlContext(req.type, req.resolver!, params));
    if (superset) where.push(`(${superset})`);
    const limit = this.fallbackScanLimit;
    const rows = (await this.sql<ResourceRow>(`SELECT ${RESOURCE_COLUMNS} FROM scim_resources r WHERE ${where.join(' AND ')} ORDER BY r.ord LIMIT ${params.add(limit + 1)}`, params.values)).rows;
    if (rows.length > limit) {
      throw ScimError.tooMany(
        `This filter has to be evaluated by the gateway rather than the database (case-insensitive text with non-ASCII letters) and would examine more than ${limit} resources. Narrow it with an exact attribute such as userName, externalId, emails or displayName (e.g. "userName eq ..." and ...).`,
      );
    }
    const candidates = rows.map(toResource);
    if (req.type === 'Group' && candidates.length > 0) {
      const ms = await this.sql<{ group_id: string; member_id: string; member_type: 'User' | 'Group'; display: string | null }>(
        'SELECT group_id, member_id, member_type, display FROM scim_members WHERE connection = $1 AND group_id = ANY($2::text[]) ORDER BY pos',
        [req.connection, candidates.map((c) => c.id)],
      );
      for (const m of ms.rows) {
        const list = members.get(m.group_id) ?? [];
        list.push(m.display === null ? { value: m.member_id, type: m.member_type } : { value: m.member_id, type: m.member_type, display: m.display });
        members.set(m.group_id, list);
      }
    }
    const matches = candidates.filter((r) => compiled(r as unknown as Record<string, unknown>));
    if (count === 0 || from >= matches.length) return { totalResults: matches.length, resources: [] };
    if (req.sort?.by === undefined) return { totalResults: matches.length, resources: matches.slice(from, from + count) };
    const p2 = new Params();
    const w2 = `r.connection = ${p2.add(req.connection)} AND r.type = ${p2.add(req.type)} AND r.id = ANY(${p2.add(matches.map((m) => m.id))}::text[])`;
    return { totalResults: matches.length, resources: await this.page(w2, p2, req, from, count, true) };
  }

  // ---- backup ------------------------------------------------------------------------------

  /**
   * A consistent copy (one REPEATABLE READ snapshot) as an embedded-store snapshot (db.json):
   * it opens as a lowdb store of its own, and `scim-bridge migrate` can load it into a database.
   */
  async backup(targetDir: string): Promise<{ file: string; seq: number; bytes: number; users: number; groups: number }> {
    // a whole copy may take longer than one request may wait: no statement timeout here
    const copier = this.db().fork({ max: 1, applicationName: `scim-bridge ${this.instanceId} backup`, timeoutMs: 0 });
    let data: SnapshotData;
    try {
      data = await copier.transaction(async (client) => readSnapshot(client), 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    } catch (err) {
      if (isUnavailable(err)) throw this.unreachable(err);
      throw this.mapError(err);
    } finally {
      await copier.end();
    }
    await mkdir(targetDir, { recursive: true, mode: 0o700 });
    const file = new DurableJsonFile<SnapshotData>(join(targetDir, SNAPSHOT_FILE), { fsync: true });
    await file.write(data);
    let users = 0;
    let groups = 0;
    for (const c of Object.values(data.connections)) {
      users += c.users.length;
      groups += c.groups.length;
    }
    return { file: join(targetDir, SNAPSHOT_FILE), seq: data.seq, bytes: file.size, users, groups };
  }
}

/** Everything in the store as an embedded-store snapshot (call inside a REPEATABLE READ transaction). */
export async function readSnapshot(client: pg.ClientBase): Promise<SnapshotData> {
  const seq = Number((await client.query<{ seq: string }>('SELECT last_value::text AS seq FROM scim_commit_seq')).rows[0].seq);
  const connections = Object.create(null) as Record<string, SnapshotConnection>;
  const conn = (name: string): SnapshotConnection => (connections[name] ??= { users: [], groups: [], members: Object.create(null) as Record<string, Member[]>, deleted: [] });
  for (const row of (await client.query<ResourceRow>(`SELECT ${RESOURCE_COLUMNS} FROM scim_resources r ORDER BY r.ord`)).rows) {
    const c = conn(row.connection);
    (row.type === 'User' ? c.users : c.groups).push(toResource(row));
  }
  for (const m of (await client.query<{ connection: string; group_id: string; member_id: string; member_type: 'User' | 'Group'; display: string | null }>(
    'SELECT connection, group_id, member_id, member_type, display FROM scim_members ORDER BY pos',
  )).rows) {
    const lists = conn(m.connection).members as Record<string, Member[]>;
    (lists[m.group_id] ??= []).push(m.display === null ? { value: m.member_id, type: m.member_type } : { value: m.member_id, type: m.member_type, display: m.display });
  }
  for (const row of (await client.query<ResourceRow>(`SELECT ${RESOURCE_COLUMNS} FROM scim_tombstones r ORDER BY r.ord`)).rows) conn(row.connection).deleted!.push(toResource(row));
  const outbox = (await client.query<OutboxRow>(`SELECT ${OUTBOX_COLUMNS} FROM scim_outbox o ORDER BY o.seq`)).rows.map(toEntry);
  const links = (await client.query<{ connector: string; resource_id: string; target_key: string }>('SELECT connector, resource_id, target_key FROM scim_links ORDER BY linked_seq')).rows.map(
    (l): [string, string] => [linkKey(l.connector, l.resource_id), l.target_key],
  );
  return { format: SNAPSHOT_FORMAT, seq, savedAt: new Date().toISOString(), connections, outbox, links };
}

/** `userName eq "x"` / `externalId eq "x"` (users), `displayName eq` / `externalId eq` (groups): at most one row, by a unique index. */
function isUniqueKeyLookup(type: ResourceType, filter: QueryRequest['filter']): boolean {
  if (filter?.kind !== 'compare' || filter.op !== 'eq' || typeof filter.value !== 'string') return false;
  const { path } = filter;
  if (path.schema !== undefined || path.filter !== undefined || path.subAttr !== undefined) return false;
  const attr = path.attr.toLowerCase();
  return attr === 'externalid' ? type === 'User' : attr === (type === 'User' ? 'username' : 'displayname');
}

/** Never consulted: sorting resolves nothing (SortSpec.by is already resolved). */
const NO_RESOLVER: AttributeResolver = { resolve: () => undefined, resolveSub: () => undefined };

/** obj[key], or the first own key equal ignoring case (the filter module's reading rule). */
function getCI(obj: Record<string, unknown>, key: string): unknown {
  if (Object.hasOwn(obj, key)) return obj[key];
  const lower = key.toLowerCase();
  for (const k in obj) if (k.length === key.length && Object.hasOwn(obj, k) && k.toLowerCase() === lower) return obj[k];
  return undefined;
}

/** Attribute values for the in-memory fallback, as query.ts reads them (members prefetched). */
function readAttribute(r: StoredResource, resolved: ResolvedAttribute, members: Map<string, Member[]>): unknown {
  if (resolved.extension !== undefined) {
    const ext = getCI(r.data, resolved.extension);
    return isObject(ext) ? getCI(ext, resolved.canonical) : undefined;
  }
  switch (resolved.canonical) {
    case 'id':
      return r.id;
    case 'meta':
      return { resourceType: r.type, created: r.created, lastModified: r.lastModified, version: `W/"${r.version}"` };
    case 'members':
      if (r.type === 'Group') return members.get(r.id) ?? [];
      break;
  }
  return getCI(r.data, resolved.canonical);
}

