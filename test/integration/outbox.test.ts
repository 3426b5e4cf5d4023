/**
 * The outbox end to end below HTTP: real store on disk, real SCIM service, the delivery worker,
 * and a recording delivery target standing in for a connector (the connector SDK and its
 * conformance kit test real connectors; here the subject is delivery: order, retries, dead
 * letters, restart).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createOutboxWorker, createProvisioningEffects, type DeliveryTarget, type FailureClass, type OutboxWorker } from '../../src/gateway/provisioning/index.js';
import { createSchemaRegistry, createScimService, ScimError, type ScimService } from '../../src/gateway/scim/index.js';
import { createLowdbStore, createPostgresStore, type OutboxEntry, type Store } from '../../src/gateway/store/index.js';
import { TEST_STORE, testStoreConfig } from '../helpers/gateway.js';

const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const silent = { info() {}, warn() {}, error() {} };

/** Records every delivery; can be made to fail transiently (target down) or permanently. */
class RecordingTarget implements DeliveryTarget {
  calls: Array<{ kind: string; resourceId: string; key?: string; userName?: unknown; memberIds?: string[] }> = [];
  down = false;
  refuse = new Set<string>();
  private n = 0;
  async deliver(entry: OutboxEntry, key: string | undefined) {
    if (this.down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:389'), { transient: true });
    if (this.refuse.has(String(entry.payload.resource?.userName))) throw Object.assign(new Error('target says: invalid attribute'), { transient: false });
    this.calls.push({ kind: entry.kind, resourceId: entry.resourceId, key, userName: entry.payload.resource?.userName, memberIds: entry.payload.memberIds });
    if (entry.kind === 'createUser' || (entry.kind === 'upsertGroup' && !key)) return { key: `key-${++this.n}` };
    if (entry.kind === 'deleteUser' || entry.kind === 'deleteGroup') return { key: null };
    return {};
  }
}

const classify = (err: unknown): FailureClass => ({ transient: (err as { transient?: boolean }).transient !== false, message: (err as Error).message });

interface Rig {
  dir: string;
  store: Store;
  service: ScimService;
  worker: OutboxWorker;
  target: RecordingTarget;
}
const rigs: Rig[] = [];

/** PostgreSQL runs (SCIM_BRIDGE_TEST_STORE=postgres): one database per rig dir, so a restart reopens it. */
const databaseOf = new Map<string, string>();

async function openStore(dir: string): Promise<Store> {
  if (TEST_STORE !== 'postgres') return createLowdbStore({ dataDir: dir, logger: silent });
  let url = databaseOf.get(dir);
  if (url === undefined) {
    url = String((await testStoreConfig()).databaseUrl);
    databaseOf.set(dir, url);
  }
  return createPostgresStore({ url, logger: silent });
}

async function rig(dir = mkdtempSync(join(tmpdir(), 'outbox-')), target = new RecordingTarget()): Promise<Rig> {
  const store = await openStore(dir);
  await store.open();
  const worker = createOutboxWorker({ store, target: (c) => (c === 'target-1' ? target : undefined), classify, logger: silent, baseDelayMs: 20, maxDelayMs: 50, maxAttempts: 4, pollMs: 20 });
  const registry = createSchemaRegistry();
  const service = createScimService({
    store,
    registry,
    limits: { patch: { maxOperations: 100, maxMembersPerRequest: 1000 }, maxResults: 100 },
    effects: createProvisioningEffects((connection) => (connection === 'default' ? ['target-1'] : []), worker),
  });
  worker.start();
  const r = { dir, store, service, worker, target };
  rigs.push(r);
  return r;
}

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.worker.stop();
    await r.store.close().catch(() => undefined);
    rmSync(r.dir, { recursive: true, force: true });
  }
});

const ctx = { connection: 'default' };

