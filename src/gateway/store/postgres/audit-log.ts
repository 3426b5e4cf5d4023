/**
 * The audit log in PostgreSQL: one hash chain for every gateway instance on the database
 * (docs/decisions/0013-postgres-store.md). Two steps, as with the file log:
 * 1. A store commit stages its records in `scim_audit_pending` inside its own transaction: all or
 *    nothing with the change, and no lock shared with other commits (they still group-commit).
 * 2. The chainer (whichever instance gets there) moves staged records into `scim_audit` in one
 *    transaction that holds the chain's head row: it assigns seq, time, prevHash and hash, so the
 *    chain has no gap and no fork whichever instances wrote. Commits kick it; a timer catches
 *    what a killed instance staged; every read of the log chains first (read-your-writes).
 * Each row keeps the record's canonical JSON (`line`), exactly what its hash covers, so `verify`
 * recomputes hashes as the file log does.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import {
  AUDIT_ANCHOR_FILE,
  AUDIT_FILE,
  auditRecordSchema,
  canonicalJson,
  CSV_COLUMNS,
  GENESIS_HASH,
  recordHash,
  type AuditDraft,
  type AuditLog,
  type AuditPage,
  type AuditQuery,
  type AuditRecord,
  type ExportOptions,
  type ExportSummary,
  type VerifyResult,
  csvRow,
  prepareDraft,
} from '../../audit/index.js';
import { Database, redactMessage, redactUrl, type PasswordSource } from './connection.js';

export interface AuditLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

/**
 * Stages a commit's prepared drafts (`prepareDraft`) inside its transaction; the chainer hashes
 * them later. Each gets the commit's seq as `storeSeq` from the transaction's `scim.seq` setting
 * (set with BEGIN), so staging need not wait for BEGIN's answer.
 */
export async function stageInTransaction(client: pg.ClientBase, drafts: readonly AuditDraft[]): Promise<void> {
  if (drafts.length === 0) return;
  await client.query({
    name: 'scim-stage-audit',
    text: `INSERT INTO scim_audit_pending (draft)
           SELECT jsonb_set(d, '{storeSeq}', to_jsonb(current_setting('scim.seq')::bigint)) FROM unnest($1::jsonb[]) WITH ORDINALITY AS u(d, i) ORDER BY u.i`,
    values: [drafts.map((d) => JSON.stringify(d))],
  });
}

/**
 * Chains staged records and then `extra` drafts, in one transaction of the caller's. `SELECT ...
 * FOR UPDATE` on the head row waits for another chainer and then returns the head as that one
 * committed it (READ COMMITTED re-reads a row it waited for); the row stays locked until commit.
 * Returns the records made from `extra`.
 */
async function chainInTransaction(client: pg.ClientBase, time: string, extra: readonly AuditDraft[] = [], batch = 2000): Promise<{ records: AuditRecord[]; chained: number }> {
  const head = await client.query<{ seq: string; hash: string }>('SELECT seq::text AS seq, hash FROM scim_audit_head WHERE id = 1 FOR UPDATE');
  let seq = Number(head.rows[0].seq) + 1;
  let prevHash = head.rows[0].hash;
  const staged = await client.query<{ draft: AuditDraft }>(
    `DELETE FROM scim_audit_pending WHERE id IN (SELECT id FROM scim_audit_pending ORDER BY id LIMIT $1) RETURNING id, draft`,
    [batch],
  );
  const drafts = [...(staged.rows as Array<{ id: string; draft: AuditDraft }>).sort((a, b) => Number(a.id) - Number(b.id)).map((r) => r.draft), ...extra];
  if (drafts.length === 0) return { records: [], chained: 0 };
  const records: AuditRecord[] = [];
  for (const d of drafts) {
    const base = { ...d, seq, time, prevHash };
    const record: AuditRecord = { ...base, hash: recordHash(base) };
    records.push(record);
    prevHash = record.hash;
    seq++;
  }
  const last = records[records.length - 1];
  await client.query(
    `WITH added AS (
       INSERT INTO scim_audit (seq, time, line, hash, store_seq, connection, action, actor_kind, actor_id, resource_type, resource_id, result)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
     )
     UPDATE scim_audit_head SET seq = $13, hash = $14 WHERE id = 1`,
    [
      records.map((r) => r.seq),
      records.map((r) => r.time),
      records.map((r) => canonicalJson(r)),
      records.map((r) => r.hash),
      records.map((r) => r.storeSeq ?? null),
      records.map((r) => r.connection ?? null),
      records.map((r) => r.action),
      records.map((r) => r.actor.kind),
      records.map((r) => r.actor.id),
      records.map((r) => r.resource?.type ?? null),
      records.map((r) => r.resource?.id ?? null),
      records.map((r) => r.result),
      last.seq,
      last.hash,
    ],
  );
  return { records: records.slice(records.length - extra.length), chained: staged.rows.length };
}

