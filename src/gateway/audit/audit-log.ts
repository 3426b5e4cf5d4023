/**
 * The audit log: an append-only, hash-chained JSON Lines file beside the store.
 *
 * One writer appends batches (group commit: every append queued while a write is in flight goes
 * into the next write, with one fdatasync), so concurrent appends cost one disk flush. Seq and
 * hashes are assigned when a batch is formed, so a failed write is cut back and leaves no gap.
 */
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurably } from '../auth/access-file.js';
import { ACTIVE_FILE, ANCHOR_FILE, backwardLines, buildSparseIndex, chainFiles, forwardLines, listAuditFiles, openChain, readAnchor, rotatedName, type AuditFile, type ChainSnapshot, type SeqMark } from './files.js';
import { exportChain, type ExportOptions, type ExportSummary } from './export.js';
import { prepareDraft } from './draft.js';
import { auditRecordSchema, canonicalJson, decodeRecord, GENESIS_HASH, sealRecord, type AuditDraft, type AuditRecord } from './record.js';
import { verifyChain, type VerifyResult } from './verify.js';

/** The logging surface the audit log needs (pino-compatible). */
export interface AuditLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

/** Options of `createAuditLog`. */
export interface AuditLogOptions {
  dataDir: string;
  logger?: AuditLogger;
  /** fdatasync every append; default true. Only tests and benchmarks turn it off. */
  fsync?: boolean;
}

/** File operations, replaceable by tests to inject failures. */
export interface AuditIo {
  write(handle: FileHandle, buffer: Buffer, position: number): Promise<number>;
  datasync(handle: FileHandle): Promise<void>;
  truncate(handle: FileHandle, length: number): Promise<void>;
}

/** Knobs for tests: fault injection and a clock. */
export interface AuditLogInternals {
  io?: AuditIo;
  now?: () => Date;
}

/** Filters of `query`; all optional, combined with AND. */
export interface AuditQuery {
  /** records at or after this time */
  from?: Date | string;
  /** records before this time */
  to?: Date | string;
  /** records made with this SCIM token */
  tokenId?: string;
  /** actor id (token id, admin user, connector instance, …) */
  actor?: string;
  actorKind?: AuditRecord['actor']['kind'];
  resourceType?: string;
  resourceId?: string;
  /** exact action, or a prefix ending in `.*` (`user.*`) */
  action?: string;
  connection?: string;
  result?: AuditRecord['result'];
  /** page size, 1..1000, default 100 */
  limit?: number;
  /** `nextCursor` of the previous page */
  cursor?: string;
}

/** One page of `query`, newest first. */
export interface AuditPage {
  records: AuditRecord[];
  /** present when there may be older matching records */
  nextCursor?: string;
}

/** The audit log of one data dir. */
export interface AuditLog {
  open(): Promise<void>;
  close(): Promise<void>;
  /** Appends drafts as consecutive records; resolves once they are durable. */
  /**
   * Appends records. With `{ durable: false }` the write is not fsynced on its own: for records the
   * caller already holds durably (the store journal), which then calls sync() before dropping them.
   * With `{ prepared: true }` the drafts have been through `prepareDraft` already (the store does
   * it at commit) and are not validated again.
   */
  append(drafts: AuditDraft[], options?: { durable?: boolean; prepared?: boolean }): Promise<AuditRecord[]>;
  /** fsyncs everything appended so far. */
  sync(): Promise<void>;
  /** Highest storeSeq appended so far (0 when none). */
  lastStoreSeq(): number;
  /**
   * Records lost since the log opened: durable appends (refused requests, admin actions) that it
   * refused or could not write. Appends with `{ durable: false }` are not counted: their caller
   * holds the records (the store journal) and hands them over again. /metrics and the status page
   * report it.
   */
  recordsLost(): number;
  /** Result of the integrity check of the active file that open() starts in the background. */
  startupCheck(): Promise<VerifyResult>;
  query(q?: AuditQuery): Promise<AuditPage>;
  export(options: ExportOptions, out: NodeJS.WritableStream): Promise<ExportSummary>;
  verify(): Promise<VerifyResult>;
  /** Starts a new file; returns the rotated file's name, or undefined when there was nothing to rotate. */
  rotate(): Promise<string | undefined>;
  /** Deletes rotated files whose records are all older than `days`; returns their names. */
  applyRetention(days: number): Promise<string[]>;
}

