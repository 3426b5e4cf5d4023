/**
 * `scim-bridge migrate --from lowdb --to postgres`: an install with users, groups, memberships,
 * a soft-deleted user, an outbox entry, a target link and an audit log moves into PostgreSQL with
 * versions and order intact; the audit chain verifies and continues there; the command refuses
 * to run beside a gateway, refuses a database that already holds data, and never prints the
 * database password; with store postgres, backup copies the database and restore points to pg_restore.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLowdbStore, createPostgresStore } from '../../src/gateway/store/index.js';
import { dump } from '../fixtures/store/helpers.js';
import { runCli } from '../helpers/cli.js';
import { GROUP_SCHEMA, PATCH_OP, startTestGateway, user } from '../helpers/gateway.js';
import { startPostgres, type PostgresServer } from '../servers/postgres.js';

let pg: PostgresServer;
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pg?.close();
});

describe('migrate --from lowdb --to postgres', () => {
  it('moves everything, verifies, refuses to run twice or beside a gateway', { timeout: 90_000 }, async () => {
    // An install with history, on the embedded store.
    const gw = await startTestGateway({ store: 'lowdb' });
    const dataDir = gw.dataDir;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await gw.client.post('/Users', user(`user${i}@example.com`, { title: `t${i}`, emails: [{ value: `User${i}@Example.com`, type: 'work' }] }))).body.id);
    await gw.client.patch(`/Users/${ids[1]}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'changed' }] });
    const group = (await gw.client.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Staff', members: [{ value: ids[3] }, { value: ids[0] }, { value: ids[1] }] })).body.id;
    expect((await gw.client.delete(`/Users/${ids[4]}`)).status).toBe(204); // soft by default: a tombstone

    // Beside a running gateway: refused, nothing touched.
    const busy = runCli(['migrate', '--from', 'lowdb', '--to', 'postgres', '--data-dir', dataDir, '--database-url', pg.url]);
    expect(busy.status).toBe(1);
    expect(busy.stderr).toMatch(/Stop the gateway before migrating/);
    expect(busy.stderr).not.toContain(pg.password);
    await gw.gateway.stop();

    // An undelivered operation and a target link, as a connector would have left them.
    const lowdb = createLowdbStore({ dataDir });
    await lowdb.open();
    await lowdb.commit({
      changes: [
        { op: 'outbox.add', entry: { id: 'op-1', connection: 'default', connector: 'ldap-1', resourceType: 'User', resourceId: ids[2], kind: 'updateUser', payload: { resource: { userName: 'user2@example.com' } }, createdAt: new Date().toISOString(), attempts: 3, nextAttemptAt: new Date().toISOString(), state: 'pending', lastError: 'ECONNREFUSED' } },
        { op: 'link', connector: 'ldap-1', resourceId: ids[0], key: 'uid=user0,ou=people,dc=example,dc=com' },
      ],
    });
    const before = await dump(lowdb, 'default');
    const outboxBefore = await lowdb.outboxList();
    await lowdb.close();

    const url = await pg.createDatabase('migrated');
    const done = runCli(['migrate', '--from', 'lowdb', '--to', 'postgres', '--data-dir', dataDir, '--database-url', url]);
    expect(done.stderr).toBe('');
    expect(done.status).toBe(0);
    expect(done.stdout).toMatch(/4 users, 1 groups, 3 memberships, 1 deleted users kept, 1 outbox entries, 1 target links, \d+ audit records/);
    expect(done.stdout).not.toContain(pg.password);

    const store = createPostgresStore({ url });
    await store.open();
    try {
      expect(await dump(store, 'default')).toEqual(before);
      expect((await store.get('default', 'User', ids[1]))!.version).toBe(2);
      expect((await store.members('default', group)).map((m) => m.value)).toEqual([ids[3], ids[0], ids[1]]);
      expect((await store.findOne('default', 'User', 'email', 'user3@example.com'))?.id).toBe(ids[3]);
      expect((await store.deleted('default', 'User')).map((r) => r.id)).toEqual([ids[4]]);
      expect(await store.outboxList()).toEqual(outboxBefore);
      expect(await store.linkOf('ldap-1', ids[0])).toBe('uid=user0,ou=people,dc=example,dc=com');
      const verified = await store.auditLog.verify();
      expect(verified).toMatchObject({ ok: true });
      const migratedRecords = (verified as { records: number }).records;
      expect(migratedRecords).toBeGreaterThanOrEqual(8);
      // the chain continues in the database, and commit seqs continue above the old journal's
      const r = await store.commit({ changes: [{ op: 'create', type: 'User', connection: 'default', id: 'after', data: user('after@example.com') }, { op: 'audit', records: [{ actor: { kind: 'system', id: 'test' }, action: 'user.create', result: 'success' }] }] });
      const last = (await store.auditLog.query({ limit: 1 })).records[0];
      expect(last.storeSeq).toBe(r.seq);
      expect(last.seq).toBe(migratedRecords + 1);
      expect(await store.auditLog.verify()).toEqual({ ok: true, records: migratedRecords + 1 });
    } finally {
      await store.close();
    }

    // The audit commands read the database's chain when the store is postgres.
    const pgEnv = { SCIM_BRIDGE_STORE: 'postgres', SCIM_BRIDGE_DATABASE_URL: url, SCIM_BRIDGE_SECRETS_BACKEND: 'file' };
    const verify = runCli(['audit', 'verify', '--data-dir', dataDir], pgEnv);
    expect(verify.stdout).toMatch(/^OK: \d+ records, chain intact/);
    const records = Number(/OK: (\d+)/.exec(verify.stdout)![1]);
    expect(records).toBeGreaterThanOrEqual(9);
    const csv = runCli(['audit', 'export', '--format', 'csv', '--data-dir', dataDir], pgEnv);
    expect(csv.status).toBe(0);
    expect(csv.stdout.trim().split('\r\n')).toHaveLength(records + 1);
    await pg.admin(`UPDATE scim_audit SET line = replace(line, '"result":"success"', '"result":"failure"') WHERE seq = 2`, [], 'migrated');
    const broken = runCli(['audit', 'verify', '--data-dir', dataDir], pgEnv);
    expect(broken.status).toBe(1);
    expect(broken.stdout).toMatch(/BROKEN: .*seq 2.*hash mismatch/);

    // backup with store postgres copies the database (as a db.json); restore points elsewhere
    const backupDir = join(dataDir, 'pg-backup');
    const backup = runCli(['backup', '--data-dir', dataDir, '--to', backupDir], pgEnv);
    expect(backup.stdout).toMatch(/Backed up 5 users and 1 groups/);
    const restore = runCli(['restore', '--from', backupDir, '--data-dir', dataDir], pgEnv);
    expect(restore.status).toBe(2);
    expect(restore.stderr).toMatch(/pg_restore/);

    // Twice: refused, the database is not touched.
    const again = runCli(['migrate', '--from', 'lowdb', '--to', 'postgres', '--data-dir', dataDir, '--database-url', url]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already holds data .*migrate only into an empty database/);
    expect(again.stderr).not.toContain(pg.password);
    rmSync(dataDir, { recursive: true, force: true });
  });
});
