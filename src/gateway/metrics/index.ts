/**
 * Prometheus metrics (prom-client) for the admin listener's /metrics: SCIM traffic by resource and
 * status, latency, the outbox, deliveries per connector and whether each connector runs, plus the
 * process's own figures. Its own registry, so tests and embedders never share counters.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StoreStats } from '../store/index.js';

export interface MetricsSources {
  stats(): Promise<StoreStats>;
  connectors(): Array<{ id: string; connection: string; state: string }>;
  /** Audit records lost since start (see AuditLog.recordsLost). */
  auditRecordsLost(): number;
  /** SCIM requests in progress and the request-body bytes they hold (auth/in-flight.ts). */
  inFlight?: { requests(): number; bodyBytes(): number };
}

export interface GatewayMetrics {
  registry: Registry;
  /** One SCIM response (path relative to /scim/v2). */
  scimResponse(o: { method: string; path: string; status: number; ms: number; connection?: string }): void;
  /** One connector delivery outcome. */
  delivery(connector: string, result: 'success' | 'retry' | 'dead'): void;
  /** The Prometheus text exposition. */
  render(): Promise<{ contentType: string; body: string }>;
}

/** `/Users/abc` -> `Users`; ids never become label values (unbounded cardinality). */
function resourceOf(path: string): string {
  const first = path.split('/').filter(Boolean)[0] ?? '';
  const known = ['Users', 'Groups', 'Bulk', 'ServiceProviderConfig', 'ResourceTypes', 'Schemas', 'Me'];
  return known.find((k) => k.toLowerCase() === first.toLowerCase()) ?? 'other';
}

export function createMetrics(sources: MetricsSources): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'scim_bridge_' });
  const requests = new Counter({
    name: 'scim_bridge_scim_requests_total',
    help: 'SCIM requests answered, by method, resource type and status code',
    labelNames: ['method', 'resource', 'status', 'connection'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'scim_bridge_scim_request_duration_seconds',
    help: 'Time to answer a SCIM request (durable writes included)',
    labelNames: ['method', 'resource'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const deliveries = new Counter({
    name: 'scim_bridge_connector_deliveries_total',
    help: 'Connector operations by outcome: success, retry (transient failure), dead (dead-lettered)',
    labelNames: ['connector', 'result'] as const,
    registers: [registry],
  });
  // One read of the store per scrape (render), shared by every gauge below. When the store cannot
  // be read (the database is away) the gauges keep their last values and store_up says so.
  let stats: StoreStats | undefined;
  let storeUp = 1;
  new Gauge({
    name: 'scim_bridge_store_up',
    help: '1 when the store answered at the last scrape, 0 when it could not be read (the database is unreachable)',
    registers: [registry],
    collect() {
      this.set(storeUp);
    },
  });
  const gauge = (name: string, help: string, read: (s: StoreStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        if (stats) this.set(read(stats));
      },
    });
  gauge('scim_bridge_users', 'Users in the store (all connections)', (s) => s.users);
  gauge('scim_bridge_groups', 'Groups in the store (all connections)', (s) => s.groups);
  gauge('scim_bridge_outbox_pending', 'Connector operations waiting for delivery', (s) => s.outboxPending);
  gauge('scim_bridge_outbox_dead', 'Dead-lettered connector operations (need an admin)', (s) => s.outboxDead);
  gauge('scim_bridge_store_bytes', 'Bytes on disk of the store (snapshot + journal)', (s) => s.journalBytes + s.snapshotBytes);
  // Totals kept by the store or the audit log, read at scrape time.
  const total = (name: string, help: string, read: () => Promise<number> | number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      async collect() {
        const n = await read();
        this.reset();
        this.inc(n);
      },
    });
  total('scim_bridge_store_compactions_total', 'Snapshot rewrites of the embedded store since start (each serialises the whole store in the background)', () => stats?.compactions ?? 0);
  total('scim_bridge_audit_records_lost_total', 'Audit records of refused requests and admin actions the audit log could not write since start (records of changes wait in the store journal instead: see scim_bridge_audit_behind)', () => sources.auditRecordsLost());
  total('scim_bridge_audit_records_left_out_total', 'Audit records left out of their store commit since start because they were not valid (a defect: report it)', () => stats?.auditRecordsLeftOut ?? 0);
  gauge('scim_bridge_audit_behind', '1 while the audit log refuses the store\'s records; they wait in the store journal and are written once it accepts them', (s) => (s.auditBehind ? 1 : 0));
  const live = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  if (sources.inFlight) {
    const inFlight = sources.inFlight;
    live('scim_bridge_scim_requests_in_flight', 'SCIM requests admitted and not yet answered (capped per token by concurrencyPerToken)', () => inFlight.requests());
    live('scim_bridge_request_body_bytes_in_flight', 'Bytes of SCIM request bodies reserved by requests being read or processed (at most limits.bodyBudgetBytes)', () => inFlight.bodyBytes());
  }
  new Gauge({
    name: 'scim_bridge_connector_up',
    help: '1 when the connector instance runs, 0 when it failed to start (see the console)',
    labelNames: ['connector', 'connection'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of sources.connectors()) this.set({ connector: c.id, connection: c.connection }, c.state === 'running' ? 1 : 0);
    },
  });

  return {
    registry,
    scimResponse(o) {
      const resource = resourceOf(o.path);
      requests.inc({ method: o.method, resource, status: String(o.status), connection: o.connection ?? '' });
      latency.observe({ method: o.method, resource }, o.ms / 1000);
    },
    delivery(connector, result) {
      deliveries.inc({ connector, result });
    },
    async render() {
      try {
        stats = await sources.stats();
        storeUp = 1;
      } catch {
        storeUp = 0;
      }
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
