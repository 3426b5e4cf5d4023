/**
 * Delivery exactly once while nothing fails: several outbox workers (as several gateway instances
 * would run them) on one PostgreSQL store, thousands of entries, a machine loaded by busy
 * processes, every delivery counted. A claimed entry must never reach a second delivery while
 * the first is in flight, and the entries of one resource must arrive in commit order. The same
 * with one worker on the embedded store. Then the dead-instance cases: the deliveries of a killed
 * instance resume within seconds on a live one, and at once on the same instance restarted.
 * Runs in `npm test`'s PostgreSQL pass (vitest.postgres.config.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutboxWorker, type DeliveryTarget } from '../../src/gateway/provisioning/outbox-worker.js';
import { createLowdbStore, createPostgresStore, type OutboxEntry, type Store } from '../../src/gateway/store/index.js';
import { runCli, startServe, stopChild } from '../helpers/cli.js';
import { ScimClient, user, waitFor } from '../helpers/gateway.js';
import { ledgerConnector, startDeliveryLedger, type DeliveryLedger } from '../servers/delivery-ledger.js';
import { startPostgres, type PostgresServer } from '../servers/postgres.js';

const dir = mkdtempSync(join(tmpdir(), 'scim-bridge-once-'));
let pg: PostgresServer;
let ledger: DeliveryLedger;

beforeAll(async () => {
  pg = await startPostgres();
  ledger = await startDeliveryLedger();
}, 60_000);
afterAll(async () => {
  await ledger?.close();
  await pg?.close();
  rmSync(dir, { recursive: true, force: true });
});

const quiet = { info() {}, warn() {}, error() {} };

/** Busy loops on every core for the duration of a test: a loaded CI machine. */
function loadMachine(processes = 2): () => void {
  const hogs: ChildProcess[] = [];
  for (let i = 0; i < processes; i++) {
    hogs.push(fork('-e', ['const end = Date.now() + 120000; while (Date.now() < end) {}'], { execArgv: [], stdio: 'ignore' }));
  }
  return () => {
    for (const h of hogs) h.kill('SIGKILL');
  };
}

function entry(id: string, resourceId: string, seq: number): OutboxEntry {
  return {
    id,
    connection: 'default',
    connector: 'c1',
    resourceType: 'User',
    resourceId,
    kind: seq === 0 ? 'createUser' : 'updateUser',
    payload: { resource: { userName: resourceId, title: `t${seq}` } },
    createdAt: new Date().toISOString(),
    attempts: 0,
    nextAttemptAt: new Date(0).toISOString(),
    state: 'pending',
  };
}

/**
 * The store as a worker on a loaded machine or a slow network sees it: the answer to a claim
 * arrives a few ms late, while deliveries keep finishing. A claim must still never hand out an
 * entry whose delivery is in flight or just finished.
 */