const nodeIo: AuditIo = {
  write: async (h, buf, position) => (await h.write(buf, 0, buf.length, position)).bytesWritten,
  datasync: (h) => h.datasync(),
  truncate: (h, length) => h.truncate(length),
};

const fallbackLogger: AuditLogger = {
  info() {},
  warn: (o, msg) => console.warn(JSON.stringify({ level: 'warn', msg, ...o })),
  error: (o, msg) => console.error(JSON.stringify({ level: 'error', msg, ...o })),
};

/** A clock step back of up to this much still lets a query skip a rotated file by its time range. */
const CLOCK_SLACK_MS = 5 * 60_000;
const SPARSE_EVERY = 1024;

interface PendingAppend {
  drafts: AuditDraft[];
  /** false: the caller keeps the records durable elsewhere (the store journal) and calls sync() later. */
  durable: boolean;
  resolve(records: AuditRecord[]): void;
  reject(err: unknown): void;
}

interface Op {
  run(): Promise<void>;
}

/** Creates the audit log of a data dir; call `open()` before use. */
export function createAuditLog(options: AuditLogOptions, internals: AuditLogInternals = {}): AuditLog {
  return new FileAuditLog(options, internals);
}

async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return; // NTFS makes a rename durable with the file's flush
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

function toTime(v: Date | string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const t = v instanceof Date ? v.getTime() : Date.parse(v);
  if (Number.isNaN(t)) throw new Error(`audit query: ${name} is not a date: ${String(v)}`);
  return t;
}

class FileAuditLog implements AuditLog {
  private lostRecords = 0;
  private readonly dir: string;
  private readonly log: AuditLogger;
  private readonly fsync: boolean;
  private readonly io: AuditIo;
  private readonly now: () => Date;

  private opened = false;
  private closed = false;
  private handle?: FileHandle;
  /** acknowledged length of the active file */
  private activeBytes = 0;
  /** bytes past activeBytes may be on disk (a failed write): cut them before the next write */
  private dirty = false;
  private needDirSync = false;
  private activeFirstSeq?: number;
  /**
   * Byte offset of every SPARSE_EVERY-th record of the active file: a deep page of a query reads
   * the active file only from below its cursor instead of from its end.
   */
  private sparse: Array<{ seq: number; offset: number }> = [];
  /** bumped by every rotation: work on an older active file must not touch the new one's state */
  private generation = 0;
  private checked: Promise<VerifyResult> = Promise.resolve({ ok: true, records: 0 });
  private nextSeq = 1;
  private lastHash = GENESIS_HASH;
  private maxStoreSeq = 0;

  private pending: PendingAppend[] = [];
  private ops: Op[] = [];
  private writing = false;
  /** first and last record time of rotated files (immutable), for skipping them in queries */
  private readonly fileTimes = new Map<string, { first: number; last: number }>();
  /** sparse offset index of rotated files (immutable), built on the first deep page into one */
  private readonly fileMarks = new Map<string, SeqMark[]>();

  constructor(options: AuditLogOptions, internals: AuditLogInternals) {
    this.dir = options.dataDir;
    this.log = options.logger ?? fallbackLogger;
    this.fsync = options.fsync ?? true;
    this.io = internals.io ?? nodeIo;
    this.now = internals.now ?? (() => new Date());
  }

  async open(): Promise<void> {
    if (this.opened) return;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const anchor = await readAnchor(this.dir);
    const files = chainFiles(await listAuditFiles(this.dir), anchor?.seq);
    let head: { seq: number; hash: string } | undefined = anchor;
    const active = files.find((f) => f.active);
    const rotated = files.filter((f) => !f.active);
    if (rotated.length > 0) {
      const last = await this.lastRecordOf(rotated[rotated.length - 1]);
      if (last) head = last;
    }
    const before = head;
    if (active) {
      const h = await open(active.path, 'r+');
      this.handle = h;
      await this.cutTornTail(active, h);
      const tail = await this.readTail(active, h);
      if (tail.head) head = tail.head;
      // the background check reads through its own handle: a rotation may rename the file meanwhile
      const checkHandle = await open(active.path, 'r');
      this.checked = this.checkActive(active, checkHandle, this.activeBytes, before);
    } else {
      this.checked = Promise.resolve({ ok: true, records: 0 });
    }
    if (head) {
      this.nextSeq = head.seq + 1;
      this.lastHash = head.hash;
    }
    if (this.maxStoreSeq === 0) await this.findStoreSeqInRotated(rotated);
    this.opened = true;
  }

