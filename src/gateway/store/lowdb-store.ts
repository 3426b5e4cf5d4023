/**
 * The embedded store: all data in memory, made durable by an append-only journal (one fsynced
 * line per commit, group commit) and compacted into a lowdb snapshot (db.json) in the background.
 * lowdb alone rewrites the whole file on every write, which at 100k users is tens of MB per
 * commit; here a commit costs one small append and a shared fdatasync.
 *
 * Files in the data directory:
 *   db.json                    snapshot (lowdb, DurableJsonFile adapter), with the last seq it includes
 *   store.journal              active journal segment
 *   store.journal.<16 digits>  rotated segments awaiting compaction (name = their last seq)
 *   store.lock                 pid of the gateway using the directory
 *
 * See docs/decisions/0003-journaled-lowdb-store.md.
 */
import { mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Low } from 'lowdb';
import { ScimError } from '../scim/index.js';
import { JOURNAL_FILE, JournalCorruptError, encodeLine, parseSegmentName, scanSegment, segmentName, type JournalEntry } from './journal.js';
import { acquireLock, type AcquiredLock } from './lock.js';
import { runQuery } from './query.js';
import {
  DurableJsonFile,
  SNAPSHOT_FILE,
  SNAPSHOT_FORMAT,
  fsyncDir,
  isSnapshotTemp,
  nodeIo,
  writeFully,
  type SnapshotConnection,
  type SnapshotData,
  type StoreIo,
} from './snapshot.js';
import { linkKey, MemoryState, ownerKey, NO_UNDO, toJournalChange, type JournalChange } from './state.js';
import type {
  Change,
  AuditSink,
  CommitHooks,
  CommitRequest,
  CommitResult,
  IndexedAttribute,
  Member,
  OutboxEntry,
  QueryRequest,
  QueryResult,
  ResourceType,
  Store,
  StoreStats,
  StoredResource,
} from './types.js';

/** The logging surface the store needs (pino-compatible). */
export interface StoreLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

/** Options of the embedded store. */
export interface LowdbStoreOptions {
  dataDir: string;
  logger?: StoreLogger;
  /**
   * Compact (rewrite db.json, drop journal segments) once the journal reaches this size. Default:
   * the snapshot's size, at least 4 MiB and at most 64 MiB: the directory then holds at most three
   * snapshots' worth (snapshot, journal, and the new snapshot while it is written), under 2x the
   * raw JSON of the data, and sustained writes pay for a full rewrite only once per snapshot's
   * worth of journal (at half, compaction took ~5% of the CPU of a 100k-user PATCH run).
   */
  compactAfterBytes?: number;
  /** fdatasync every journal append and the snapshot; default true. Only tests and benchmarks turn it off. */
  fsync?: boolean;
  /** Receives the audit records of durable commits (see AuditSink). */
  auditSink?: AuditSink;
}

/** Knobs for tests: fault injection and snapshot slicing. */
export interface LowdbStoreInternals {
  io?: StoreIo;
  snapshotChunkBytes?: number;
  /** How long after a refused audit hand-over the store tries again (default AUDIT_RETRY_MS). */
  auditRetryMs?: number;
}

/** Upper bound of the default compaction threshold. */
export const DEFAULT_COMPACT_AFTER_BYTES = 64 * 1024 * 1024;
const MIN_DEFAULT_COMPACT_AFTER_BYTES = 4 * 1024 * 1024;

/** Commits per sink call when audit records are handed over from the journal (at open, after a refusal). */
const AUDIT_BACKLOG_SLICE = 1000;
/** After the audit sink refused records, the store tries again from the journal this often. */
export const AUDIT_RETRY_MS = 5_000;

const fallbackLogger: StoreLogger = {
  info() {},
  warn: (o, msg) => console.warn(JSON.stringify({ level: 'warn', msg, ...o })),
  error: (o, msg) => console.error(JSON.stringify({ level: 'error', msg, ...o })),
};

const emptySnapshot = (): SnapshotData => ({ format: SNAPSHOT_FORMAT, seq: 0, connections: Object.create(null) as Record<string, SnapshotConnection> });

/** The audit records carried by a commit's changes, or undefined when there are none. */
function auditRecordsOf(changes: readonly JournalChange[]): unknown[] | undefined {
  let out: unknown[] | undefined;
  for (const c of changes) if (c.op === 'audit') (out ??= []).push(...c.records);
  return out;
}

interface PendingCommit {
  seq: number;
  at: string;
  changesJson: string;
  /** Audit records carried by the commit, for the audit sink once durable. */
  audit?: unknown[];
  /** inverse operations of the commit's in-memory effects, oldest first */
  undo: Array<() => void>;
  result: CommitResult;
  resolve(result: CommitResult): void;
  reject(err: unknown): void;
}

interface Segment {
  name: string;
  lastSeq: number;
  bytes: number;
}

interface CompactionGuard {
  seq: number;
  invalid: boolean;
  wake?: () => void;
}

function errnoCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

/** The journaled lowdb store (see the file comment). */
export class LowdbStore implements Store {
  private readonly dir: string;
  private readonly log: StoreLogger;
  private readonly fsync: boolean;
  private readonly compactAfterOption: number | undefined;
  private readonly io: StoreIo;
  private readonly adapter: DurableJsonFile<SnapshotData>;
  private readonly db: Low<SnapshotData>;