/** Waits until every entry is delivered (entries in backoff included), or fails after 3 s. */
async function drained(store: Store): Promise<void> {
  const end = Date.now() + 3_000;
  while ((await store.outboxList()).length > 0) {
    if (Date.now() > end) throw new Error(`outbox not drained: ${JSON.stringify(await store.outboxList())}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const userBody = (userName: string, extra: Record<string, unknown> = {}) => ({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, ...extra });

describe('outbox delivery', () => {
  it('turns each SCIM change into the right connector operation, in order, and links the target key', async () => {
    const { service, worker, target, store } = await rig();
    const u = await service.create(ctx, 'User', userBody('ann@example.com'));
    await service.patch(ctx, 'User', u.id, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'displayName', value: 'Ann' }] });
    await service.patch(ctx, 'User', u.id, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: 'False' }] });
    await service.patch(ctx, 'User', u.id, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: true }] });
    const g = await service.create(ctx, 'Group', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Staff', members: [{ value: u.id }] });
    await service.patch(ctx, 'Group', g.id, { schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${u.id}"]` }] });
    await service.remove(ctx, 'User', u.id);
    await worker.idle();
    // different resources are delivered concurrently; each resource's operations keep their order
    expect(target.calls.filter((c) => c.resourceId === u.id).map((c) => c.kind)).toEqual(['createUser', 'updateUser', 'deactivateUser', 'reactivateUser', 'deleteUser']);
    expect(target.calls.filter((c) => c.resourceId === g.id).map((c) => c.kind)).toEqual(['upsertGroup', 'addMembers', 'removeMembers']);
    // later operations of the user carried the key its create returned
    expect(target.calls.filter((c) => c.resourceId === u.id).slice(1).every((c) => c.key === 'key-1')).toBe(true);
    expect(await store.linkOf('target-1', u.id)).toBeUndefined(); // forgotten after the delete
    expect(await store.outboxList()).toEqual([]);
  });

  it('a target that is down: retried with backoff, nothing lost, order kept when it comes back', async () => {
    const { service, target, store } = await rig();
    target.down = true;
    const u = await service.create(ctx, 'User', userBody('bob@example.com'));
    for (let i = 1; i <= 3; i++) await service.patch(ctx, 'User', u.id, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'title', value: `T${i}` }] });
    await new Promise((r) => setTimeout(r, 80));
    const waiting = await store.outboxList();
    expect(waiting).toHaveLength(4);
    expect(waiting[0]).toMatchObject({ state: 'pending', lastError: expect.stringMatching(/ECONNREFUSED/) });
    expect(waiting[0].attempts).toBeGreaterThan(0);
    expect(waiting.slice(1).every((e) => e.attempts === 0)).toBe(true); // only the head of the resource is tried
    target.down = false; // the next backoff retry gets through
    await drained(store);
    expect(target.calls.map((c) => c.kind)).toEqual(['createUser', 'updateUser', 'updateUser', 'updateUser']);
    expect(await store.outboxList()).toEqual([]);
  });

  it("the gateway's own store failing during a delivery (its database away) is no attempt: never dead-lettered, delivered once it is back", async () => {
    const target = new RecordingTarget();
    let storeDown = 6; // more failures than maxAttempts (4)
    const flaky: DeliveryTarget = {
      deliver(entry, key) {
        // what deliveryTargetFor's own store reads (links, claim checks) throw while the database is away
        if (storeDown-- > 0) return Promise.reject(ScimError.unavailable('The database postgres://db/x cannot be reached (Connection terminated): nothing was changed.'));
        return target.deliver(entry, key);
      },
    };
    const { service, store } = await rig(undefined, flaky as RecordingTarget);
    const u = await service.create(ctx, 'User', userBody('cal@example.com'));
    await drained(store);
    expect(target.calls.map((c) => [c.kind, c.resourceId])).toEqual([['createUser', u.id]]);
    expect(await store.outboxList({ state: 'dead' })).toEqual([]);
  });

  it('a permanent refusal is dead-lettered, holds back only that resource, and can be retried or discarded', async () => {
    const { service, worker, target, store } = await rig();
    target.refuse.add('bad@example.com');
    const bad = await service.create(ctx, 'User', userBody('bad@example.com'));
    const good = await service.create(ctx, 'User', userBody('good@example.com'));
    await service.patch(ctx, 'User', bad.id, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'title', value: 'x' }] });
    await worker.idle();
    const deadForBad = (await store.outboxList({ state: 'dead' })).filter((e) => e.resourceId === bad.id);
    expect(deadForBad.map((e) => e.kind)).toEqual(['createUser']);
    expect(deadForBad[0].attempts).toBe(1); // a permanent refusal is not retried
    // held back behind its dead create: never tried
    expect((await store.outboxList({ state: 'pending' })).map((e) => [e.kind, e.attempts])).toEqual([['updateUser', 0]]);
    expect(deadForBad[0].lastError).toMatch(/invalid attribute/);
    expect(target.calls.some((c) => c.resourceId === good.id && c.kind === 'createUser')).toBe(true);
    target.refuse.clear();
    await worker.retry(deadForBad[0].id);
    await worker.idle();
    expect(await store.outboxList()).toEqual([]);
    expect(target.calls.filter((c) => c.resourceId === bad.id).map((c) => c.kind)).toEqual(['createUser', 'updateUser']);
  });

  it('transient failures past maxAttempts become dead letters', async () => {
    const { service, worker, target, store } = await rig();
    target.down = true;
    await service.create(ctx, 'User', userBody('flaky@example.com'));
    const end = Date.now() + 3_000;
    while ((await store.outboxList({ state: 'dead' })).length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    const [entry] = await store.outboxList();
    expect(entry).toMatchObject({ state: 'dead', attempts: 4 });
    await worker.discard(entry.id);
    expect(await store.outboxList()).toEqual([]);
  });

  it('a restart mid-retry resumes delivery without losing or reordering anything', async () => {
    const first = await rig();
    first.target.down = true;
    const u = await first.service.create(ctx, 'User', userBody('carl@example.com'));
    await first.service.patch(ctx, 'User', u.id, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'title', value: 'after restart' }] });
    await new Promise((r) => setTimeout(r, 60));
    await first.worker.stop();
    await first.store.close();
    rigs.splice(rigs.indexOf(first), 1);
    const second = await rig(first.dir); // its target is up: the worker resumes by itself
    await drained(second.store);
    expect(second.target.calls.map((c) => c.kind)).toEqual(['createUser', 'updateUser']);
    expect(await second.store.linkOf('target-1', u.id)).toBe('key-1');
  });

  it('a membership PATCH on a group sends only real changes', async () => {
    const { service, worker, target } = await rig();
    const a = await service.create(ctx, 'User', userBody('a@example.com'));
    const b = await service.create(ctx, 'User', userBody('b@example.com'));
    const g = await service.create(ctx, 'Group', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Team', members: [{ value: a.id }] });
    await worker.idle();
    target.calls = [];
    await service.patch(ctx, 'Group', g.id, {
      schemas: [PATCH],
      Operations: [
        { op: 'add', path: 'members', value: [{ value: a.id }, { value: b.id }] },
        { op: 'remove', path: 'members', value: [{ value: 'not-a-member' }] },
      ],
    });
    await worker.idle();
    expect(target.calls).toEqual([expect.objectContaining({ kind: 'addMembers', memberIds: [b.id] })]);
  });
});