/** Checks one stored line on its own: valid record, canonical, hash matching. */
function decodeLine(line: string): { ok: true; record: AuditRecord } | { ok: false; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'not valid JSON' };
  }
  const res = auditRecordSchema.safeParse(parsed);
  if (!res.success) return { ok: false, reason: `not an audit record (${res.error.issues[0].path.join('.') || 'record'}: ${res.error.issues[0].message})` };
  // over what was stored, not zod's output: an added key must count
  if (recordHash(parsed as AuditRecord) !== res.data.hash) return { ok: false, reason: 'hash mismatch: the record was edited after it was written' };
  return { ok: true, record: res.data };
}

const PAGE = 2000;

/** The AuditLog of a PostgreSQL store (the console, the jobs and `verify` use it like the file log). */
export class PostgresAuditLog implements AuditLog {
  private lostRecords = 0;
  private checked?: Promise<VerifyResult>;
  private chaining?: Promise<void>;
  private again = false;

  constructor(
    private readonly pool: () => Database,
    private readonly log: AuditLogger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Nothing to open: the store owns the connection pool and the schema. */
  async open(): Promise<void> {}
  async close(): Promise<void> {
    await this.chaining;
    await this.checked?.catch(() => undefined);
  }

  /** Records without a store commit (refusals, logins): chained at once, after what is staged. */
  async append(drafts: AuditDraft[], options: { durable?: boolean; prepared?: boolean } = {}): Promise<AuditRecord[]> {
    try {
      const clean = options.prepared ? drafts : drafts.map(prepareDraft);
      if (clean.length === 0) return [];
      return await this.inTransaction(async (client) => {
        const out = await chainInTransaction(client, this.now().toISOString(), clean, 1_000_000);
        return out.records;
      });
    } catch (err) {
      if (options.durable !== false) this.lostRecords += drafts.length;
      throw err;
    }
  }

  recordsLost(): number {
    return this.lostRecords;
  }

  private inTransaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.pool().transaction(fn);
  }

  /** Long maintenance (retention, a whole-chain read): its own connection, with no statement timeout. */
  private async unbounded<T>(fn: (db: Database) => Promise<T>): Promise<T> {
    const db = this.pool().fork({ max: 1, applicationName: 'scim-bridge audit maintenance', timeoutMs: 0 });
    try {
      return await fn(db);
    } finally {
      await db.end();
    }
  }

  /** Chains everything staged so far (whoever staged it); resolves once it is in the chain. */
  async sync(): Promise<void> {
    for (;;) {
      const { chained } = await this.inTransaction((client) => chainInTransaction(client, this.now().toISOString()));
      if (chained === 0) return;
    }
  }

  /** A kick when records are staged (a cheap look, no lock): the timer that covers killed instances. */
  async kickIfPending(): Promise<void> {
    try {
      const r = await this.pool().query('SELECT 1 FROM scim_audit_pending LIMIT 1');
      if (r.rowCount) this.kick();
    } catch {
      /* the store is closing or the database is away: the next tick looks again */
    }
  }

  /** Asks for a chaining pass soon (after a commit that staged records); never throws. */
  kick(): void {
    if (this.chaining) {
      this.again = true;
      return;
    }
    this.chaining = (async () => {
      do {
        this.again = false;
        try {
          await this.sync();
        } catch (err) {
          this.log.error({ err: (err as Error).message }, 'audit: could not chain staged records; they stay staged and are chained on the next attempt');
          return;
        }
      } while (this.again);
    })().finally(() => {
      this.chaining = undefined;
    });
  }

  /** Unused with PostgreSQL: commits write their records themselves, there is nothing to replay. */
  lastStoreSeq(): number {
    return 0;
  }

  startupCheck(): Promise<VerifyResult> {
    this.checked ??= this.verify().then((r) => {
      if (!r.ok) this.log.error({ seq: r.seq, reason: r.reason }, 'AUDIT LOG DAMAGED: a record in scim_audit was altered or removed; run `scim-bridge audit verify`');
      return r;
    });
    return this.checked;
  }

