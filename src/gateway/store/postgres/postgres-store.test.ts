/**
 * What only the PostgreSQL store has: several instances on one database (outbox leases, one
 * audit chain, version races), migrations run once, the bounded in-memory fallback, backups that
 * open as a lowdb store, and database URLs that never show their password.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseFilter } from '../../scim/filter/index.js';
import { cleanupDirs, dump, openStore, tempDir, user, userResolver } from '../../../../test/fixtures/store/helpers.js';
import { startPostgres, type PostgresServer } from '../../../../test/servers/postgres.js';
import { createUser, outboxEntry, scimError } from '../contract.test-suite.js';
import { createPostgresStore, redactDatabaseUrl, type PostgresStore, type PostgresStoreOptions } from '../index.js';

const NOW = '2030-01-01T00:00:00.000Z';
let pg: PostgresServer;
let n = 0;
const open: PostgresStore[] = [];

beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  await cleanupDirs();
});
afterAll(async () => {
  await pg?.close();
});

async function database(): Promise<string> {
  return pg.createDatabase(`pgstore_${++n}`);
}

async function store(url: string, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  const s = createPostgresStore({ url, poolSize: 4, ...options });
  await s.open();
  open.push(s);
  return s;
}

describe('several instances on one database', () => {
  it('migrations run once however many instances start together', async () => {
    const url = await database();
    await Promise.all([store(url), store(url), store(url)]);
    const rows = await pg.admin<{ version: number }>('SELECT version FROM schema_migrations', [], `pgstore_${n}`);
    expect(rows.map((r) => r.version)).toEqual([1, 2]);
  });

  it('an outbox entry is leased to one instance; the rest of its resource waits; a closed instance hands its leases back', async () => {
    const url = await database();
    const a = await store(url, { instanceId: 'a' });
    const b = await store(url, { instanceId: 'b' });
    await a.commit({ changes: [outboxEntry('x1', 'u1'), outboxEntry('x2', 'u1'), outboxEntry('y1', 'u2')].map((entry) => ({ op: 'outbox.add' as const, entry })) });
    expect((await a.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['x1', 'y1']);
    expect(await b.outboxDue(NOW, 10)).toEqual([]); // x2 is behind x1, which a holds
    expect(await a.outboxDue(NOW, 10)).toEqual([]); // held by a: never claimed twice, not even by a
    // a delivered x1: x2 is the head now, free for anyone
    await a.commit({ changes: [{ op: 'outbox.remove', id: 'x1' }] });
    expect((await b.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['x2']);
    // an update from elsewhere (the console's retry) leaves the claim alone
    await a.commit({ changes: [{ op: 'outbox.update', id: 'x2', attempts: 0, nextAttemptAt: '2000-01-01T00:00:00.000Z', state: 'pending' }] });
    expect(await a.outboxDue(NOW, 10)).toEqual([]);
    // the attempt's own outcome hands the entry back (retry later, by whoever is free)
    await b.commit({ changes: [{ op: 'outbox.update', id: 'x2', attempts: 1, nextAttemptAt: '2000-01-01T00:00:00.000Z', state: 'pending', lastError: 'ECONNREFUSED', release: true }] });
    expect((await a.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['x2']);
    await a.close();
    expect((await b.outboxDue(NOW, 10)).map((e) => e.id).sort()).toEqual(['x2', 'y1']);
  });

  it('a restarted instance (same id) takes back what it held at once; a second live process with that id gets a new one', async () => {
    const url = await database();
    const a = await store(url, { instanceId: 'host-a', leaseMs: 60_000 });
    await a.commit({ changes: [outboxEntry('x1', 'u1'), outboxEntry('y1', 'u2')].map((entry) => ({ op: 'outbox.add' as const, entry })) });
    expect((await a.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['x1', 'y1']);
    // a copy of a's data directory started elsewhere while a runs: it must not take a's leases
    const twin = await store(url, { instanceId: 'host-a', leaseMs: 60_000 });
    expect(twin.instanceId).not.toBe('host-a');
    expect(await twin.outboxDue(NOW, 10)).toEqual([]);
    // a dies (its connections close) without handing anything back; it restarts with its id
    clearInterval((a as unknown as { heartbeat: NodeJS.Timeout }).heartbeat);
    await (a as unknown as { root: { end(): Promise<void> } }).root.end();
    open.splice(open.indexOf(a), 1);
    const restarted = await store(url, { instanceId: 'host-a', leaseMs: 60_000 });
    expect(restarted.instanceId).toBe('host-a');
    expect((await restarted.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['x1', 'y1']);
  });

  it("a dead instance's leases expire; a live one keeps renewing them", async () => {
    const url = await database();
    // a 1 s lease renewed every 333 ms: a loaded CI machine does not stall that long
    const a = await store(url, { instanceId: 'a', leaseMs: 1000 });
    const b = await store(url, { instanceId: 'b', leaseMs: 1000 });
    await a.commit({ changes: [{ op: 'outbox.add', entry: outboxEntry('x1', 'u1') }] });
    expect((await a.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['x1']);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await b.outboxDue(NOW, 10)).toEqual([]); // a is alive: renewed
    // a stops renewing, as a killed process would
    clearInterval((a as unknown as { heartbeat: NodeJS.Timeout }).heartbeat);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await b.outboxDue(NOW, 10)).map((e) => e.id)).toEqual(['x1']);
  });

  it('concurrent claims from two instances never hand out one entry twice', async () => {
    const url = await database();
    const a = await store(url, { instanceId: 'a' });
    const b = await store(url, { instanceId: 'b' });
    const entries = Array.from({ length: 200 }, (_, i) => outboxEntry(`e${i}`, `u${i % 50}`));
    await a.commit({ changes: entries.map((entry) => ({ op: 'outbox.add' as const, entry })) });
    const delivered: Record<string, string[]> = { a: [], b: [] };
    const work = async (s: PostgresStore, name: string) => {
      for (let round = 0; round < 200; round++) {
        const due = await s.outboxDue(NOW, 4);
        if (due.length === 0 && (await s.outboxList()).length === 0) return;
        for (const e of due) {
          delivered[name].push(e.id);
          await s.commit({ changes: [{ op: 'outbox.remove', id: e.id }] });
        }
      }
    };
    await Promise.all([work(a, 'a'), work(b, 'b')]);
    const all = [...delivered.a, ...delivered.b];
    expect(new Set(all).size).toBe(200);
    expect(all).toHaveLength(200);
    expect(delivered.a.length).toBeGreaterThan(0);
    expect(delivered.b.length).toBeGreaterThan(0);
    // per resource, in commit order
    for (const list of [delivered.a, delivered.b]) {
      const byResource = new Map<number, number[]>();
      for (const id of list) {
        const i = Number(id.slice(1));
        byResource.set(i % 50, [...(byResource.get(i % 50) ?? []), i]);
      }
      for (const seq of byResource.values()) expect(seq).toEqual([...seq].sort((x, y) => x - y));
    }
  });

  it('version races between instances: exactly one expectVersion wins', async () => {
    const url = await database();
    const a = await store(url);
    const b = await store(url);
    await a.commit({ changes: [createUser('u1', 'ann')] });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? a : b).commit({ changes: [{ op: 'replace', type: 'User', connection: 'okta', id: 'u1', data: user('ann', { title: String(i) }), expectVersion: 1 }] }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.status)).toEqual(Array(9).fill(412));
    // uniqueness races too: one create of a userName wins
    const creates = await Promise.allSettled([a.commit({ changes: [createUser('x1', 'same')] }), b.commit({ changes: [createUser('x2', 'SAME')] })]);
    expect(creates.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((creates.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason.status).toBe(409);
  });

  it('one audit chain: records of both instances, all or nothing with their commits', async () => {
    const url = await database();
    const a = await store(url);
    const b = await store(url);
    const record = (i: number) => ({ actor: { kind: 'system', id: 'test' }, action: 'user.create', resource: { type: 'User', id: `u${i}` }, result: 'success' });
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).commit({ changes: [createUser(`u${i}`, `n${i}`), { op: 'audit', records: [record(i)] }] })),
    );
    await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).auditLog.append([{ actor: { kind: 'admin', id: 'root' }, action: 'admin.login', result: 'success' }])));
    // a commit that fails leaves no record
    await scimError(a.commit({ changes: [createUser('dup', 'n1'), { op: 'audit', records: [record(99)] }] }));
    expect(await a.auditLog.verify()).toEqual({ ok: true, records: 50 });
    const page = await b.auditLog.query({ action: 'user.*', limit: 100 });
    expect(page.records).toHaveLength(40);
    expect(page.records.every((r) => typeof r.storeSeq === 'number')).toBe(true);
    expect(page.records.map((r) => r.seq)).toEqual([...page.records.map((r) => r.seq)].sort((x, y) => y - x));
    // tampering shows
    await pg.admin(`UPDATE scim_audit SET line = replace(line, '"u7"', '"u8"') WHERE resource_id = 'u7'`, [], `pgstore_${n}`);
    const v = await a.auditLog.verify();
    expect(v).toMatchObject({ ok: false, reason: expect.stringContaining('hash mismatch') });
  });

  it('exclusive() serializes across instances', async () => {
    const url = await database();
    const a = await store(url);
    const b = await store(url);
    const events: string[] = [];
    const hold = (s: PostgresStore, name: string) =>
      s.exclusive('guard:okta', async () => {
        events.push(`${name}+`);
        await new Promise((r) => setTimeout(r, 100));
        events.push(`${name}-`);
      });
    await Promise.all([hold(a, 'a'), hold(b, 'b')]);
    expect([events.join(' ')]).toContainEqual(expect.stringMatching(/^(a\+ a- b\+ b-|b\+ b- a\+ a-)$/));
  });
});

describe('queries the database cannot evaluate exactly', () => {
  it('are evaluated in memory up to a bound, then refused with 400 tooMany', async () => {
    const url = await database();
    const s = await store(url, { fallbackScanLimit: 50 });
    await s.commit({ changes: Array.from({ length: 60 }, (_, i) => createUser(`u${i}`, `n${i}`, { title: i === 3 ? 'Ärztin' : 'x' })) });
    const q = (filter: string) => s.query({ connection: 'okta', type: 'User', startIndex: 1, count: 10, filter: parseFilter(filter), resolver: userResolver });
    // narrowed by a translatable conjunct: fine
    expect((await q('title eq "ärztin" and userName sw "n3"')).resources.map((r) => r.id)).toEqual(['u3']);
    const e = await scimError(q('title eq "ärztin"'));
    expect(e).toMatchObject({ status: 400, scimType: 'tooMany' });
    expect(e.detail).toContain('50');
  });
});

describe('backup', () => {
  it('writes a db.json that opens as an embedded store with the same content', async () => {
    const url = await database();
    const s = await store(url);
    await s.commit({ changes: [createUser('u1', 'a'), createUser('u2', 'b', { emails: [{ value: 'b@x' }] })] });
    await s.commit({ changes: [{ op: 'create', type: 'Group', connection: 'okta', id: 'g1', data: { displayName: 'G' }, members: [{ value: 'u2' }, { value: 'u1' }] }] });
    await s.commit({ changes: [{ op: 'delete', type: 'User', connection: 'okta', id: 'u1', soft: true }, { op: 'outbox.add', entry: outboxEntry('k1', 'u2') }, { op: 'link', connector: 'demo-1', resourceId: 'u2', key: 'uid=b' }] });
    const dir = await tempDir();
    const info = await s.backup(dir);
    expect(info).toMatchObject({ users: 1, groups: 1 });
    const lowdb = await openStore(dir);
    expect(await dump(lowdb, 'okta')).toEqual(await dump(s, 'okta'));
    expect((await lowdb.deleted('okta', 'User')).map((r) => r.id)).toEqual(['u1']);
    expect((await lowdb.outboxList()).map((e) => e.id)).toEqual(['k1']);
    expect(await lowdb.linkOf('demo-1', 'u2')).toBe('uid=b');
    await lowdb.close();
  });
});

describe('database URLs', () => {
  it('never show the password, not even when the connection fails', async () => {
    expect(redactDatabaseUrl('postgres://scim:s3cr3t-pw@db.example:5432/app?sslmode=require')).toBe('postgres://scim:***@db.example:5432/app?sslmode=require');
    const bad = pg.url.replace(`:${encodeURIComponent(pg.password)}@`, ':wrong-password-123@');
    const s = createPostgresStore({ url: bad });
    const err = await s.open().then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toContain('***');
    expect(err!.message).not.toContain('wrong-password-123');
    expect(err!.message).toMatch(/password authentication failed/);
  });

  it('take the password from the password source when the URL has none', async () => {
    const url = (await database()).replace(`:${encodeURIComponent(pg.password)}@`, '@');
    let asked = 0;
    const s = await store(url, {
      password: async () => {
        asked++;
        return pg.password;
      },
    });
    expect((await s.stats()).users).toBe(0);
    expect(asked).toBeGreaterThan(0);
  });
});