  private state = new MemoryState();
  private lock?: AcquiredLock;
  private opened = false;
  private closing = false;
  private closePromise?: Promise<void>;

  private active?: FileHandle;
  /** Length of the acknowledged part of the active segment: the next batch is written here. */
  private activeBytes = 0;
  private rotated: Segment[] = [];
  /** Bytes past activeBytes may exist (a write failed or is under way): truncate before writing. */
  private dirty = false;
  /** The active segment was created and its directory entry is not yet durable. */
  private needDirSync = false;
  private pending: PendingCommit[] = [];
  private writing = false;
  private nextSeq = 1;
  private durableSeq = 0;
  private snapshotSeq = 0;
  private idleWaiters: Array<() => void> = [];
  private rotateWaiters: Array<{ resolve(): void; reject(err: unknown): void }> = [];

  private readonly auditSink?: AuditSink;
  private compaction?: Promise<void>;
  /** Audit hand-overs the sink has not settled yet. */
  private readonly auditInFlight = new Set<Promise<void>>();
  /** Outbox entries claimed by outboxDue whose outcome is not durable yet (deliveries in flight). */
  private readonly claimed = new Set<string>();
  /**
   * Set when the sink refused records: nothing more is handed over, and journal segments are kept,
   * until catchUpAudit() has handed over everything from the first refused commit on (or the next
   * open has).
   */
  private auditBehind = false;
  /**
   * While behind: the first commit whose records the sink may lack (the first refused batch's).
   * Every commit before it was handed over: hand-overs settle in commit order.
   */
  private auditResumeSeq = Number.POSITIVE_INFINITY;
  private readonly auditRetryMs: number;
  private auditRetryTimer?: NodeJS.Timeout;
  private auditCatchUp?: Promise<void>;
  /** Audit records left out of their commit because the sink's prepare() refused them. */
  private auditLeftOut = 0;
  private guard?: CompactionGuard;
  private lastCompaction?: string;
  private compactions = 0;
  /** After a failed compaction, wait for the journal to grow this far before trying again. */
  private compactRetryAt = 0;