  async query(q: AuditQuery = {}): Promise<AuditPage> {
    await this.sync(); // what was committed is in the answer
    const limit = Math.min(Math.max(Math.trunc(q.limit ?? 100), 1), 1000);
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const time = (v: Date | string, name: string): string => {
      const t = v instanceof Date ? v.getTime() : Date.parse(v);
      if (Number.isNaN(t)) throw new Error(`audit query: ${name} is not a date: ${String(v)}`);
      return new Date(t).toISOString();
    };
    if (q.cursor !== undefined) {
      const below = Number(q.cursor);
      if (!Number.isSafeInteger(below) || below < 1) throw new Error(`audit query: invalid cursor ${JSON.stringify(q.cursor)}`);
      where.push(`seq < ${add(below)}`);
    }
    if (q.from !== undefined) where.push(`time COLLATE "C" >= ${add(time(q.from, 'from'))}`);
    if (q.to !== undefined) where.push(`time COLLATE "C" < ${add(time(q.to, 'to'))}`);
    if (q.tokenId !== undefined) where.push(`actor_kind = 'scim-token' AND actor_id = ${add(q.tokenId)}`);
    if (q.actor !== undefined) where.push(`actor_id = ${add(q.actor)}`);
    if (q.actorKind !== undefined) where.push(`actor_kind = ${add(q.actorKind)}`);
    if (q.resourceType !== undefined) where.push(`resource_type = ${add(q.resourceType)}`);
    if (q.resourceId !== undefined) where.push(`resource_id = ${add(q.resourceId)}`);
    if (q.connection !== undefined) where.push(`connection = ${add(q.connection)}`);
    if (q.result !== undefined) where.push(`result = ${add(q.result)}`);
    if (q.action !== undefined) where.push(q.action.endsWith('.*') ? `starts_with(action, ${add(q.action.slice(0, -1))})` : `action = ${add(q.action)}`);
    const sql = `SELECT line FROM scim_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${add(limit)}`;
    const rows = (await this.pool().query<{ line: string }>(sql, params)).rows;
    const records: AuditRecord[] = [];
    for (const row of rows) {
      const res = auditRecordSchema.safeParse(JSON.parse(row.line));
      if (res.success) records.push(res.data); // damage is verify's business; a query shows what can be read
    }
    const last = records.at(-1);
    return rows.length === limit && last ? { records, nextCursor: String(last.seq) } : { records };
  }

