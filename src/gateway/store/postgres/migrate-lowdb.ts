/**
 * `scim-bridge migrate --from lowdb --to postgres`: moves an embedded store into an empty
 * PostgreSQL database in one transaction: users, groups (creation order, versions, timestamps),
 * memberships (in order), tombstones, the outbox (in order, attempts and all), target links and
 * the audit chain (records kept byte for byte, so it verifies and continues in the database).
 * It holds the data directory's lock throughout, so it refuses to run beside a gateway and no
 * gateway starts on the directory meanwhile; it refuses a database that already holds data, so
 * running it twice cannot duplicate anything. The lowdb store keeps its data (a way back).
 */
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type pg from 'pg';
import { auditRecordSchema, AUDIT_ANCHOR_FILE, exportAuditLog, verifyAuditLog, type AuditRecord } from '../../audit/index.js';
import { LowdbStore } from '../lowdb-store.js';
import { SNAPSHOT_FILE, type SnapshotData } from '../snapshot.js';
import type { Member, StoredResource } from '../types.js';
import { Database, redactMessage, redactUrl, type PasswordSource } from './connection.js';
import { migrate } from './migrations.js';
import { keysOf } from './postgres-store.js';

export interface MigrateOptions {
  dataDir: string;
  url: string;
  password?: PasswordSource;
}

/** What was moved; `verified` compares the database's counts with the source's. */
export interface MigrationReport {
  users: number;
  groups: number;
  members: number;
  tombstones: number;
  outbox: number;
  links: number;
  auditRecords: number;
  database: string;
}

const TABLES = ['scim_resources', 'scim_tombstones', 'scim_outbox', 'scim_links', 'scim_audit'] as const;

async function auditLines(dataDir: string): Promise<string[]> {
  const lines: string[] = [];
  let rest = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const text = rest + chunk.toString('utf8');
      const parts = text.split('\n');
      rest = parts.pop()!;
      for (const p of parts) if (p) lines.push(p);
      done();
    },
  });
  const summary = await exportAuditLog(dataDir, { format: 'jsonl' }, sink);
  sink.end();
  await once(sink, 'finish');
  if (summary.skipped > 0) throw new Error(`${summary.skipped} audit record(s) in ${dataDir} cannot be read; run \`scim-bridge audit verify\` first.`);
  return lines;
}

async function insertResources(client: pg.ClientBase, table: 'scim_resources' | 'scim_tombstones', list: StoredResource[]): Promise<void> {
  for (let i = 0; i < list.length; i += 2000) {
    const batch = list.slice(i, i + 2000);
    const keys = batch.map((r) => keysOf(r.type, r.data));
    const live = table === 'scim_resources';
    await client.query(
      `INSERT INTO ${table} (connection, id, type, data, version, created, last_modified, member_count${live ? ', user_name_key, external_id, display_name_key, email_keys' : ''})
       SELECT u.connection, u.id, u.type, u.data, u.version, u.created, u.last_modified, u.member_count${live ? ', u.user_name_key, u.external_id, u.display_name_key, ARRAY(SELECT jsonb_array_elements_text(u.emails))' : ''}
         FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::int[], $6::text[], $7::text[], $8::int[], $9::text[], $10::text[], $11::text[], $12::jsonb[])
           WITH ORDINALITY AS u(connection, id, type, data, version, created, last_modified, member_count, user_name_key, external_id, display_name_key, emails, i)
        ORDER BY u.i`,
      [
        batch.map((r) => r.connection),
        batch.map((r) => r.id),
        batch.map((r) => r.type),
        batch.map((r) => JSON.stringify(r.data)),
        batch.map((r) => r.version),
        batch.map((r) => r.created),
        batch.map((r) => r.lastModified),
        batch.map((r) => (r.type === 'Group' ? (r.memberCount ?? 0) : null)),
        keys.map((k) => k.userName),
        keys.map((k) => k.externalId),
        keys.map((k) => k.displayName),
        keys.map((k) => JSON.stringify(k.emails)),
      ],
    );
  }
}