  constructor(options: LowdbStoreOptions, internals: LowdbStoreInternals = {}) {
    this.dir = resolve(options.dataDir);
    this.log = options.logger ?? fallbackLogger;
    this.fsync = options.fsync ?? true;
    this.compactAfterOption = options.compactAfterBytes;
    this.auditSink = options.auditSink;
    this.auditRetryMs = internals.auditRetryMs ?? AUDIT_RETRY_MS;
    this.io = internals.io ?? nodeIo;
    this.adapter = new DurableJsonFile<SnapshotData>(join(this.dir, SNAPSHOT_FILE), {
      fsync: this.fsync,
      io: this.io,
      chunkBytes: internals.snapshotChunkBytes,
    });
    this.db = new Low<SnapshotData>(this.adapter, emptySnapshot());
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  async open(): Promise<void> {
    if (this.opened) return;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const lock = await acquireLock(this.dir);
    if (lock.tookOverFrom !== undefined) {
      this.log.warn({ dataDir: this.dir, pid: lock.tookOverFrom }, 'store: took over a stale lock (its process is gone)');
    }
    try {
      await this.load();
    } catch (err) {
      await this.active?.close().catch(() => undefined);
      this.active = undefined;
      this.state = new MemoryState();
      await lock.release();
      throw err;
    }
    this.lock = lock;
    this.opened = true;
    this.closing = false;
    this.maybeCompact();
  }

  close(): Promise<void> {
    if (!this.opened) return Promise.resolve();
    this.closePromise ??= this.shutdown().finally(() => {
      this.closePromise = undefined;
    });
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    await this.drain();
    clearTimeout(this.auditRetryTimer);
    this.auditRetryTimer = undefined;
    await this.auditCatchUp;
    await this.auditSettled();
    if (this.compaction) await this.compaction;
    // leave a snapshot that opens fast; if it fails the journal still holds everything
    if (this.durableSeq > this.snapshotSeq) await this.compact('close');
    await this.drain();
    await this.active?.close().catch(() => undefined);
    this.active = undefined;
    await this.lock?.release();
    this.lock = undefined;
    this.opened = false;
    this.state = new MemoryState();
  }

  private async load(): Promise<void> {
    const t0 = performance.now();
    this.state = new MemoryState();
    this.rotated = [];
    this.pending = [];
    this.dirty = false;
    const names = await readdir(this.dir);
    for (const name of names) if (isSnapshotTemp(name)) await rm(join(this.dir, name), { force: true });

    this.db.data = emptySnapshot();
    this.adapter.size = 0;
    await this.db.read();
    const snap = this.db.data;
    this.db.data = emptySnapshot();
    if (
      typeof snap !== 'object' ||
      snap === null ||
      snap.format !== SNAPSHOT_FORMAT ||
      !Number.isSafeInteger(snap.seq) ||
      typeof snap.connections !== 'object' ||
      snap.connections === null
    ) {
      throw new Error(`${SNAPSHOT_FILE} has an unknown format (expected format ${SNAPSHOT_FORMAT}); the store was not opened.`);
    }
    this.loadSnapshot(snap);
    this.snapshotSeq = snap.seq;

    let lastSeq = snap.seq;
    let prevLine: number | undefined;
    // Audit records of commits the sink has not got yet (a crash came between the commit's fsync
    // and the hand-over): they are handed over before the store is used.
    const auditFrom = this.auditSink?.lastSeq() ?? Number.POSITIVE_INFINITY;
    const auditBacklog: Array<{ seq: number; records: unknown[] }> = [];
    const collectAudit = (entry: JournalEntry): void => {
      if (entry.seq <= auditFrom) return;
      const records = auditRecordsOf(entry.changes);
      // prepared again: a journal written by an older version holds drafts as they were made
      if (records) auditBacklog.push({ seq: entry.seq, records: this.prepareAudit(records) });
    };
    const replay = (file: string, entries: Array<{ line: number; entry: JournalEntry }>): void => {
      for (const { line, entry } of entries) {
        if (prevLine !== undefined && entry.seq !== prevLine + 1) {
          throw new JournalCorruptError(file, line, `seq ${entry.seq} follows seq ${prevLine}`);
        }
        prevLine = entry.seq;
        collectAudit(entry);
        if (entry.seq <= this.snapshotSeq) continue;
        if (entry.seq !== lastSeq + 1) {
          throw new JournalCorruptError(file, line, `seq ${entry.seq} follows seq ${lastSeq}: a journal segment is missing`);
        }
        try {
          this.state.apply(entry.changes, entry.at, NO_UNDO);
        } catch (err) {
          throw new Error(
            `${file} line ${line} cannot be replayed (${(err as Error).message}); the store was not opened. Restore the last backup, or move db.json and every store.journal* file aside together to start empty.`,
          );
        }
        lastSeq = entry.seq;
      }
    };

    const leftBehind: string[] = [];
    const segments = names
      .map((name) => ({ name, lastSeq: parseSegmentName(name) }))
      .filter((s): s is { name: string; lastSeq: number } => s.lastSeq !== undefined)
      .sort((a, b) => a.lastSeq - b.lastSeq);
    for (const seg of segments) {
      const path = join(this.dir, seg.name);
      if (seg.lastSeq <= this.snapshotSeq) {
        // left behind by a compaction interrupted after db.json was replaced: its audit records
        // may still be needed, the rest is in the snapshot
        if (seg.lastSeq > auditFrom) {
          for (const { entry } of scanSegment(seg.name, await readFile(path), false).entries) collectAudit(entry);
        }
        leftBehind.push(path);
        continue;
      }
      const buf = await readFile(path);
      const scan = scanSegment(seg.name, buf, false);
      replay(seg.name, scan.entries);
      const last = scan.entries.at(-1)?.entry.seq;
      if (last !== seg.lastSeq) {
        throw new JournalCorruptError(seg.name, scan.entries.at(-1)?.line ?? 1, `it ends at seq ${last ?? 'none'} but is named for seq ${seg.lastSeq}`);
      }
      this.rotated.push({ name: seg.name, lastSeq: seg.lastSeq, bytes: buf.length });
    }

    const activePath = join(this.dir, JOURNAL_FILE);
    let buf: Buffer | undefined;
    try {
      buf = await readFile(activePath);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    if (buf) {
      const scan = scanSegment(JOURNAL_FILE, buf, true);
      replay(JOURNAL_FILE, scan.entries);
      this.active = await open(activePath, 'r+');
      if (scan.torn) {
        this.log.warn(
          { file: activePath, line: scan.torn.line, reason: scan.torn.reason, droppedBytes: scan.torn.droppedBytes },
          `store: ${JOURNAL_FILE} line ${scan.torn.line} was torn by a crash (${scan.torn.reason}) and never acknowledged; cut it away`,
        );
        await this.active.truncate(scan.goodLength);
        await this.active.datasync();
      }
      this.activeBytes = scan.goodLength;
    } else {
      this.active = await open(activePath, 'wx+', 0o600);
      this.activeBytes = 0;
      await fsyncDir(this.dir);
    }
    this.durableSeq = lastSeq;
    this.nextSeq = lastSeq + 1;
    if (this.auditSink && auditBacklog.length > 0) {
      auditBacklog.sort((a, b) => a.seq - b.seq);
      for (let i = 0; i < auditBacklog.length; i += AUDIT_BACKLOG_SLICE) await this.auditSink.append(auditBacklog.slice(i, i + AUDIT_BACKLOG_SLICE));
      this.log.warn({ dataDir: this.dir, commits: auditBacklog.length, fromSeq: auditBacklog[0].seq }, 'store: handed over audit records a crash had left in the journal only');
    }
    if (leftBehind.length > 0 && this.auditSink?.sync) await this.auditSink.sync();
    for (const path of leftBehind) await rm(path, { force: true });
    const counts = this.state.counts();
    this.log.info(
      { dataDir: this.dir, ...counts, seq: lastSeq, snapshotSeq: this.snapshotSeq, journalBytes: this.journalBytes(), ms: Math.round(performance.now() - t0) },
      'store: opened',
    );
  }

  private loadSnapshot(snap: SnapshotData): void {
    for (const [name, conn] of Object.entries(snap.connections)) {
      const bad = (what: string): never => {
        throw new Error(`${SNAPSHOT_FILE} is corrupt (connection "${name}": ${what}); the store was not opened. Restore the last backup, or move db.json and every store.journal* file aside together to start empty.`);
      };
      if (!Array.isArray(conn?.users) || !Array.isArray(conn.groups) || typeof conn.members !== 'object') bad('users, groups or members missing');
      for (const list of [conn.users, conn.groups]) {
        for (const r of list) {
          if (typeof r?.id !== 'string' || (r.type !== 'User' && r.type !== 'Group') || typeof r.data !== 'object') bad('a resource without id, type or data');
          this.state.load(r.connection === name ? r : { ...r, connection: name });
        }
      }
      for (const [groupId, members] of Object.entries(conn.members)) {
        if (!Array.isArray(members) || !this.state.loadMembers(name, groupId, members)) bad(`members of unknown group "${groupId}"`);
      }
      if (conn.deleted !== undefined && !Array.isArray(conn.deleted)) bad('deleted is not a list');
      for (const r of conn.deleted ?? []) this.state.loadDeleted(r.connection === name ? r : { ...r, connection: name });
    }
    if ((snap.outbox !== undefined && !Array.isArray(snap.outbox)) || (snap.links !== undefined && !Array.isArray(snap.links))) {
      throw new Error(`${SNAPSHOT_FILE} is corrupt (outbox or links is not a list); the store was not opened. Restore the last backup.`);
    }
    this.state.loadOutbox(snap.outbox ?? [], snap.links ?? []);
  }

  // ---- writes ------------------------------------------------------------------------------

  async commit(request: CommitRequest, hooks?: CommitHooks): Promise<CommitResult> {
    if (!this.opened) throw ScimError.unavailable('The store is not open.');
    if (this.closing) throw ScimError.unavailable('The store is shutting down.');
    if (!Array.isArray(request?.changes)) throw ScimError.invalidValue('commit: changes must be an array');
    const at = request.at ?? new Date().toISOString();
    if (typeof at !== 'string') throw ScimError.invalidValue('commit: at must be an ISO date-time string');
    // Audit records change no state (replay only hands them to the sink), so they are journaled
    // after the state changes and are not copied: about a third of a PATCH's journal line.
    const stateRecords: JournalChange[] = [];
    const auditChanges: JournalChange[] = [];
    const expect: Array<number | undefined> = [];
    for (const c of request.changes) {
      const record = toJournalChange(c);
      if (record.op === 'audit') auditChanges.push({ op: 'audit', records: this.prepareAudit(record.records) });
      else {
        stateRecords.push(record);
        expect.push('expectVersion' in c ? c.expectVersion : undefined);
      }
    }
    const stateJson = JSON.stringify(stateRecords);
    const changesJson =
      auditChanges.length === 0 ? stateJson : `[${stateJson.slice(1, -1)}${stateRecords.length > 0 ? ',' : ''}${JSON.stringify(auditChanges).slice(1)}`;
    // The stored copy is the journal's own JSON, parsed back: the caller keeps no reference into
    // the store, and memory holds exactly what a replay will rebuild.
    const copies = JSON.parse(stateJson) as JournalChange[];
    const undo: Array<() => void> = [];
    const resources = this.state.apply(copies, at, undo, expect);
    const seq = this.nextSeq++;
    hooks?.onApplied?.();
    const audit = auditRecordsOf(auditChanges);
    const result = await new Promise<CommitResult>((resolvePromise, reject) => {
      this.pending.push({ seq, at, changesJson, undo, result: { resources, seq }, resolve: resolvePromise, reject, ...(audit ? { audit } : {}) });
      void this.pump();
    });
    // A delivery's outcome is durable: its entry may be claimed again (a retry after a failure).
    for (const c of stateRecords) if (c.op === 'outbox.remove' || (c.op === 'outbox.update' && c.release)) this.claimed.delete(c.id);
    return result;
  }

  /** The single writer: one batch (everything queued) per write + fdatasync. */
  private async pump(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      for (;;) {
        if (this.rotateWaiters.length > 0) await this.rotateNow();
        if (this.pending.length === 0) break;
        const batch = this.pending;
        this.pending = [];
        await this.writeBatch(batch);
      }
    } finally {
      this.writing = false;
    }
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private async ensureActive(): Promise<FileHandle> {
    if (this.active) return this.active;
    const path = join(this.dir, JOURNAL_FILE);
    try {
      this.active = await open(path, 'r+');
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
      this.active = await open(path, 'wx+', 0o600);
      this.activeBytes = 0;
      this.needDirSync = true;
    }
    return this.active;
  }

  private async writeBatch(batch: PendingCommit[]): Promise<void> {
    const first = batch[0].seq;
    let text = '';
    for (const c of batch) text += encodeLine(c.seq, first, c.at, c.changesJson);
    const buf = Buffer.from(text, 'utf8');
    try {
      const h = await this.ensureActive();
      if (this.dirty) {
        await this.io.truncate(h, this.activeBytes);
        this.dirty = false;
      }
      if (this.needDirSync) {
        await fsyncDir(this.dir);
        this.needDirSync = false;
      }
      this.dirty = true;
      await writeFully(this.io, h, buf, this.activeBytes);
      if (this.fsync) await this.io.datasync(h);
      this.dirty = false;
    } catch (err) {
      await this.fail(batch, err);
      return;
    }
    this.activeBytes += buf.length;
    this.durableSeq = batch[batch.length - 1].seq;
    this.guard?.wake?.();
    const audited: Array<{ seq: number; records: unknown[] }> = [];
    for (const c of batch) if (c.audit) audited.push({ seq: c.seq, records: c.audit });
    if (audited.length > 0) this.handToAudit(audited);
    for (const c of batch) c.resolve(c.result);
    // checked here, not when the writer goes idle: under steady load it never does
    this.maybeCompact();
  }

  /**
   * A write or fsync failed: the batch and everything queued behind it is undone in memory
   * (newest first, synchronously, before any other commit can run), the journal is cut back to
   * its acknowledged length, and all of them are rejected with 503.
   */
  private async fail(batch: PendingCommit[], err: unknown): Promise<void> {
    const failed = batch.concat(this.pending);
    this.pending = [];
    for (let i = failed.length - 1; i >= 0; i--) {
      const undo = failed[i].undo;
      for (let j = undo.length - 1; j >= 0; j--) undo[j]();
    }
    this.nextSeq = this.durableSeq + 1;
    if (this.guard && this.guard.seq > this.durableSeq) {
      this.guard.invalid = true;
      this.guard.wake?.();
    }
    const code = errnoCode(err);
    this.log.error(
      { err, code, dataDir: this.dir, rejected: failed.length, firstSeq: failed[0].seq },
      'store: journal write failed; the commits were rolled back',
    );
    if (this.dirty && this.active) {
      try {
        await this.io.truncate(this.active, this.activeBytes);
        this.dirty = false;
      } catch (truncErr) {
        // stays dirty: the next batch truncates first, and fails if it still cannot
        this.log.error({ err: truncErr, dataDir: this.dir }, 'store: cannot cut the journal back yet');
      }
    }
    const error = ScimError.unavailable(
      `The data directory ${this.dir} cannot be written (${code}): nothing was changed. Free space and retry.`,
    );
    for (const c of failed) c.reject(error);
  }

  /**
   * Hands a durable batch's audit records to the sink in one call, without waiting for earlier
   * hand-overs: the sink queues them in call order. (Chained one commit at a time, hand-overs fell
   * behind under load and held tens of thousands of records in memory.)
   */
  private handToAudit(commits: Array<{ seq: number; records: unknown[] }>): void {
    const sink = this.auditSink;
    if (!sink || this.auditBehind) return;
    const handOver: Promise<void> = sink
      .append(commits)
      .catch((err: unknown) => {
        // The records stay in the journal: catchUpAudit() hands them over from there.
        this.auditResumeSeq = Math.min(this.auditResumeSeq, commits[0].seq);
        if (this.auditBehind) return;
        this.log.error(
          { err, seq: commits[0].seq, retryMs: this.auditRetryMs },
          'store: the audit sink refused records; they wait in the journal and are handed over when it accepts them again',
        );
        this.auditBehind = true;
        this.scheduleAuditCatchUp();
      })
      .finally(() => this.auditInFlight.delete(handOver));
    this.auditInFlight.add(handOver);
  }

  /**
   * Each audit record through the sink's prepare(), before it is journaled: a record the sink
   * would refuse is left out here, with an error in the log, instead of blocking every later
   * hand-over (and the journal segments behind it) until someone fixes it by hand.
   */
  private prepareAudit(records: unknown[]): unknown[] {
    const prepare = this.auditSink?.prepare;
    if (!prepare) return records;
    const out: unknown[] = [];
    for (const r of records) {
      try {
        out.push(prepare(r));
      } catch (err) {
        this.auditLeftOut++;
        this.log.error({ err: (err as Error).message }, 'store: an audit record of a commit is not valid and was left out');
      }
    }
    return out;
  }

  /** Called when hand-overs stop, and by a catch-up that was refused again. */
  private scheduleAuditCatchUp(): void {
    if (this.closing || this.auditRetryTimer) return;
    this.auditRetryTimer = setTimeout(() => {
      this.auditRetryTimer = undefined;
      const run: Promise<void> = this.catchUpAudit().finally(() => {
        if (this.auditCatchUp === run) this.auditCatchUp = undefined;
      });
      this.auditCatchUp = run;
    }, this.auditRetryMs);
    this.auditRetryTimer.unref();
  }

  /**
   * After a refusal the sink lacks every record from the refused commit on, and memory no longer
   * holds them: they are read back from the journal and handed over, until nothing durable is
   * left behind; from then on each durable batch is handed over as usual. On another refusal it
   * tries again later. No restart needed once the sink accepts again (a disk with space again).
   */
  private async catchUpAudit(): Promise<void> {
    const sink = this.auditSink;
    if (!sink || !this.auditBehind || this.closing) return;
    try {
      await this.auditSettled();
      // Not sink.lastSeq(): commits without audit records may follow it, in segments already gone.
      const first = this.auditResumeSeq - 1;
      let from = first;
      for (;;) {
        const upTo = this.durableSeq;
        if (upTo > from) from = await this.handOverFromJournal(sink, from, upTo);
        // Checked and cleared in one synchronous step: a batch that becomes durable after this
        // point is handed over by handToAudit, one before it was read from the journal above.
        if (this.durableSeq === from) {
          this.auditBehind = false;
          this.auditResumeSeq = Number.POSITIVE_INFINITY;
          this.log.warn({ dataDir: this.dir, fromSeq: first + 1, upToSeq: from }, 'store: the audit sink accepts records again; handed over what waited in the journal');
          return;
        }
      }
    } catch (err) {
      this.log.error({ err, retryMs: this.auditRetryMs }, 'store: the audit sink still refuses records; trying again later');
      this.scheduleAuditCatchUp();
    }
  }

  /**
   * Hands the audit records of commits (from, upTo] to the sink, read back from the journal one
   * segment at a time (memory holds one segment's records, however long the sink refused).
   * Journal seqs are consecutive: a gap means a rotation renamed the active segment while it was
   * listed, and the segments are listed again from where it got. Returns upTo.
   */
  private async handOverFromJournal(sink: AuditSink, from: number, upTo: number): Promise<number> {
    let handed = from;
    for (let pass = 1; handed < upTo; pass++) {
      if (pass > 3) throw new Error(`the journal does not hold seq ${handed + 1} yet`);
      const names = [...this.rotated.filter((s) => s.lastSeq > handed).map((s) => s.name), JOURNAL_FILE];
      for (const name of names) {
        let buf: Buffer;
        try {
          buf = await readFile(join(this.dir, name));
        } catch (err) {
          if (errnoCode(err) === 'ENOENT') break; // renamed by a rotation: list again
          throw err;
        }
        const commits: Array<{ seq: number; records: unknown[] }> = [];
        let gap = false;
        for (const { entry } of scanSegment(name, buf, name === JOURNAL_FILE).entries) {
          if (entry.seq <= handed) continue;
          if (entry.seq > upTo) break;
          if (entry.seq !== handed + 1) {
            gap = true;
            break;
          }
          const records = auditRecordsOf(entry.changes);
          if (records) commits.push({ seq: entry.seq, records });
          handed = entry.seq;
        }
        for (let i = 0; i < commits.length; i += AUDIT_BACKLOG_SLICE) {
          const slice = commits.slice(i, i + AUDIT_BACKLOG_SLICE);
          await sink.append(slice);
          this.auditResumeSeq = slice[slice.length - 1].seq + 1; // taken: a later refusal resumes after it
        }
        this.auditResumeSeq = handed + 1;
        if (gap || handed >= upTo) break;
      }
    }
    return handed;
  }

  /** Resolves when the sink has settled every hand-over made so far. */
  private async auditSettled(): Promise<void> {
    while (this.auditInFlight.size > 0) await Promise.all([...this.auditInFlight]);
  }

  /** Resolves when nothing is queued or being written. */
  private drain(): Promise<void> {
    if (!this.writing && this.pending.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  // ---- compaction --------------------------------------------------------------------------

  private journalBytes(): number {
    return this.activeBytes + this.rotated.reduce((n, s) => n + s.bytes, 0);
  }

  /** Journal size that triggers a compaction (see LowdbStoreOptions.compactAfterBytes). */
  private get compactAfter(): number {
    if (this.compactAfterOption !== undefined) return this.compactAfterOption;
    return Math.min(DEFAULT_COMPACT_AFTER_BYTES, Math.max(MIN_DEFAULT_COMPACT_AFTER_BYTES, this.adapter.size));
  }

  /**
   * Journal bytes the snapshot does not cover yet: what a compaction would fold in. Segments the
   * snapshot covers but that wait for the audit sink do not count, or every batch would start a
   * compaction while the sink refuses records.
   */
  private uncompactedBytes(): number {
    let n = this.activeBytes;
    for (const s of this.rotated) if (s.lastSeq > this.snapshotSeq) n += s.bytes;
    return n;
  }

  private maybeCompact(): void {
    if (!this.opened || this.closing || this.compaction) return;
    const bytes = this.uncompactedBytes();
    if (bytes >= this.compactAfter && bytes >= this.compactRetryAt) void this.compact('size');
  }

  /** Starts (or joins) a compaction; never rejects: a failed compaction leaves the journal as it was. */
  private compact(reason: string): Promise<void> {
    this.compaction ??= this.runCompaction(reason)
      .catch((err: unknown) => {
        this.compactRetryAt = this.uncompactedBytes() + Math.max(1, Math.floor(this.compactAfter / 4));
        this.log.warn({ err, code: errnoCode(err), dataDir: this.dir, reason }, 'store: compaction failed; the journal keeps everything, will retry');
      })
      .finally(() => {
        this.compaction = undefined;
      });
    return this.compaction;
  }

  /** Moves the active segment aside, between two batches of the writer. */
  private requestRotation(): Promise<void> {
    return new Promise((resolvePromise, reject) => {
      this.rotateWaiters.push({ resolve: resolvePromise, reject });
      void this.pump();
    });
  }

  private async rotateNow(): Promise<void> {
    const waiters = this.rotateWaiters.splice(0);
    try {
      if (this.dirty && this.active) {
        await this.io.truncate(this.active, this.activeBytes);
        this.dirty = false;
      }
      if (this.activeBytes > 0) {
        const h = this.active;
        this.active = undefined;
        await h?.close();
        const name = segmentName(this.durableSeq);
        await rename(join(this.dir, JOURNAL_FILE), join(this.dir, name));
        this.rotated.push({ name, lastSeq: this.durableSeq, bytes: this.activeBytes });
        this.activeBytes = 0;
        this.active = await open(join(this.dir, JOURNAL_FILE), 'wx+', 0o600);
        this.needDirSync = true;
        await fsyncDir(this.dir);
        this.needDirSync = false;
      }
      for (const w of waiters) w.resolve();
    } catch (err) {
      for (const w of waiters) w.reject(err);
    }
  }

  private async runCompaction(reason: string): Promise<void> {
    const t0 = performance.now();
    await this.requestRotation();
    // Everything applied so far: commits still queued are in the new segment and must be durable
    // before the snapshot replaces db.json (the guard below).
    const seq = this.nextSeq - 1;
    if (seq > this.snapshotSeq) {
      const g0 = performance.now();
      const data = this.grab(seq);
      const grabMs = performance.now() - g0;
      const guard: CompactionGuard = { seq, invalid: false };
      this.guard = guard;
      this.adapter.beforeReplace = async () => {
        while (!guard.invalid && this.durableSeq < guard.seq) await new Promise<void>((r) => (guard.wake = r));
        if (guard.invalid) throw new Error('commits included in the snapshot failed and were rolled back');
      };
      this.db.data = data;
      try {
        await this.db.write();
      } finally {
        this.db.data = emptySnapshot();
        this.guard = undefined;
        this.adapter.beforeReplace = undefined;
      }
      this.snapshotSeq = seq;
      this.compactRetryAt = 0;
      this.lastCompaction = new Date().toISOString();
      this.compactions++;
      this.log.info(
        { reason, seq, snapshotBytes: this.adapter.size, grabMs: Math.round(grabMs), ms: Math.round(performance.now() - t0) },
        'store: compacted',
      );
    }
    // segments entirely covered by the snapshot are no longer needed, once their audit records
    // are with the sink (the journal is where they are recovered from after a crash)
    await this.auditSettled();
    if (this.auditBehind) return;
    if (this.auditSink?.sync) await this.auditSink.sync();
    const covered = this.rotated.filter((s) => s.lastSeq <= this.snapshotSeq);
    this.rotated = this.rotated.filter((s) => s.lastSeq > this.snapshotSeq);
    for (const s of covered) await rm(join(this.dir, s.name), { force: true });
  }

  /** The snapshot's content, by reference: stored objects are immutable, so this is consistent. */
  private grab(seq: number): SnapshotData {
    const connections = Object.create(null) as Record<string, SnapshotConnection>;
    for (const [name, conn] of this.state.connections) {
      const members = Object.create(null) as Record<string, readonly Member[]>;
      for (const id of conn.groups.keys()) {
        const list = conn.memberList(id);
        if (list.length > 0) members[id] = list;
      }
      connections[name] = { users: [...conn.users.values()], groups: [...conn.groups.values()], members, deleted: [...conn.deleted.values()] };
    }
    return {
      format: SNAPSHOT_FORMAT,
      seq,
      savedAt: new Date().toISOString(),
      connections,
      outbox: [...this.state.outbox.values()],
      links: [...this.state.links.entries()],
    };
  }

  // ---- reads -------------------------------------------------------------------------------

  async get(connection: string, type: ResourceType, id: string): Promise<StoredResource | undefined> {
    return this.state.connection(connection)?.collection(type).get(id);
  }

  async findOne(connection: string, type: ResourceType, attr: IndexedAttribute, value: string): Promise<StoredResource | undefined> {
    const conn = this.state.connection(connection);
    if (!conn || typeof value !== 'string') return undefined;
    const coll = conn.collection(type);
    let id: string | undefined;
    if (type === 'User') {
      if (attr === 'userName') id = conn.userNames.get(value.toLowerCase());
      else if (attr === 'externalId') id = conn.userExternalIds.get(value);
      else if (attr === 'email') id = oldest(coll, conn.emails.get(value.toLowerCase()));
    } else {
      if (attr === 'displayName') id = conn.displayNames.get(value.toLowerCase());
      else if (attr === 'externalId') id = oldest(coll, conn.groupExternalIds.get(value));
    }
    return id === undefined ? undefined : coll.get(id);
  }

  async query(request: QueryRequest): Promise<QueryResult> {
    return runQuery(this.state.connection(request.connection), request);
  }

  async members(connection: string, groupId: string): Promise<Member[]> {
    const conn = this.state.connection(connection);
    return conn && conn.groups.has(groupId) ? conn.memberList(groupId).slice() : [];
  }

  async hasMember(connection: string, groupId: string, memberId: string): Promise<boolean> {
    return this.state.connection(connection)?.members.get(groupId)?.has(memberId) ?? false;
  }

  async groupsOf(connection: string, memberId: string): Promise<Array<{ value: string; display?: string }>> {
    const conn = this.state.connection(connection);
    const ids = conn?.memberOf.get(memberId);
    if (!conn || !ids) return [];
    const groups: StoredResource[] = [];
    for (const id of ids) {
      const g = conn.groups.get(id);
      if (g) groups.push(g);
    }
    groups.sort((a, b) => conn.groups.ordOf(a.id)! - conn.groups.ordOf(b.id)!);
    return groups.map((g) =>
      typeof g.data.displayName === 'string' ? { value: g.id, display: g.data.displayName } : { value: g.id },
    );
  }

  async stats(): Promise<StoreStats> {
    const counts = this.state.counts();
    let outboxPending = 0;
    let outboxDead = 0;
    for (const e of this.state.outbox.values()) if (e.state === 'dead') outboxDead++;
    else outboxPending++;
    const stats: StoreStats = {
      ...counts,
      outboxPending,
      outboxDead,
      journalBytes: this.journalBytes(),
      snapshotBytes: this.adapter.size,
      compactions: this.compactions,
      auditBehind: this.auditBehind,
      auditRecordsLeftOut: this.auditLeftOut,
    };
    if (this.lastCompaction) stats.lastCompaction = this.lastCompaction;
    return stats;
  }

  async backup(targetDir: string): Promise<{ file: string; seq: number; bytes: number; users: number; groups: number }> {
    if (!this.opened) throw new Error('The store is not open.');
    const seq = this.nextSeq - 1;
    const data = this.grab(seq); // by reference: stored objects are immutable
    const counts = this.state.counts();
    // The grab may include commits applied but not yet durable: wait for them, and give up if
    // one of them failed and was rolled back (the copy would hold a change nobody acknowledged).
    while (this.durableSeq < seq) {
      if (this.nextSeq <= seq) throw new Error('A write failed while the backup was taken; nothing was written. Try again.');
      await this.drain();
    }
    if (this.nextSeq <= seq) throw new Error('A write failed while the backup was taken; nothing was written. Try again.');
    await mkdir(targetDir, { recursive: true, mode: 0o700 });
    const file = new DurableJsonFile<SnapshotData>(join(targetDir, SNAPSHOT_FILE), { fsync: this.fsync, io: this.io });
    await file.write(data);
    return { file: join(targetDir, SNAPSHOT_FILE), seq, bytes: file.size, ...counts };
  }

  async outboxDue(now: string, limit: number): Promise<OutboxEntry[]> {
    const due: OutboxEntry[] = [];
    if (limit <= 0) return due;
    // Only the oldest entry of each (connector, resource) may go: that is what keeps per-resource
    // order. A claimed head (a delivery in flight) holds back its resource and is not returned again.
    const seen = new Set<string>();
    for (const e of this.state.outbox.values()) {
      const key = linkKey(e.connector, e.resourceId);
      if (seen.has(key)) continue;
      seen.add(key);
      if (e.state === 'pending' && e.nextAttemptAt <= now && !this.claimed.has(e.id)) {
        due.push(e);
        if (due.length >= limit) break;
      }
    }
    for (const e of due) this.claimed.add(e.id);
    return due;
  }

  async outboxRelease(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.claimed.delete(id);
  }

  async outboxGet(id: string): Promise<OutboxEntry | undefined> {
    return this.state.outbox.get(id);
  }

  async outboxList(filter: { state?: 'pending' | 'dead'; connection?: string; connector?: string } = {}): Promise<OutboxEntry[]> {
    const out: OutboxEntry[] = [];
    for (const e of this.state.outbox.values()) {
      if (filter.state && e.state !== filter.state) continue;
      if (filter.connection && e.connection !== filter.connection) continue;
      if (filter.connector && e.connector !== filter.connector) continue;
      out.push(e);
    }
    return out;
  }

  async deleted(connection: string, type: ResourceType): Promise<StoredResource[]> {
    const conn = this.state.connection(connection);
    return conn ? [...conn.deleted.values()].filter((r) => r.type === type) : [];
  }

  async linkOf(connector: string, resourceId: string): Promise<string | undefined> {
    return this.state.links.get(linkKey(connector, resourceId));
  }

  async linkedResource(connector: string, targetKey: string): Promise<string | undefined> {
    return this.state.linkOwners.get(ownerKey(connector, targetKey));
  }

  /** For tests: the journal seq state. */
  debugState(): { nextSeq: number; durableSeq: number; snapshotSeq: number; segments: string[]; activeBytes: number } {
    return {
      nextSeq: this.nextSeq,
      durableSeq: this.durableSeq,
      snapshotSeq: this.snapshotSeq,
      segments: this.rotated.map((s) => s.name),
      activeBytes: this.activeBytes,
    };
  }

  /** For tests and benchmarks: compact now, as close() or a full journal would. */
  compactNow(): Promise<void> {
    return this.compact('manual');
  }
}

function oldest(coll: { ordOf(id: string): number | undefined }, ids: Set<string> | undefined): string | undefined {
  let best: string | undefined;
  let bestOrd = Infinity;
  for (const id of ids ?? []) {
    const ord = coll.ordOf(id);
    if (ord !== undefined && ord < bestOrd) {
      best = id;
      bestOrd = ord;
    }
  }
  return best;
}
