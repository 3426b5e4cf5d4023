/**
 * Two gateway instances (`node dist/cli.js serve`, each with its own data dir) on one PostgreSQL
 * database, writes through both, one of them killed with SIGKILL under load. Afterwards:
 * every acknowledged write is in the database, the outbox drains on the survivor once the dead
 * instance's leases expire, every operation reached the target (a script connector logging each
 * delivery with its operation id), no operation was delivered twice except one the killed
 * instance had in flight, per-resource order held, and the audit log is one intact chain.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore } from '../../src/gateway/store/index.js';
import { runCli, startServe, stopChild } from '../helpers/cli.js';
import { PATCH_OP, ScimClient, user, waitFor } from '../helpers/gateway.js';
import { startPostgres, type PostgresServer } from '../servers/postgres.js';

const SCRIPT = fileURLToPath(new URL('../fixtures/multi-instance/count-deliveries.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'scim-bridge-multi-'));
const log = join(dir, 'deliveries.jsonl');
let pg: PostgresServer;

beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pg?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Delivery {
  operationId: string;
  operation: string;
  scimId: string;
  title: string | null;
  active: boolean | null;
  instance: string;
}

function envFor(instance: string, url: string): Record<string, string> {
  return {
    SCIM_BRIDGE_STORE: 'postgres',
    SCIM_BRIDGE_DATABASE_URL: url,
    SCIM_BRIDGE_OUTBOX_LEASE_SECONDS: '2',
    SCIM_BRIDGE_RATE_LIMIT_PER_TOKEN: '0',
    SCIM_BRIDGE_SECRETS_BACKEND: 'file',
    SCIM_BRIDGE_CONNECTIONS: JSON.stringify({
      default: {
        connectors: [
          {
            id: 'counter',
            type: 'script',
            config: { command: process.execPath, args: [SCRIPT], env: { DELIVERY_LOG: log, INSTANCE: instance }, timeoutMs: 20_000 },
            mapping: { title: 'title' },
          },
        ],
      },
    }),
  };
}

async function readyz(output: () => string): Promise<{ outbox: { pending: number; dead: number } } | undefined> {
  const admin = output().match(/[Cc]onsole[^\n]*?(http:\/\/127\.0\.0\.1:\d+)/)?.[1];
  if (!admin) return undefined;
  return (await (await fetch(`${admin}/readyz`)).json()) as { outbox: { pending: number; dead: number } };
}

describe('several gateway instances on one PostgreSQL database', () => {
  it('kill -9 of one under load: nothing acknowledged lost, every operation delivered, none twice', { timeout: 120_000 }, async () => {
    const url = pg.url;
    const dataA = join(dir, 'a');
    const dataB = join(dir, 'b');
    mkdirSync(dataB, { recursive: true });
    const token = runCli(['token', 'create', '--name', 'multi', '--data-dir', dataA]).stdout.trimEnd().split('\n').pop()!;
    // Behind one load balancer both instances accept the IdP's token: they share access.json.
    copyFileSync(join(dataA, 'access.json'), join(dataB, 'access.json'));
    const args = (data: string) => ['--data-dir', data, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'];
    const a = await startServe(args(dataA), envFor('a', url));
    const b = await startServe(args(dataB), envFor('b', url));
    try {
      const clients = [new ScimClient(a.scimUrl, token), new ScimClient(b.scimUrl, token)];
      /** userName -> { id, last acknowledged title, active } */
      const acked = new Map<string, { id: string; title: string; active: boolean }>();
      const refusals: string[] = [];
      const stop = { now: false };
      // A user both instances patch at once, without If-Match: version races must be retried, never 412.
      const shared = await clients[0].post('/Users', user('shared@multi.example', { title: 's0' }));
      expect(shared.status).toBe(201);
      let sharedPatches = 0;
      const worker = async (w: number) => {
        for (let i = 0; !stop.now; i++) {
          const client = clients[(w + i) % 2];
          const other = clients[(w + i + 1) % 2];
          try {
            const userName = `w${w}n${i}@multi.example`;
            const r = await client.post('/Users', user(userName, { title: 't0' }));
            if (r.status !== 201) {
              refusals.push(`create ${r.status} ${r.text}`);
              continue;
            }
            acked.set(userName, { id: r.body.id, title: 't0', active: true });
            // the next write of that user goes through the other instance
            const p = await other.patch(`/Users/${r.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 't1' }] });
            if (p.status === 200) acked.get(userName)!.title = 't1';
            else refusals.push(`patch ${p.status} ${p.text}`);
            if (i % 3 === 0) {
              const d = await client.patch(`/Users/${r.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
              if (d.status === 200) acked.get(userName)!.active = false;
              else refusals.push(`deactivate ${d.status} ${d.text}`);
            }
            const s = await client.patch(`/Users/${shared.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: `s${w}-${i}` }] });
            if (s.status === 200) sharedPatches++;
            else refusals.push(`shared ${s.status} ${s.text}`);
          } catch {
            // the killed instance's connections fail; the next loop uses the other one
          }
        }
      };
      const load = Promise.all(Array.from({ length: 4 }, (_, w) => worker(w)));
      await waitFor(() => acked.size >= 20, 30_000, 'writes through both instances');
      const exited = new Promise((r) => a.child.once('exit', r));
      a.child.kill('SIGKILL');
      await exited;
      clients[0] = clients[1]; // the load balancer notices
      await waitFor(() => acked.size >= 40, 30_000, 'writes through the survivor');
      stop.now = true;
      await load;
      // Refusals are only the killed instance's: none of the survivor's writes failed, no 412 from races.
      expect(refusals.filter((r) => !/^(create|patch|deactivate|shared) (502|503|undefined)/.test(r))).toEqual([]);
      expect(sharedPatches).toBeGreaterThan(10);

      // The survivor takes over the dead instance's leased deliveries once their leases expire.
      await waitFor(async () => (await readyz(b.output))?.outbox.pending === 0, 60_000, 'the outbox to drain on the survivor');
      expect((await readyz(b.output))?.outbox.dead).toBe(0);

      // Nothing acknowledged is lost.
      const survivor = clients[1];
      const lost: string[] = [];
      for (const [userName, s] of acked) {
        const r = await survivor.get(`/Users/${s.id}`);
        if (r.status !== 200) lost.push(`${userName}: ${r.status}`);
        else if ((s.title === 't1' && r.body.title !== 't1') || (!s.active && r.body.active !== false)) lost.push(`${userName}: ${JSON.stringify(r.body)}`);
      }
      expect(lost).toEqual([]);

      // Every operation delivered; an operation twice only if the killed instance had it in flight.
      const deliveries = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Delivery);
      const byOp = new Map<string, Delivery[]>();
      for (const d of deliveries) byOp.set(d.operationId, [...(byOp.get(d.operationId) ?? []), d]);
      const twice = [...byOp.values()].filter((ds) => ds.length > 1);
      for (const ds of twice) expect(ds[0].instance).toBe('a');
      expect(twice.length).toBeLessThanOrEqual(4); // the worker's concurrency
      expect(deliveries.some((d) => d.instance === 'a')).toBe(true);
      expect(deliveries.some((d) => d.instance === 'b')).toBe(true);
      // The target ends in the acknowledged state: per resource, the last delivery carries the last write.
      const last = new Map<string, Delivery>();
      const created = new Set<string>();
      for (const d of deliveries) {
        last.set(d.scimId, d);
        if (d.operation === 'createUser') created.add(d.scimId);
      }
      const stale: string[] = [];
      for (const [userName, s] of acked) {
        const d = last.get(s.id);
        if (!created.has(s.id) || !d) stale.push(`${userName}: never created in the target`);
        else if (s.title === 't1' && d.title !== 't1') stale.push(`${userName}: title ${d.title}`);
        else if (!s.active && d.active !== false) stale.push(`${userName}: still active in the target`);
      }
      expect(stale).toEqual([]);
    } finally {
      await stopChild(b.child);
      if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
    }

    // One audit chain for both instances, intact after the kill.
    const store = createPostgresStore({ url });
    await store.open();
    try {
      const verified = await store.auditLog.verify();
      expect(verified).toMatchObject({ ok: true });
      expect((verified as { records: number }).records).toBeGreaterThan(100);
    } finally {
      await store.close();
    }
    expect(existsSync(join(dataA, 'audit.jsonl')) && readFileSync(join(dataA, 'audit.jsonl'), 'utf8').length > 0).toBe(false);
  });
});
