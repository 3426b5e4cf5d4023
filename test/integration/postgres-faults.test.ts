/**
 * The database under two gateway instances fails while an IdP keeps writing: it stops, it freezes,
 * it fails over to a promoted standby. Each time both instances stay up, answer 503 with
 * Retry-After (never hang) while the database is away, `/readyz` tells the truth, they recover by
 * themselves, and every acknowledged write reaches the target exactly once.
 * Runs in `npm test`'s PostgreSQL pass (vitest.postgres.config.ts).
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServe, stopChild } from '../helpers/cli.js';
import { PATCH_OP, ScimClient, user, waitFor } from '../helpers/gateway.js';
import { ledgerConnector, startDeliveryLedger, type DeliveryLedger } from '../servers/delivery-ledger.js';
import { startPostgres, startStandby, type PostgresServer } from '../servers/postgres.js';

const dir = mkdtempSync(join(tmpdir(), 'scim-bridge-pgfaults-'));
let pg: PostgresServer;
let ledger: DeliveryLedger;
const children: Array<Awaited<ReturnType<typeof startServe>>> = [];

beforeAll(async () => {
  pg = await startPostgres({ settings: { fsync: 'on' } });
  ledger = await startDeliveryLedger();
}, 60_000);
afterEach(async () => {
  for (const c of children.splice(0)) await stopChild(c.child, 'SIGKILL');
});
afterAll(async () => {
  await ledger?.close();
  await pg?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Instance {
  name: string;
  scim: ScimClient;
  adminUrl: string;
  child: Awaited<ReturnType<typeof startServe>>['child'];
  output(): string;
}

/** Two `scim-bridge serve` processes on one database, sharing a token, both feeding the ledger. */
async function startPair(databaseUrl: string, tag: string, extraEnv: Record<string, string> = {}): Promise<Instance[]> {
  const dataA = join(dir, `${tag}-a`);
  const dataB = join(dir, `${tag}-b`);
  mkdirSync(dataB, { recursive: true });
  const token = runCli(['token', 'create', '--name', 'faults', '--data-dir', dataA]).stdout.trimEnd().split('\n').pop()!;
  copyFileSync(join(dataA, 'access.json'), join(dataB, 'access.json'));
  const out: Instance[] = [];
  for (const [name, data] of [['a', dataA], ['b', dataB]] as const) {
    const env = {
      SCIM_BRIDGE_STORE: 'postgres',
      SCIM_BRIDGE_DATABASE_URL: databaseUrl,
      SCIM_BRIDGE_SECRETS_BACKEND: 'file',
      SCIM_BRIDGE_OUTBOX_MAX_DELAY_SECONDS: '2',
      SCIM_BRIDGE_CONNECTIONS: JSON.stringify({ default: { connectors: [ledgerConnector(ledger.url, `${tag}-${name}`)] } }),
      ...extraEnv,
    };
    const started = await startServe(['--data-dir', data, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'], env);
    children.push(started);
    const adminUrl = started.output().match(/[Cc]onsole[^\n]*?(http:\/\/127\.0\.0\.1:\d+)/)?.[1];
    if (!adminUrl) throw new Error(`no console URL in:\n${started.output()}`);
    out.push({ name, scim: new ScimClient(started.scimUrl, token), adminUrl, child: started.child, output: started.output });
  }
  return out;
}

function alive(i: Instance): boolean {
  return i.child.exitCode === null && i.child.signalCode === null;
}

/** IdP-like load through both instances: create, then patch through the other instance. Records what was acknowledged. */
function startLoad(instances: Instance[], prefix: string) {
  const acked = new Map<string, { id: string; title: string }>();
  const answers: Array<{ status: number; retryAfter: string | null; ms: number; at: number }> = [];
  const errors: string[] = [];
  let stopped = false;
  const send = async (client: ScimClient, method: 'post' | 'patch', path: string, body: unknown) => {
    const t0 = Date.now();
    try {
      const r = method === 'post' ? await client.post(path, body) : await client.patch(path, body);
      answers.push({ status: r.status, retryAfter: r.headers.get('retry-after'), ms: Date.now() - t0, at: t0 });
      return r;
    } catch (err) {
      errors.push(`${method} ${path}: ${(err as Error).message} ${String((err as { cause?: unknown }).cause ?? '')}`);
      return undefined;
    }
  };
  const worker = async (w: number) => {
    for (let i = 0; !stopped; i++) {
      const userName = `${prefix}-w${w}-${i}@faults.example`;
      const created = await send(instances[(w + i) % 2].scim, 'post', '/Users', user(userName, { title: 't0' }));
      if (created?.status === 201) {
        acked.set(userName, { id: created.body.id, title: 't0' });
        const p = await send(instances[(w + i + 1) % 2].scim, 'patch', `/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 't1' }] });
        if (p?.status === 200) acked.get(userName)!.title = 't1';
      } else {
        await new Promise((r) => setTimeout(r, 100)); // an IdP backs off on 503
      }
    }
  };
  const running = Promise.all(Array.from({ length: 4 }, (_, w) => worker(w)));
  return {
    acked,
    answers,
    errors,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

async function readyz(i: Instance): Promise<{ status: number; body: any }> {
  const r = await fetch(`${i.adminUrl}/readyz`, { signal: AbortSignal.timeout(15_000) });
  return { status: r.status, body: await r.json().catch(() => undefined) };
}

/** After the load: every acknowledged user reached the ledger, each operation exactly once, in its last acknowledged state. */
async function expectExactlyOnce(instances: Instance[], acked: Map<string, { id: string; title: string }>, tag: string): Promise<void> {
  await waitFor(async () => (await readyz(instances[0])).body?.outbox?.pending === 0, 60_000, 'the outbox to drain');
  // an outage of the gateway's own database is no failed delivery: nothing was dead-lettered for it
  expect((await readyz(instances[0])).body.outbox.dead).toBe(0);
  const calls = ledger.calls.filter((c) => c.instance.startsWith(`${tag}-`));
  const duplicates = ledger.duplicates().filter((list) => list[0].instance.startsWith(`${tag}-`));
  expect(duplicates.map((d) => d.map((c) => `${c.operationId} ${c.method} ${c.path} by ${c.instance} at ${c.at}`))).toEqual([]);
  const last = new Map<string, string | null>();
  const created = new Set<string>();
  for (const c of calls) {
    if (c.method === 'POST') created.add(c.scimId);
    last.set(c.scimId, c.title);
  }
  const missing: string[] = [];
  for (const [userName, s] of acked) {
    if (!created.has(s.id)) missing.push(`${userName}: never created in the target`);
    else if (s.title === 't1' && last.get(s.id) !== 't1') missing.push(`${userName}: title ${last.get(s.id)} in the target`);
  }
  expect(missing).toEqual([]);
  // Nothing acknowledged is lost in the store either.
  for (const [userName, s] of acked) {
    const r = await instances[1].scim.get(`/Users/${s.id}`);
    expect(r.status, userName).toBe(200);
    if (s.title === 't1') expect(r.body.title, userName).toBe('t1');
  }
}

describe('PostgreSQL faults under load, two instances', () => {
  it('a stop of the database: both instances stay up, answer 503 with Retry-After, recover by themselves, deliver exactly once', { timeout: 180_000 }, async () => {
    const url = await pg.createDatabase('stop_under_load');
    const instances = await startPair(url, 'stop');
    const load = startLoad(instances, 'stop');
    try {
      await waitFor(() => load.acked.size >= 30, 30_000, 'load through both instances');
      await pg.stop();
      const downAt = Date.now();
      // While it is down: 503s with Retry-After, not-ready, and both processes alive.
      await waitFor(() => load.answers.some((a) => a.at > downAt && a.status === 503), 20_000, 'a 503 while the database is down').catch((err: Error) => {
        throw new Error(`${err.message}; alive: ${instances.map(alive)}; errors: ${load.errors.slice(0, 3).join(' | ')}\n${instances.map((i) => i.output().slice(-3000)).join('\n----\n')}`);
      });
      for (const i of instances) {
        const r = await instances[0].scim.get('/Users?count=1');
        expect([503]).toContain(r.status);
        expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
        expect((await readyz(i)).status).toBe(503);
      }
      await new Promise((r) => setTimeout(r, 3_000)); // keep it down while the load goes on
      expect(instances.map(alive)).toEqual([true, true]);
      await pg.start();
      const upAt = Date.now();
      for (const i of instances) {
        await waitFor(async () => (await readyz(i)).status === 200, 30_000, `instance ${i.name} ready again`);
        await waitFor(async () => [201, 409].includes((await i.scim.post('/Users', user(`after-${i.name}@faults.example`))).status), 30_000, `instance ${i.name} writing again`);
      }
      await waitFor(() => load.answers.filter((a) => a.at > upAt && a.status === 201).length >= 20, 30_000, 'load succeeding again');
    } finally {
      await load.stop();
    }
    expect(instances.map(alive)).toEqual([true, true]);
    // Every answer while it was away was a 503 with Retry-After (no 500, no dropped connection).
    expect(load.errors).toEqual([]);
    expect(load.answers.filter((a) => ![200, 201, 503].includes(a.status))).toEqual([]);
    expect(load.answers.filter((a) => a.status === 503 && !/^\d+$/.test(a.retryAfter ?? ''))).toEqual([]);
    await expectExactlyOnce(instances, load.acked, 'stop');
  });

  it('a frozen database (SIGSTOP): requests answer 503 within the timeout instead of hanging, and all is well after it thaws', { timeout: 180_000 }, async () => {
    const url = await pg.createDatabase('freeze_under_load');
    // a short timeout keeps the test short; the default (10 s) is documented in docs/scaling.md
    const instances = await startPair(url, 'freeze', { SCIM_BRIDGE_DATABASE_TIMEOUT_SECONDS: '3' });
    const load = startLoad(instances, 'freeze');
    let frozenAt = 0;
    try {
      await waitFor(() => load.acked.size >= 30, 30_000, 'load through both instances');
      await pg.freeze();
      frozenAt = Date.now();
      await waitFor(() => load.answers.some((a) => a.at > frozenAt && a.status === 503), 20_000, 'a 503 while the database is frozen');
      const probe = Date.now();
      expect((await readyz(instances[0])).status).toBe(503);
      expect(Date.now() - probe).toBeLessThan(12_000);
      await new Promise((r) => setTimeout(r, 12_000 - (Date.now() - frozenAt))); // frozen for 12 s in all
      expect(instances.map(alive)).toEqual([true, true]);
      await pg.thaw();
      const thawedAt = Date.now();
      for (const i of instances) await waitFor(async () => (await readyz(i)).status === 200, 30_000, `instance ${i.name} ready again`);
      await waitFor(() => load.answers.filter((a) => a.at > thawedAt && a.status === 201).length >= 20, 30_000, 'load succeeding again');
    } finally {
      await pg.thaw();
      await load.stop();
    }
    expect(instances.map(alive)).toEqual([true, true]);
    expect(load.errors).toEqual([]);
    // No answer took much longer than the timeout (3 s per connection attempt or statement, plus
    // the client's own margin for a server that does not answer at all).
    const during = load.answers.filter((a) => a.at >= frozenAt - 1_000);
    expect(Math.max(...during.map((a) => a.ms))).toBeLessThan(12_000);
    expect(load.answers.filter((a) => ![200, 201, 503].includes(a.status))).toEqual([]);
    await expectExactlyOnce(instances, load.acked, 'freeze');
  });

  it('failover: the primary stops, its synchronous standby is promoted; both instances reach it by themselves, nothing acknowledged is lost', { timeout: 180_000 }, async () => {
    const primary = await startPostgres({ settings: { fsync: 'on' } });
    let standby: Awaited<ReturnType<typeof startStandby>> | undefined;
    try {
      await primary.createDatabase('failover');
      standby = await startStandby(primary, { synchronous: true });
      // the documented setting: every host, and only a writable one will do
      const url = `postgres://${primary.user}:${encodeURIComponent(primary.password)}@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/failover?target_session_attrs=read-write`;
      const instances = await startPair(url, 'failover');
      const load = startLoad(instances, 'failover');
      try {
        await waitFor(() => load.acked.size >= 30, 30_000, 'load through both instances');
        await primary.stop();
        const downAt = Date.now();
        await waitFor(() => load.answers.some((a) => a.at > downAt && a.status === 503), 20_000, 'a 503 while there is no primary');
        // the standby alone is read-only: not good enough, still 503
        expect((await readyz(instances[0])).status).toBe(503);
        await standby.promote();
        const promotedAt = Date.now();
        for (const i of instances) await waitFor(async () => (await readyz(i)).status === 200, 30_000, `instance ${i.name} on the new primary`);
        await waitFor(() => load.answers.filter((a) => a.at > promotedAt && a.status === 201).length >= 20, 30_000, 'load succeeding on the new primary');
      } finally {
        await load.stop();
      }
      expect(instances.map(alive)).toEqual([true, true]);
      expect(load.errors).toEqual([]);
      expect(load.answers.filter((a) => ![200, 201, 503].includes(a.status))).toEqual([]);
      await expectExactlyOnce(instances, load.acked, 'failover');
    } finally {
      await standby?.close();
      await primary.close();
    }
  });
});