  startupCheck(): Promise<VerifyResult> {
    return this.checked;
  }

  /**
   * Bytes after the last newline are a write that never completed, so never acknowledged: cut
   * them, with a warning. Only the end of the file is read, so opening stays fast at any size.
   */
  private async cutTornTail(file: AuditFile, h: FileHandle): Promise<void> {
    const size = (await h.stat()).size;
    let good = 0;
    for (let end = size; end > 0; ) {
      const start = Math.max(0, end - 64 * 1024);
      const buf = Buffer.alloc(end - start);
      await h.read(buf, 0, buf.length, start);
      const nl = buf.lastIndexOf(10);
      if (nl !== -1) {
        good = start + nl + 1;
        break;
      }
      end = start;
    }
    if (good < size) {
      this.log.warn({ file: file.path, offset: good, droppedBytes: size - good }, 'audit: cut an incomplete last line left by a crash (that append was never acknowledged)');
      await h.truncate(good);
      await h.datasync();
    }
    this.activeBytes = good;
  }

  /**
   * The head of the chain, the highest recent storeSeq and the first seq, from the ends of the
   * active file. A damaged last record still gives its seq and hash when they can be read, so
   * new records do not reuse its seq; the damage itself is reported by the check.
   */
  private async readTail(file: AuditFile, h: FileHandle): Promise<{ head?: { seq: number; hash: string } }> {
    let head: { seq: number; hash: string } | undefined;
    for await (const line of backwardLines(h, this.activeBytes)) {
      const parsed = safeJson(line) as { seq?: unknown; hash?: unknown; storeSeq?: unknown } | undefined;
      if (!head && parsed && Number.isSafeInteger(parsed.seq) && typeof parsed.hash === 'string' && /^[0-9a-f]{64}$/.test(parsed.hash)) {
        head = { seq: parsed.seq as number, hash: parsed.hash };
        if (!decodeRecord(line).ok) this.log.error({ file: file.path, seq: head.seq }, 'AUDIT LOG DAMAGED: the last record does not match its hash; run `scim-bridge audit verify`');
      }
      if (parsed && Number.isSafeInteger(parsed.storeSeq) && (parsed.storeSeq as number) > this.maxStoreSeq) this.maxStoreSeq = parsed.storeSeq as number;
      // Store records are handed over in storeSeq order: the newest one that has a storeSeq holds
      // the highest. Records without one (refusals, deliveries) may come after it in any number.
      if (head && this.maxStoreSeq > 0) break;
    }
    for await (const l of forwardLines(h, this.activeBytes)) {
      const parsed = safeJson(l.text) as { seq?: unknown } | undefined;
      if (parsed && Number.isSafeInteger(parsed.seq)) this.activeFirstSeq = parsed.seq as number;
      break;
    }
    if (this.activeFirstSeq === undefined && head) this.activeFirstSeq = head.seq;
    return { head };
  }

