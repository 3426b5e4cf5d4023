/**
 * Reconciliation: compares what a connector's target holds with what the gateway says it should
 * hold, for connectors that can list users (the `read` capability). Reports drift (missing,
 * extra, different) and, when asked, repairs it by queueing ordinary outbox operations, so
 * repairs are ordered, retried and audited like everything else. Accounts the gateway does not
 * manage ("extra") are reported, never touched.
 */
import { randomUUID } from 'node:crypto';
import type { OutboxChange, OutboxKind, Store, StoredResource } from '../store/index.js';
import type { ConnectorInstance } from './connectors.js';

export interface DriftReport {
  connector: string;
  connection: string;
  at: string;
  checked: number;
  /** Users the target should have but does not. */
  missing: Array<{ scimId: string; userName: string }>;
  /** Target accounts no user of this connection is linked to. */
  extra: Array<{ key: string; userName?: string }>;
  /** Users whose target account differs; `attributes` names what differs. */
  different: Array<{ scimId: string; key: string; attributes: string[] }>;
  /** Users with operations still in the outbox: not compared (they are on their way). */
  inFlight: number;
  /** Outbox entries queued by a repair. */
  repaired: number;
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if ((a === undefined || a === null || a === '') && (b === undefined || b === null || b === '')) return true;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Compares one connector's target with the gateway; with `repair`, queues the operations that fix the drift. */
export async function reconcile(instance: ConnectorInstance, store: Store, opts: { repair: boolean; now?: () => Date }): Promise<DriftReport> {
  if (!instance.host.manifest.capabilities.read) throw new Error(`connector "${instance.id}" cannot list its users (no "read" capability): nothing to reconcile`);
  const at = (opts.now ?? (() => new Date()))().toISOString();
  const report: DriftReport = { connector: instance.id, connection: instance.connection, at, checked: 0, missing: [], extra: [], different: [], inFlight: 0, repaired: 0 };

  const target = new Map<string, { userName?: string; active?: boolean; attributes?: Record<string, unknown> }>();
  for await (const entry of instance.host.listUsers()) target.set(entry.key, entry.user);

  const busy = new Set((await store.outboxList({ connector: instance.id })).map((e) => e.resourceId));
  const linked = new Set<string>();
  const repairs: OutboxChange[] = [];
  const queue = (user: StoredResource, kind: OutboxKind) =>
    repairs.push({
      op: 'outbox.add',
      entry: {
        id: randomUUID(),
        connection: instance.connection,
        connector: instance.id,
        resourceType: 'User',
        resourceId: user.id,
        kind,
        payload: { resource: user.data },
        createdAt: at,
        attempts: 0,
        nextAttemptAt: at,
        state: 'pending',
      },
    });

  const page = 1000;
  for (let start = 1; ; start += page) {
    const { resources } = await store.query({ connection: instance.connection, type: 'User', startIndex: start, count: page });
    for (const user of resources) {
      const key = await store.linkOf(instance.id, user.id);
      if (key) linked.add(key);
      if (busy.has(user.id)) {
        report.inFlight++;
        continue;
      }
      report.checked++;
      const actual = key ? target.get(key) : undefined;
      if (!actual) {
        report.missing.push({ scimId: user.id, userName: String(user.data.userName ?? '') });
        // Re-create: the link, if any, points at an account that is gone.
        if (opts.repair) {
          if (key) repairs.push({ op: 'link', connector: instance.id, resourceId: user.id, key: null });
          queue(user, 'createUser');
        }
        continue;
      }
      const expected = instance.mapUser(user.id, user.data);
      const differs: string[] = [];
      if (!same(actual.userName, expected.userName)) differs.push('userName');
      if (actual.active !== undefined && actual.active !== expected.active) differs.push('active');
      for (const [name, value] of Object.entries(expected.attributes)) {
        // Only what the gateway asserts is compared: a null ("clear it") may meet a value the
        // target cannot drop (LDAP's cn, derived by the connector when the IdP sends none).
        if (value === null) continue;
        if (actual.attributes && name in actual.attributes && !same(actual.attributes[name], value)) differs.push(name);
      }
      if (differs.length > 0) {
        report.different.push({ scimId: user.id, key: key!, attributes: differs });
        if (opts.repair) queue(user, expected.active ? 'updateUser' : 'deactivateUser');
      }
    }
    if (resources.length < page) break;
  }
  // Soft-deleted users keep their (deactivated) account: it is managed, not extra.
  for (const tomb of await store.deleted(instance.connection, 'User')) {
    const key = await store.linkOf(instance.id, tomb.id);
    if (key) linked.add(key);
  }
  for (const [key, user] of target) if (!linked.has(key)) report.extra.push({ key, ...(user.userName ? { userName: user.userName } : {}) });

  if (opts.repair && repairs.length > 0) {
    await store.commit({ changes: repairs });
    report.repaired = repairs.filter((c) => c.op === 'outbox.add').length;
  }
  return report;
}

export interface Reconciler {
  /** Reconciles one connector now; `repair` queues the operations that fix the drift. */
  run(connector: string, repair?: boolean): Promise<DriftReport>;
  /** Reconciles every connector that can list its users (the nightly job). */
  runAll(repair: boolean): Promise<void>;
  /** The last report of each connector. */
  reports: Map<string, DriftReport>;
}

/** Runs reconciliations, keeps their reports, logs them and records each in the audit log. */
export function createReconciler(opts: {
  store: Store;
  connectors: ReadonlyMap<string, ConnectorInstance>;
  logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
  /** Called when repairs were queued (wakes the delivery worker). */
  onRepairsQueued: () => void;
}): Reconciler {
  const { store, connectors, logger } = opts;
  const reports = new Map<string, DriftReport>();
  const run = async (id: string, repair = false): Promise<DriftReport> => {
    const instance = connectors.get(id);
    if (!instance) throw new Error(`no connector "${id}"`);
    const report = await reconcile(instance, store, { repair });
    reports.set(id, report);
    const drift = report.missing.length + report.extra.length + report.different.length;
    const summary = `checked ${report.checked}: ${report.missing.length} missing, ${report.extra.length} extra, ${report.different.length} different, ${report.inFlight} in flight, ${report.repaired} repairs queued`;
    const fields = { ...report, missing: report.missing.length, extra: report.extra.length, different: report.different.length };
    if (drift > 0) logger.warn(fields, `reconciliation: ${summary}`);
    else logger.info(fields, `reconciliation: ${summary}`);
    const record = { actor: { kind: 'system', id: 'reconciliation' }, connection: instance.connection, action: 'connector.reconcile', resource: { type: 'Connector', id }, result: drift > 0 ? 'failure' : 'success', detail: summary };
    await store.commit({ changes: [{ op: 'audit', records: [record] }] });
    if (report.repaired > 0) opts.onRepairsQueued();
    return report;
  };
  return {
    run,
    async runAll(repair) {
      for (const c of connectors.values()) if (c.host.manifest.capabilities.read) await run(c.id, repair);
    },
    reports,
  };
}