  /** Rows oldest first, in pages, from a consistent snapshot. */
  private async *lines(options: { since?: string; until?: string } = {}): AsyncGenerator<{ seq: number; line: string }> {
    const db = this.pool().fork({ max: 1, applicationName: 'scim-bridge audit read', timeoutMs: 0 });
    const client = await db.connect().catch(async (err: unknown) => {
      await db.end();
      throw err;
    });
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      let after = 0;
      for (;;) {
        const params: unknown[] = [after, PAGE];
        let extra = '';
        if (options.since) extra += ` AND time COLLATE "C" >= $${params.push(options.since)}`;
        if (options.until) extra += ` AND time COLLATE "C" < $${params.push(options.until)}`;
        const rows = (await client.query<{ seq: string; line: string }>(`SELECT a.seq::text AS seq, a.line FROM scim_audit a WHERE a.seq > $1${extra} ORDER BY a.seq LIMIT $2`, params)).rows;
        for (const r of rows) yield { seq: Number(r.seq), line: r.line };
        if (rows.length < PAGE) break;
        after = Number(rows[rows.length - 1].seq);
      }
      await client.query('COMMIT');
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release(true);
      await db.end();
    }
  }

  /**
   * Writes the chain as the files of a data directory (`audit.jsonl`, `audit-anchor.json`), byte
   * for byte, so the file tools (`scim-bridge audit verify|export`) check and export the database's log.
   */
  async writeChainFiles(dir: string): Promise<{ records: number }> {
    await this.sync();
    const anchor = (await this.pool().query<{ seq: string; hash: string; updated_at: string }>('SELECT seq::text AS seq, hash, updated_at FROM scim_audit_anchor')).rows[0];
    if (anchor) await writeFile(join(dir, AUDIT_ANCHOR_FILE), JSON.stringify({ seq: Number(anchor.seq), hash: anchor.hash, updatedAt: anchor.updated_at }, null, 2) + '\n', { mode: 0o600 });
    const out = createWriteStream(join(dir, AUDIT_FILE), { mode: 0o600 });
    let records = 0;
    let batch = '';
    for await (const { line } of this.lines()) {
      batch += line + '\n';
      records++;
      if (batch.length >= 64 * 1024) {
        if (!out.write(batch)) await once(out, 'drain');
        batch = '';
      }
    }
    out.end(batch);
    await finished(out);
    return { records };
  }

  async export(options: ExportOptions, out: NodeJS.WritableStream): Promise<ExportSummary> {
    await this.sync();
    const summary: ExportSummary = { records: 0, skipped: 0 };
    const write = async (text: string) => {
      if (!out.write(text)) await once(out, 'drain');
    };
    if (options.format === 'csv') await write(CSV_COLUMNS.join(',') + '\r\n');
    let batch = '';
    for await (const { line } of this.lines({ since: options.since?.toISOString(), until: options.until?.toISOString() })) {
      let record: AuditRecord;
      try {
        record = auditRecordSchema.parse(JSON.parse(line));
      } catch {
        summary.skipped++;
        continue;
      }
      batch += options.format === 'csv' ? csvRow(record) : line + '\n';
      summary.records++;
      if (batch.length >= 64 * 1024) {
        await write(batch);
        batch = '';
      }
    }
    if (batch) await write(batch);
    return summary;
  }

  async verify(): Promise<VerifyResult> {
    await this.sync();
    const anchor = (await this.pool().query<{ seq: string; hash: string }>('SELECT seq::text, hash FROM scim_audit_anchor')).rows[0];
    let expectedSeq = anchor ? Number(anchor.seq) + 1 : 1;
    let prevHash = anchor?.hash ?? GENESIS_HASH;
    let records = 0;
    for await (const { seq, line } of this.lines()) {
      const fail = (reason: string): VerifyResult => ({ ok: false, file: 'scim_audit', line: seq, seq, reason });
      const d = decodeLine(line);
      if (!d.ok) return fail(d.reason);
      const r = d.record;
      if (r.seq !== seq) return fail(`the row's seq ${seq} differs from its record's seq ${r.seq}`);
      if (canonicalJson(JSON.parse(line)) !== line) return fail('the stored line is not the canonical form of its record');
      if (r.seq > expectedSeq) return fail(`seq ${r.seq} follows seq ${expectedSeq - 1}: ${r.seq - expectedSeq} record(s) before it were removed`);
      if (r.prevHash !== prevHash) return fail('prevHash is not the hash of the previous record: the previous record was edited, or records were removed');
      prevHash = r.hash;
      expectedSeq = r.seq + 1;
      records++;
    }
    return { ok: true, records };
  }

  /** A table needs no rotation: retention deletes rows. */
  async rotate(): Promise<string | undefined> {
    return undefined;
  }

  /** Deletes the oldest records older than `days` (a contiguous prefix of the chain) and moves the anchor to the last one deleted. */
  async applyRetention(days: number): Promise<string[]> {
    if (!(days > 0)) throw new Error(`audit retention must be a positive number of days; got ${days}`);
    const cutoff = new Date(this.now().getTime() - days * 86_400_000).toISOString();
    const deleted = await this.unbounded((db) =>
      db.transaction(async (client) => {
        await client.query('SELECT 1 FROM scim_audit_head WHERE id = 1 FOR UPDATE'); // no append meanwhile
        // the prefix ends before the first record that is young enough (clock steps back keep it contiguous)
        const last = await client.query<{ seq: string; hash: string }>(
          `SELECT a.seq::text AS seq, a.hash FROM scim_audit a
            WHERE a.seq < coalesce((SELECT min(seq) FROM scim_audit WHERE time COLLATE "C" >= $1), (SELECT max(seq) + 1 FROM scim_audit))
            ORDER BY a.seq DESC LIMIT 1`,
          [cutoff],
        );
        const anchor = last.rows[0];
        if (!anchor) return undefined;
        const gone = await client.query('DELETE FROM scim_audit WHERE seq <= $1', [anchor.seq]);
        await client.query(
          `INSERT INTO scim_audit_anchor (id, seq, hash, updated_at) VALUES (1, $1, $2, $3)
           ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, updated_at = EXCLUDED.updated_at`,
          [anchor.seq, anchor.hash, this.now().toISOString()],
        );
        return { rows: gone.rowCount, anchorSeq: anchor.seq };
      }),
    );
    if (!deleted) return [];
    this.log.info({ deleted: deleted.rows, anchorSeq: Number(deleted.anchorSeq) }, 'audit: retention deleted old records');
    return [`scim_audit records up to seq ${deleted.anchorSeq}`];
  }
}

/** Copies the database's audit chain into `dir` as audit files (for `scim-bridge audit verify|export`). */
export async function writePostgresAuditFiles(options: { url: string; password?: PasswordSource }, dir: string): Promise<{ records: number }> {
  let db: Database;
  try {
    db = await Database.open({ url: options.url, password: options.password, max: 2, applicationName: 'scim-bridge audit' });
  } catch (err) {
    throw new Error(`The database ${redactUrl(options.url)} cannot be used: ${redactMessage((err as Error).message, options.url)}`);
  }
  const quiet = { info() {}, warn() {}, error() {} };
  try {
    return await new PostgresAuditLog(() => db, quiet).writeChainFiles(dir);
  } catch (err) {
    throw new Error(`Cannot read the audit log in ${redactUrl(options.url)}: ${redactMessage((err as Error).message, options.url)}`);
  } finally {
    await db.end();
  }
}