  /**
   * Verifies the active file in the background after open (the audit log must not delay or stop
   * provisioning) and builds its sparse offset index. Damage is logged loudly; verify() names it.
   */
  private async checkActive(file: AuditFile, h: FileHandle, length: number, before: { seq: number; hash: string } | undefined): Promise<VerifyResult> {
    const generation = this.generation;
    const marks: Array<{ seq: number; offset: number }> = [];
    let damage: { line: number; seq?: number; reason: string } | undefined;
    let prev = before;
    let records = 0;
    try {
      for await (const l of forwardLines(h, length)) {
        if (this.closed) break; // close() should not wait for a check of a large file
        const d = decodeRecord(l.text);
        if (!d.ok) {
          damage ??= { line: l.lineNo, seq: d.seq, reason: d.reason };
          continue;
        }
        const r = d.record;
        records++;
        if (!damage) {
          const wantSeq = prev ? prev.seq + 1 : 1;
          const wantHash = prev ? prev.hash : GENESIS_HASH;
          if (r.seq !== wantSeq) damage = { line: l.lineNo, seq: r.seq, reason: `seq ${r.seq} where seq ${wantSeq} was expected: records were removed or reordered` };
          else if (r.prevHash !== wantHash) damage = { line: l.lineNo, seq: r.seq, reason: 'prevHash is not the hash of the previous record' };
        }
        if (r.seq % SPARSE_EVERY === 0) marks.push({ seq: r.seq, offset: l.offset });
        prev = { seq: r.seq, hash: r.hash };
      }
    } catch (err) {
      this.log.error({ err, file: file.path }, 'audit: the start-up check could not read the file');
      return { ok: false, file: file.name, line: 0, reason: `cannot read: ${(err as Error).message}` };
    } finally {
      await h.close().catch(() => undefined);
    }
    // records appended meanwhile have their marks already; a rotation meanwhile made these moot
    if (generation === this.generation) this.sparse = marks.concat(this.sparse);
    if (damage) {
      this.log.error(
        { file: file.path, line: damage.line, seq: damage.seq, reason: damage.reason },
        'AUDIT LOG DAMAGED: a record was altered or removed; appending continues, run `scim-bridge audit verify` and restore the file from a backup',
      );
      return { ok: false, file: file.name, ...damage };
    }
    return { ok: true, records };
  }

  private async lastRecordOf(file: AuditFile, handle?: FileHandle): Promise<AuditRecord | undefined> {
    for await (const line of backwardLines(handle ?? file.path)) {
      const d = decodeRecord(line);
      if (d.ok) return d.record;
      this.log.error({ file: file.path, reason: d.reason }, 'AUDIT LOG DAMAGED: the last record of a rotated file is invalid; run `scim-bridge audit verify`');
    }
    return undefined;
  }

  /** After a rotation the active file is empty: the highest storeSeq is in the newest rotated files. */
  private async findStoreSeqInRotated(rotated: AuditFile[]): Promise<void> {
    for (let i = rotated.length - 1; i >= 0; i--) {
      for await (const line of backwardLines(rotated[i].path)) {
        const d = decodeRecord(line);
        if (d.ok && d.record.storeSeq !== undefined) {
          this.maxStoreSeq = d.record.storeSeq;
          return;
        }
      }
    }
  }

  lastStoreSeq(): number {
    return this.maxStoreSeq;
  }

  async sync(): Promise<void> {
    // Joins the writer's queue as an empty durable append: it runs after every queued write.
    if (!this.opened || this.closed) return;
    await new Promise<AuditRecord[]>((resolve, reject) => {
      this.pending.push({ drafts: [], durable: true, resolve, reject });
      void this.pump();
    });
  }

  recordsLost(): number {
    return this.lostRecords;
  }

  append(drafts: AuditDraft[], options: { durable?: boolean; prepared?: boolean } = {}): Promise<AuditRecord[]> {
    const durable = options.durable ?? true;
    if (!this.opened || this.closed) {
      if (durable) this.lostRecords += drafts.length;
      return Promise.reject(new Error('audit log is not open'));
    }
    if (drafts.length === 0) return Promise.resolve([]);
    let clean: AuditDraft[];
    try {
      clean = options.prepared ? drafts : drafts.map(prepareDraft);
    } catch (err) {
      if (durable) this.lostRecords += drafts.length;
      return Promise.reject(err);
    }
    return new Promise<AuditRecord[]>((resolve, reject) => {
      this.pending.push({ drafts: clean, durable: options.durable ?? true, resolve, reject });
      void this.pump();
    });
  }