/** Moves the lowdb store of `dataDir` into the (empty) database; see the file comment. */
export async function migrateLowdbToPostgres(options: MigrateOptions): Promise<MigrationReport> {
  const database = redactUrl(options.url);
  const quiet = { info() {}, warn() {}, error() {} };
  const source = new LowdbStore({ dataDir: options.dataDir, logger: quiet });
  try {
    await source.open(); // takes the data directory's lock for the whole migration
  } catch (err) {
    if ((err as Error).name === 'StoreLockedError') throw new Error(`Stop the gateway before migrating: ${(err as Error).message}`);
    throw err;
  }
  const tmp = await mkdtemp(join(tmpdir(), 'scim-bridge-migrate-'));
  let pool: Database | undefined;
  try {
    // The backup is the store's own consistent copy of everything, links and outbox included.
    await source.backup(tmp);
    const snap = JSON.parse(await readFile(join(tmp, SNAPSHOT_FILE), 'utf8')) as SnapshotData;
    const audit = await verifyAuditLog(options.dataDir);
    if (!audit.ok) throw new Error(`The audit log in ${options.dataDir} does not verify (${audit.file} line ${audit.line}: ${audit.reason}); nothing was migrated. Restore it from a backup first.`);
    const lines = await auditLines(options.dataDir);
    let anchor: { seq: number; hash: string } | undefined;
    try {
      anchor = JSON.parse(await readFile(join(options.dataDir, AUDIT_ANCHOR_FILE), 'utf8')) as { seq: number; hash: string };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }

    try {
      // one transaction copies everything: no statement timeout
      pool = await Database.open({ url: options.url, password: options.password, max: 1, applicationName: 'scim-bridge migrate', timeoutMs: 0 });
    } catch (err) {
      throw new Error(`The database ${database} cannot be used: ${redactMessage((err as Error).message, options.url)}`);
    }
    const client = await pool.connect().catch((err: Error) => {
      throw new Error(`Cannot connect to ${database}: ${redactMessage(err.message, options.url)}`);
    });
    try {
      await migrate(client);
      const counts = await client.query<Record<string, number>>(`SELECT ${TABLES.map((t) => `(SELECT count(*)::int FROM ${t}) AS ${t}`).join(', ')}`);
      const held = Object.entries(counts.rows[0]).filter(([, v]) => v > 0);
      if (held.length > 0) {
        throw new Error(
          `The database ${database} already holds data (${held.map(([t, v]) => `${v} rows in ${t}`).join(', ')}): migrate only into an empty database. If an earlier migration completed, the gateway can use it as it is; to start over, drop and recreate the database.`,
        );
      }
      const users: StoredResource[] = [];
      const groups: StoredResource[] = [];
      const tombstones: StoredResource[] = [];
      const members: Array<{ connection: string; groupId: string; member: Member }> = [];
      for (const [name, conn] of Object.entries(snap.connections)) {
        users.push(...conn.users.map((r) => ({ ...r, connection: name })));
        groups.push(...conn.groups.map((r) => ({ ...r, connection: name })));
        tombstones.push(...(conn.deleted ?? []).map((r) => ({ ...r, connection: name })));
        for (const [groupId, list] of Object.entries(conn.members)) for (const member of list) members.push({ connection: name, groupId, member });
      }
      const records = lines.map((l) => ({ line: l, record: auditRecordSchema.parse(JSON.parse(l)) as AuditRecord }));
      const maxStoreSeq = Math.max(snap.seq, 0, ...records.map((r) => r.record.storeSeq ?? 0));

      await client.query('BEGIN');
      await insertResources(client, 'scim_resources', users);
      await insertResources(client, 'scim_resources', groups);
      await insertResources(client, 'scim_tombstones', tombstones);
      for (let i = 0; i < members.length; i += 5000) {
        const batch = members.slice(i, i + 5000);
        await client.query(
          `INSERT INTO scim_members (connection, group_id, member_id, member_type, display)
           SELECT u.c, u.g, u.m, u.t, u.d FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u(c, g, m, t, d, i) ORDER BY u.i`,
          [batch.map((m) => m.connection), batch.map((m) => m.groupId), batch.map((m) => m.member.value), batch.map((m) => m.member.type ?? 'User'), batch.map((m) => m.member.display ?? null)],
        );
      }
      for (const e of snap.outbox ?? []) {
        await client.query(
          `INSERT INTO scim_outbox (id, connection, connector, resource_type, resource_id, kind, payload, created_at, attempts, next_attempt_at, state, last_error, claim_checked)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
          [e.id, e.connection, e.connector, e.resourceType, e.resourceId, e.kind, e.payload ?? {}, e.createdAt, e.attempts, e.nextAttemptAt, e.state, e.lastError ?? null, e.claimChecked === true],
        );
      }
      for (const [key, target] of snap.links ?? []) {
        const sep = key.indexOf('\u0000');
        await client.query('INSERT INTO scim_links (connector, resource_id, target_key, key_lower) VALUES ($1, $2, $3, $4)', [key.slice(0, sep), key.slice(sep + 1), target, target.toLowerCase()]);
      }
      for (let i = 0; i < records.length; i += 2000) {
        const batch = records.slice(i, i + 2000);
        await client.query(
          `INSERT INTO scim_audit (seq, time, line, hash, store_seq, connection, action, actor_kind, actor_id, resource_type, resource_id, result)
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])`,
          [
            batch.map((r) => r.record.seq),
            batch.map((r) => r.record.time),
            batch.map((r) => r.line),
            batch.map((r) => r.record.hash),
            batch.map((r) => r.record.storeSeq ?? null),
            batch.map((r) => r.record.connection ?? null),
            batch.map((r) => r.record.action),
            batch.map((r) => r.record.actor.kind),
            batch.map((r) => r.record.actor.id),
            batch.map((r) => r.record.resource?.type ?? null),
            batch.map((r) => r.record.resource?.id ?? null),
            batch.map((r) => r.record.result),
          ],
        );
      }
      if (anchor) await client.query('INSERT INTO scim_audit_anchor (id, seq, hash, updated_at) VALUES (1, $1, $2, $3)', [anchor.seq, anchor.hash, new Date().toISOString()]);
      const head = records.at(-1)?.record ?? anchor;
      if (head) await client.query('UPDATE scim_audit_head SET seq = $1, hash = $2 WHERE id = 1', [head.seq, head.hash]);
      // later commits' seqs (and audit storeSeq) continue above the embedded store's
      if (maxStoreSeq > 0) await client.query("SELECT setval('scim_commit_seq', $1)", [maxStoreSeq]);

      // Verify before committing: the database holds exactly what the source held.
      const got = (
        await client.query<{ users: number; groups: number; members: number; tombstones: number; outbox: number; links: number; audit: number }>(
          `SELECT (SELECT count(*)::int FROM scim_resources WHERE type = 'User') AS users, (SELECT count(*)::int FROM scim_resources WHERE type = 'Group') AS groups,
                  (SELECT count(*)::int FROM scim_members) AS members, (SELECT count(*)::int FROM scim_tombstones) AS tombstones,
                  (SELECT count(*)::int FROM scim_outbox) AS outbox, (SELECT count(*)::int FROM scim_links) AS links, (SELECT count(*)::int FROM scim_audit) AS audit`,
        )
      ).rows[0];
      const want = { users: users.length, groups: groups.length, members: members.length, tombstones: tombstones.length, outbox: snap.outbox?.length ?? 0, links: snap.links?.length ?? 0, audit: records.length };
      const differ = (Object.keys(want) as Array<keyof typeof want>).filter((k) => got[k] !== want[k]);
      if (differ.length > 0) throw new Error(`The counts do not match after copying (${differ.map((k) => `${k}: ${got[k]} in the database, ${want[k]} in ${options.dataDir}`).join('; ')}); nothing was migrated.`);
      await client.query('COMMIT');
      await client.query('ANALYZE scim_resources, scim_members, scim_tombstones, scim_outbox, scim_links, scim_audit');
      return { users: want.users, groups: want.groups, members: want.members, tombstones: want.tombstones, outbox: want.outbox, links: want.links, auditRecords: want.audit, database };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new Error(redactMessage((err as Error).message, options.url));
    } finally {
      client.release();
    }
  } finally {
    await pool?.end();
    await rm(tmp, { recursive: true, force: true });
    await source.close();
  }
}