function lateClaims(store: Store): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'outboxDue') {
        return async (now: string, limit: number) => {
          const due = await target.outboxDue(now, limit);
          await new Promise((r) => setTimeout(r, Math.random() * 3));
          return due;
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Runs `workers` outbox workers over `stores` until all `total` entries are delivered; returns the deliveries in order. */
async function drain(stores: Store[], total: number): Promise<Array<{ id: string; resourceId: string; worker: number }>> {
  const delivered: Array<{ id: string; resourceId: string; worker: number }> = [];
  const inFlight = new Set<string>();
  const overlaps: string[] = [];
  const workers = stores.map((store, w) => {
    const target: DeliveryTarget = {
      async deliver(e) {
        if (inFlight.has(e.id)) overlaps.push(e.id);
        inFlight.add(e.id);
        // a few ms of target time, sometimes none: deliveries end while claims are being read
        await new Promise((r) => setTimeout(r, Math.random() < 0.3 ? 0 : Math.random() * 4));
        inFlight.delete(e.id);
        delivered.push({ id: e.id, resourceId: e.resourceId, worker: w });
        return {};
      },
    };
    return createOutboxWorker({ store: lateClaims(store), target: () => target, classify: () => ({ transient: true, message: 'x' }), logger: quiet, concurrency: 8, pollMs: 20 });
  });
  for (const w of workers) w.start();
  try {
    await waitFor(() => delivered.length >= total, 120_000, `${total} deliveries`);
    // settle: anything delivered twice would show up now
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  expect(overlaps).toEqual([]);
  return delivered;
}

function expectOncePerEntryInOrder(delivered: Array<{ id: string; resourceId: string }>, total: number): void {
  const counts = new Map<string, number>();
  for (const d of delivered) counts.set(d.id, (counts.get(d.id) ?? 0) + 1);
  expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
  expect(counts.size).toBe(total);
  const last = new Map<string, number>();
  const outOfOrder: string[] = [];
  for (const d of delivered) {
    const seq = Number(d.id.split(':')[1]);
    if ((last.get(d.resourceId) ?? -1) > seq) outOfOrder.push(d.id);
    last.set(d.resourceId, seq);
  }
  expect(outOfOrder).toEqual([]);
}

async function fill(store: Store, resources: number, perResource: number): Promise<number> {
  const changes = [];
  for (let seq = 0; seq < perResource; seq++) {
    for (let r = 0; r < resources; r++) changes.push({ op: 'outbox.add' as const, entry: entry(`r${r}:${seq}`, `r${r}`, seq) });
  }
  for (let i = 0; i < changes.length; i += 500) await store.commit({ changes: changes.slice(i, i + 500) });
  return changes.length;
}

describe('each outbox entry is delivered exactly once, in order per resource', () => {
  it('three workers on one PostgreSQL store, 3,000 entries, a loaded machine', { timeout: 180_000 }, async () => {
    const url = await pg.createDatabase('once_pg');
    const stores = [0, 1, 2].map((i) => createPostgresStore({ url, poolSize: 6, instanceId: `w${i}`, logger: quiet }));
    for (const s of stores) await s.open();
    const unload = loadMachine();
    try {
      const total = await fill(stores[0], 300, 10);
      const delivered = await drain(stores, total);
      expectOncePerEntryInOrder(delivered, total);
      expect(new Set(delivered.map((d) => d.worker)).size).toBe(3);
      expect((await stores[0].stats()).outboxPending).toBe(0);
    } finally {
      unload();
      for (const s of stores) await s.close();
    }
  });

  it('one worker on the embedded store, 3,000 entries, a loaded machine', { timeout: 180_000 }, async () => {
    const dataDir = join(dir, 'lowdb');
    mkdirSync(dataDir);
    const store = createLowdbStore({ dataDir, logger: quiet });
    await store.open();
    const unload = loadMachine();
    try {
      const total = await fill(store, 300, 10);
      expectOncePerEntryInOrder(await drain([store], total), total);
    } finally {
      unload();
      await store.close();
    }
  });
});

describe('deliveries of an instance that died', () => {
  function envFor(url: string, name: string, leaseSeconds: number): Record<string, string> {
    return {
      SCIM_BRIDGE_STORE: 'postgres',
      SCIM_BRIDGE_DATABASE_URL: url,
      SCIM_BRIDGE_SECRETS_BACKEND: 'file',
      SCIM_BRIDGE_OUTBOX_LEASE_SECONDS: String(leaseSeconds),
      SCIM_BRIDGE_CONNECTIONS: JSON.stringify({ default: { connectors: [ledgerConnector(ledger.url, name)] } }),
    };
  }
  const serveArgs = (data: string) => ['--data-dir', data, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'];

  /** Creates users through `client` while the ledger holds every delivery, until `holder` has some in flight. */
  async function deliveriesInFlight(client: ScimClient, tag: string, count: number): Promise<string[]> {
    ledger.delayMs = 60_000; // the target hangs: deliveries stay in flight
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const r = await client.post('/Users', user(`${tag}-${i}@once.example`));
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
    await waitFor(() => ids.every((id) => ledger.calls.some((c) => c.scimId === id)), 20_000, 'the deliveries to be in flight');
    return ids;
  }

  it('a killed instance: a live one resumes its deliveries within 10 s (default lease)', { timeout: 120_000 }, async () => {
    const url = await pg.createDatabase('takeover');
    const dataA = join(dir, 'takeover-a');
    const dataB = join(dir, 'takeover-b');
    mkdirSync(dataB, { recursive: true });
    const token = runCli(['token', 'create', '--name', 'once', '--data-dir', dataA]).stdout.trimEnd().split('\n').pop()!;
    const a = await startServe(serveArgs(dataA), envFor(url, 'takeover-a', 5));
    let b: Awaited<ReturnType<typeof startServe>> | undefined;
    try {
      // b is not running yet: a takes every delivery
      const ids = await deliveriesInFlight(new ScimClient(a.scimUrl, token), 'takeover', 3);
      b = await startServe(serveArgs(dataB), envFor(url, 'takeover-b', 5));
      ledger.delayMs = 0;
      const exited = new Promise((r) => a.child.once('exit', r));
      a.child.kill('SIGKILL');
      await exited;
      const killedAt = Date.now();
      await waitFor(() => ids.every((id) => ledger.calls.some((c) => c.scimId === id && c.instance === 'takeover-b')), 20_000, "b to deliver a's entries");
      const resumed = Math.max(...ids.map((id) => ledger.calls.find((c) => c.scimId === id && c.instance === 'takeover-b')!.at)) - killedAt;
      expect(resumed).toBeLessThan(10_000);
    } finally {
      ledger.delayMs = 0;
      if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
      if (b) await stopChild(b.child);
    }
  });

  it('a killed instance restarted on its data directory takes back what it held at once, long before its lease runs out', { timeout: 120_000 }, async () => {
    const url = await pg.createDatabase('reclaim');
    const data = join(dir, 'reclaim');
    const token = runCli(['token', 'create', '--name', 'once', '--data-dir', data]).stdout.trimEnd().split('\n').pop()!;
    const first = await startServe(serveArgs(data), envFor(url, 'reclaim-1', 120));
    let second: Awaited<ReturnType<typeof startServe>> | undefined;
    try {
      const ids = await deliveriesInFlight(new ScimClient(first.scimUrl, token), 'reclaim', 3);
      ledger.delayMs = 0;
      const exited = new Promise((r) => first.child.once('exit', r));
      first.child.kill('SIGKILL');
      await exited;
      const killedAt = Date.now();
      second = await startServe(serveArgs(data), envFor(url, 'reclaim-2', 120));
      await waitFor(() => ids.every((id) => ledger.calls.some((c) => c.scimId === id && c.instance === 'reclaim-2')), 20_000, 'the restarted instance to deliver what it held');
      // a 120 s lease: only taking its own leases back explains a resumption this fast
      expect(Date.now() - killedAt).toBeLessThan(15_000);
    } finally {
      ledger.delayMs = 0;
      if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL');
      if (second) await stopChild(second.child);
    }
  });
});