  /** The single writer: exclusive operations first, then everything queued in one write. */
  private async pump(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      for (;;) {
        const op = this.ops.shift();
        if (op) {
          await op.run();
          continue;
        }
        if (this.pending.length === 0) break;
        await this.writeBatch(this.pending.splice(0));
      }
    } finally {
      this.writing = false;
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.ops.push({ run: () => fn().then(resolve, reject) });
      void this.pump();
    });
  }

  private async ensureHandle(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    const path = join(this.dir, ACTIVE_FILE);
    try {
      this.handle = await open(path, 'wx+', 0o600);
      this.activeBytes = 0;
      this.needDirSync = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      this.handle = await open(path, 'r+');
      this.activeBytes = (await this.handle.stat()).size;
    }
    return this.handle;
  }

  private async writeBatch(batch: PendingAppend[]): Promise<void> {
    const seq0 = this.nextSeq;
    const hash0 = this.lastHash;
    const time = this.now().toISOString();
    const out: AuditRecord[][] = [];
    const marks: Array<{ seq: number; offset: number }> = [];
    let text = '';
    let seq = seq0;
    let prevHash = hash0;
    for (const p of batch) {
      const recs: AuditRecord[] = [];
      for (const d of p.drafts) {
        const base = { ...d, seq, time, prevHash };
        const { record: r, line } = sealRecord(base);
        if (seq % SPARSE_EVERY === 0) marks.push({ seq, offset: Buffer.byteLength(text) });
        text += line;
        recs.push(r);
        prevHash = r.hash;
        seq++;
      }
      out.push(recs);
    }
    const buf = Buffer.from(text, 'utf8');
    try {
      const h = await this.ensureHandle();
      if (this.dirty) {
        await this.io.truncate(h, this.activeBytes);
        this.dirty = false;
      }
      if (this.needDirSync) {
        if (this.fsync) await fsyncDir(this.dir);
        this.needDirSync = false;
      }
      this.dirty = true;
      let done = 0;
      while (done < buf.length) {
        const n = await this.io.write(h, buf.subarray(done), this.activeBytes + done);
        if (n <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
        done += n;
      }
      if (this.fsync && batch.some((p) => p.durable)) await this.io.datasync(h);
      this.dirty = false;
    } catch (err) {
      await this.fail(batch, err);
      return;
    }
    for (const m of marks) this.sparse.push({ seq: m.seq, offset: this.activeBytes + m.offset });
    this.activeBytes += buf.length;
    if (buf.length > 0) this.activeFirstSeq ??= seq0;
    this.nextSeq = seq;
    this.lastHash = prevHash;
    batch.forEach((p, i) => {
      for (const r of out[i]) if (r.storeSeq !== undefined && r.storeSeq > this.maxStoreSeq) this.maxStoreSeq = r.storeSeq;
      p.resolve(out[i]);
    });
  }

  /** Like a write-ahead log: the batch and everything queued behind it fail, the file is cut back. */
  private async fail(batch: PendingAppend[], err: unknown): Promise<void> {
    const failed = batch.concat(this.pending.splice(0));
    for (const p of failed) if (p.durable) this.lostRecords += p.drafts.length;
    const code = (err as NodeJS.ErrnoException).code;
    this.log.error({ err, code, dataDir: this.dir, rejected: failed.length }, 'audit: write failed; the appends were rejected');
    if (this.dirty && this.handle) {
      try {
        await this.io.truncate(this.handle, this.activeBytes);
        this.dirty = false;
      } catch (truncErr) {
        // stays dirty: the next write truncates first, and fails if it still cannot
        this.log.error({ err: truncErr, dataDir: this.dir }, 'audit: cannot cut the file back yet');
      }
    }
    const error = Object.assign(new Error(`The audit log in ${this.dir} cannot be written (${code ?? 'error'}): nothing was recorded.`), { code, cause: err });
    for (const p of failed) p.reject(error);
  }

  close(): Promise<void> {
    if (!this.opened || this.closed) return Promise.resolve();
    this.closed = true; // no new appends; those already queued are written first
    return this.exclusive(async () => {
      while (this.pending.length > 0) await this.writeBatch(this.pending.splice(0));
      // Appends made with { durable: false } are on disk once the log is closed.
      if (this.handle && this.fsync) await this.io.datasync(this.handle);
      await this.handle?.close();
      this.handle = undefined;
      await this.checked.catch(() => undefined);
    });
  }

  rotate(): Promise<string | undefined> {
    if (!this.opened || this.closed) return Promise.reject(new Error('audit log is not open'));
    return this.exclusive(async () => {
      if (this.activeFirstSeq === undefined) return undefined; // nothing in the active file
      const name = rotatedName(this.activeFirstSeq, this.nextSeq - 1);
      if (this.dirty && this.handle) {
        // bytes of a failed write must not become part of an immutable file
        await this.io.truncate(this.handle, this.activeBytes);
        this.dirty = false;
      }
      await this.handle?.close();
      this.handle = undefined;
      await rename(join(this.dir, ACTIVE_FILE), join(this.dir, name));
      if (this.fsync) await fsyncDir(this.dir);
      this.activeBytes = 0;
      this.dirty = false;
      this.activeFirstSeq = undefined;
      this.sparse = []; // a new array: snapshots taken before keep theirs
      this.generation++;
      // the head hash in the service log is an outside copy that makes cutting the chain's end detectable
      this.log.info({ file: name, lastSeq: this.nextSeq - 1, lastHash: this.lastHash }, 'audit: rotated');
      return name;
    });
  }

  applyRetention(days: number): Promise<string[]> {
    if (!this.opened || this.closed) return Promise.reject(new Error('audit log is not open'));
    if (!(days > 0)) return Promise.reject(new Error(`audit retention must be a positive number of days; got ${days}`));
    return this.exclusive(async () => {
      const cutoff = this.now().getTime() - days * 86_400_000;
      const anchor = await readAnchor(this.dir);
      const all = (await listAuditFiles(this.dir)).filter((f) => !f.active);
      const leftovers = anchor ? all.filter((f) => f.lastSeq! <= anchor.seq) : [];
      const rotated = chainFiles(all, anchor?.seq).filter((f) => !f.active);
      const expired: AuditFile[] = [];
      let newAnchor: AuditRecord | undefined;
      // oldest first, and stop at the first file to keep: the chain must stay contiguous
      for (const f of rotated) {
        const last = await this.lastRecordOf(f);
        if (!last || last.seq !== f.lastSeq || Date.parse(last.time) >= cutoff) break;
        expired.push(f);
        newAnchor = last;
      }
      if (newAnchor) {
        // the anchor first: a crash before the deletions leaves files it covers, which are skipped
        writeFileDurably(this.dir, ANCHOR_FILE, JSON.stringify({ seq: newAnchor.seq, hash: newAnchor.hash, updatedAt: this.now().toISOString() }, null, 2) + '\n');
      }
      const gone = [...leftovers, ...expired];
      for (const f of gone) {
        await rm(f.path, { force: true });
        this.fileTimes.delete(f.name);
        this.fileMarks.delete(f.name);
      }
      if (gone.length > 0) {
        if (this.fsync) await fsyncDir(this.dir);
        this.log.info({ deleted: gone.map((f) => f.name), anchorSeq: newAnchor?.seq }, 'audit: retention deleted old files');
      }
      return gone.map((f) => f.name);
    });
  }

  /**
   * Opens the files between two writes, so the view is consistent: no rotation or retention runs
   * meanwhile, and the active file is read only up to what was acknowledged.
   */
  private async snapshot<T>(read: (s: ChainSnapshot, sparse: ReadonlyArray<{ seq: number; offset: number }>) => Promise<T>): Promise<T> {
    let sparse: ReadonlyArray<{ seq: number; offset: number }> = [];
    const open = () => {
      sparse = this.sparse;
      return openChain(this.dir, this.handle ? this.activeBytes : undefined);
    };
    const snap = this.opened && !this.closed ? await this.exclusive(open) : await openChain(this.dir);
    try {
      return await read(snap, sparse);
    } finally {
      await snap.close();
    }
  }

  verify(): Promise<VerifyResult> {
    return this.snapshot((s) => verifyChain(s));
  }

  export(options: ExportOptions, out: NodeJS.WritableStream): Promise<ExportSummary> {
    return this.snapshot((s) => exportChain(s, options, out));
  }

  async query(q: AuditQuery = {}): Promise<AuditPage> {
    const limit = Math.min(Math.max(Math.trunc(q.limit ?? 100), 1), 1000);
    const from = toTime(q.from, 'from');
    const to = toTime(q.to, 'to');
    let below = Number.POSITIVE_INFINITY;
    if (q.cursor !== undefined) {
      below = Number(q.cursor);
      if (!Number.isSafeInteger(below) || below < 1) throw new Error(`audit query: invalid cursor ${JSON.stringify(q.cursor)}`);
    }
    // cheap substring tests on the raw line before parsing: the line is canonical JSON
    const needles: string[] = [];
    if (q.tokenId !== undefined) needles.push(`"id":${JSON.stringify(q.tokenId)}`);
    if (q.actor !== undefined) needles.push(`"id":${JSON.stringify(q.actor)}`);
    if (q.resourceId !== undefined) needles.push(`"id":${JSON.stringify(q.resourceId)}`);
    if (q.connection !== undefined) needles.push(`"connection":${JSON.stringify(q.connection)}`);
    if (q.action !== undefined && !q.action.endsWith('.*')) needles.push(`"action":${JSON.stringify(q.action)}`);
    const actionPrefix = q.action?.endsWith('.*') ? q.action.slice(0, -1) : undefined;
    const match = (r: AuditRecord): boolean => {
      const t = Date.parse(r.time);
      if (from !== undefined && t < from) return false;
      if (to !== undefined && t >= to) return false;
      if (q.tokenId !== undefined && (r.actor.kind !== 'scim-token' || r.actor.id !== q.tokenId)) return false;
      if (q.actor !== undefined && r.actor.id !== q.actor) return false;
      if (q.actorKind !== undefined && r.actor.kind !== q.actorKind) return false;
      if (q.resourceType !== undefined && r.resource?.type !== q.resourceType) return false;
      if (q.resourceId !== undefined && r.resource?.id !== q.resourceId) return false;
      if (q.connection !== undefined && r.connection !== q.connection) return false;
      if (q.result !== undefined && r.result !== q.result) return false;
      if (actionPrefix !== undefined) return r.action.startsWith(actionPrefix);
      if (q.action !== undefined && r.action !== q.action) return false;
      return true;
    };

    return this.snapshot(async (snap, sparse) => {
      const records: AuditRecord[] = [];
      for (const f of [...snap.files].reverse()) {
        if (!f.active) {
          if (f.firstSeq! >= below) continue;
          const range = await this.timesOf(f, f.handle);
          if (range && from !== undefined && range.last < from - CLOCK_SLACK_MS) break; // older files are older still
          if (range && to !== undefined && range.first >= to + CLOCK_SLACK_MS) continue;
        }
        let readUpTo = f.limit;
        if (Number.isFinite(below) && (f.active || below <= f.lastSeq!)) {
          let marks: ReadonlyArray<SeqMark> | undefined = f.active ? sparse : this.fileMarks.get(f.name);
          if (!marks) {
            const built = await buildSparseIndex(f.handle, SPARSE_EVERY);
            this.fileMarks.set(f.name, built);
            marks = built;
          }
          // records from the first marked seq >= below on are all excluded by the cursor
          const mark = marks.find((m) => m.seq >= below);
          if (mark && (readUpTo === undefined || mark.offset < readUpTo)) readUpTo = mark.offset;
        }
        for await (const line of backwardLines(f.handle, readUpTo)) {
          if (!needles.every((n) => line.includes(n))) continue;
          let parsed: unknown;
          try {
            parsed = JSON.parse(line);
          } catch {
            continue; // damage is verify's business; a query shows what can be read
          }
          const res = auditRecordSchema.safeParse(parsed);
          if (!res.success || res.data.seq >= below || !match(res.data)) continue;
          records.push(res.data);
          if (records.length === limit) return { records, nextCursor: String(res.data.seq) };
        }
      }
      return { records };
    });
  }

  /** First and last record time of a rotated file, read once from its two ends. */
  private async timesOf(f: AuditFile, handle: FileHandle): Promise<{ first: number; last: number } | undefined> {
    const cached = this.fileTimes.get(f.name);
    if (cached) return cached;
    let first: number | undefined;
    for await (const l of forwardLines(handle)) {
      const d = auditRecordSchema.safeParse(safeJson(l.text));
      if (d.success) first = Date.parse(d.data.time);
      break;
    }
    const last = await this.lastRecordOf(f, handle);
    if (first === undefined || !last) return undefined;
    const range = { first, last: Date.parse(last.time) };
    this.fileTimes.set(f.name, range);
    return range;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

