/**
 * Builds and runs the gateway: the SCIM listener (/scim/v2) and the admin listener (loopback by
 * default: health, readiness; the console arrives there too). Used by `scim-bridge serve` and,
 * in-process, by the Electron shell and the tests.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import express from 'express';
import pino, { type Logger } from 'pino';
import { TokenVerifier, createInFlightLimits, createProxyTrust, createRequestGuard, isLoopbackBind } from './auth/index.js';
import type { GatewayConfig } from './config.js';
import { assertPrivateDataDir } from './data-dir.js';
import {
  createScimHandler,
  createSchemaRegistry,
  createScimService,
  type ScimService,
  ScimError,
  SCIM_PREFIX,
  writeScimError,
  type RequestOutcome,
  type ScimAuthenticator,
} from './scim/index.js';
import { createLowdbStore, createPostgresStore, readInstanceId, type AuditSink, type Store, type StoreStats } from './store/index.js';
import {
  builtInConnectorTypes,
  classifyConnectorFailure,
  connectorLogger,
  createOutboxWorker,
  auditDraftForDelivery,
  auditDraftForRefusal,
  createPolicyEngine,
  createProvisioningEffects,
  createReconciler,
  createConnectionRegistry,
  createPreCommit,
  createHookLookup,
  ensureSyntheticGroups,
  type ConnectionRegistry,
  type SecretSource,
  type ConnectorInstance,
  type DriftReport,
  type OutboxWorker,
} from './provisioning/index.js';
import { latestBackup, startJobs, type Jobs } from './jobs/index.js';
import type { ConnectorDefinition } from '../../connectors/sdk/index.js';
import { openSecretStore, type KeychainChildLauncher, type SecretStore } from './secrets/index.js';
import { createMetrics } from './metrics/index.js';
import { createAuditLog, prepareDraft, type AuditDraft, type AuditLog } from './audit/index.js';
import { adminHostCheck, createAdminConsole, type AdminConsole, type AdminOptions } from './admin/index.js';

export const DOCS_URL = 'https://github.com/scim-bridge/scim-bridge/tree/main/docs';

export interface Gateway {
  /** e.g. http://127.0.0.1:8080/scim/v2 */
  scimUrl: string;
  adminUrl: string;
  store: Store;
  jobs: Jobs;
  /** Reconciles one connector now; `repair` queues the operations that fix the drift. */
  reconcile(connector: string, repair?: boolean): Promise<DriftReport>;
  /** The last reconciliation report of each connector. */
  reconciliations: Map<string, DriftReport>;
  /** The tamper-evident audit log of every change. */
  audit: AuditLog;
  /** Connector instances by id, and the worker that delivers to them. */
  connectors: Map<string, ConnectorInstance>;
  /** Connections: config-file ones (read-only) and console-managed ones; connector status. */
  connections: ConnectionRegistry;
  /** Where connector secrets live (keychain or encrypted file): set, delete, list accounts, describe. */
  secrets?: SecretStore;
  /**
   * The SCIM operations, for the admin API: an admin's edit goes through the same policies,
   * outbox and audit as the IdP's, with an `admin` actor; the later write wins (Scalekit).
   */
  scim: ScimService;
  outbox: OutboxWorker;
  logger: Logger;
  /** The console: the desktop app's one-time local login link, and the first-run setup code `serve` prints. */
  admin: Pick<AdminConsole, 'issueLocalLogin' | 'setupCode'>;
  /** Stops accepting requests, lets in-flight ones finish, flushes the store. */
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Injected store (tests, PostgreSQL later); defaults to the embedded lowdb store in dataDir. */
  store?: Store;
  /** Where connector secrets live (the keychain-backed secret store). */
  secrets?: SecretSource;
  /** Connector types beyond the built-in ones (an embedding app's own; tests' targets). */
  connectorTypes?: Map<string, () => ConnectorDefinition<unknown>>;
  /** Console session and lockout timings (tests). */
  admin?: AdminOptions;
  /** Both listeners' limits on slow clients (tests shorten them). */
  listenerTimeouts?: ListenerTimeouts;
  /** How the keychain check's child process starts (the desktop app: an Electron utility process). */
  launchKeychainChild?: KeychainChildLauncher;
}

export interface ListenerTimeouts {
  /** A request's headers must arrive within this (default 30 s). */
  headersMs?: number;
  /** A whole request must arrive within this (default 60 s). */
  requestMs?: number;
}

/**
 * The options both listeners are created with: a client that sends its headers or body slowly
 * (slowloris) is cut off instead of holding a socket. Node checks the deadlines every
 * `connectionsCheckingInterval`, so that is kept well under the header deadline.
 */
function listenerOptions(t: ListenerTimeouts = {}) {
  const headersTimeout = t.headersMs ?? 30_000;
  return { requestTimeout: t.requestMs ?? 60_000, headersTimeout, connectionsCheckingInterval: Math.max(50, Math.min(5_000, Math.floor(headersTimeout / 4))), maxHeaderSize: 32 * 1024 };
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Compares secrets in constant time (length differences still return early, and leak only the length). */
function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Reads the SCIM listener's certificate and key; the error names the file that cannot be used. */
function readTlsFiles(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`Cannot read the TLS ${what} ${file} (tls${what === 'certificate' ? 'Cert' : 'Key'}): ${(err as Error).message}`);
    }
  };
  return { cert: read(certFile, 'certificate'), key: read(keyFile, 'private key') };
}

function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

export async function startGateway(config: GatewayConfig, opts: StartOptions = {}): Promise<Gateway> {
  // Before anything is read from it: a directory others could write to holds nothing to trust.
  assertPrivateDataDir(config.dataDir);
  const logger =
    opts.logger ??
    pino({ level: config.logLevel, redact: { paths: ['req.headers.authorization', 'headers.authorization', 'token', 'password', '*.password'], censor: '[redacted]' } });
  // store: postgres (several instances on one database): the store keeps the audit chain in the
  // database too, one chain for every instance, and is the audit log. Its password: the URL's,
  // PGPASSWORD, or the secret store's `store:databasePassword`.
  const pgStore =
    !opts.store && config.store === 'postgres'
      ? createPostgresStore({
          url: config.databaseUrl!,
          logger,
          leaseMs: config.outboxLeaseSeconds * 1000,
          timeoutMs: config.databaseTimeoutSeconds * 1000,
          // stable across restarts: a restarted instance takes back its own deliveries at once
          instanceId: readInstanceId(config.dataDir),
          password: async () => {
            const secrets = await openSecretStore({ dataDir: config.dataDir, backend: config.secretsBackend, ...(config.secretsKeyFile ? { keyFile: config.secretsKeyFile } : {}), ...(opts.launchKeychainChild ? { launchKeychainChild: opts.launchKeychainChild } : {}), logger });
            try {
              return await secrets.get('store:databasePassword');
            } finally {
              await secrets.close();
            }
          },
        })
      : undefined;
  // The audit log opens first: the store hands it the records of durable commits, and at open the
  // records a crash left in the journal only.
  const audit = pgStore?.auditLog ?? createAuditLog({ dataDir: config.dataDir, logger });
  await audit.open();
  const auditSink: AuditSink = {
    lastSeq: () => audit.lastStoreSeq(),
    // The journal already holds these records durably: no fsync per append, one before the
    // journal segments that hold them are dropped.
    append: async (commits) => {
      const drafts: AuditDraft[] = [];
      for (const { seq, records } of commits) for (const r of records) drafts.push({ ...(r as AuditDraft), storeSeq: seq });
      await audit.append(drafts, { durable: false, prepared: true });
    },
    sync: () => audit.sync(),
    prepare: prepareDraft,
  };
  const store = opts.store ?? pgStore ?? createLowdbStore({ dataDir: config.dataDir, logger, auditSink });
  try {
    await store.open();
  } catch (err) {
    // Name the way back: the newest backup and the command that restores it.
    await audit.close().catch(() => undefined);
    if (pgStore) throw err; // the database is unreachable or refused: a lowdb backup is no way back
    const backup = await latestBackup(config.dataDir).catch(() => undefined);
    const hint = backup
      ? ` The last backup is ${backup.dir} (taken ${backup.takenAt.toISOString()}): scim-bridge restore --from "${backup.dir}" --data-dir "${config.dataDir}"`
      : ' There is no backup in the data directory yet.';
    throw new Error(`${(err as Error).message}${hint}`);
  }
  // Refusals change nothing in the store, so they go to the audit log directly. Recording must
  // never stop provisioning: a failed append is logged loudly.
  const record = (draft: AuditDraft): Promise<void> =>
    audit.append([draft]).then(
      () => undefined,
      (err: unknown) => logger.error({ err, action: draft.action }, 'AUDIT RECORD LOST: the audit log could not be written'),
    );
  const tokens = new TokenVerifier(config.dataDir, (err) => logger.error({ err }, 'could not read access.json: every SCIM token is refused until it can'));
  tokens.ensureInitialized();
  tokens.start();

  const registry = createSchemaRegistry();
  // Connector secrets: the OS keychain, or the encrypted file where none is reachable.
  let secretStore: SecretStore | undefined;
  if (!opts.secrets) {
    secretStore = await openSecretStore({ dataDir: config.dataDir, backend: config.secretsBackend, ...(config.secretsKeyFile ? { keyFile: config.secretsKeyFile } : {}), ...(opts.launchKeychainChild ? { launchKeychainChild: opts.launchKeychainChild } : {}), logger });
  }
  const secrets: SecretSource | undefined = opts.secrets ?? secretStore;
  // Connections (config file + console-managed), their policies and connector instances.
  let worker: OutboxWorker | undefined;
  let service: ScimService | undefined;
  const connectorTypes = new Map([...builtInConnectorTypes(), ...(opts.connectorTypes ?? [])]);
  const connections = createConnectionRegistry({
    dataDir: config.dataDir,
    configured: config.connections,
    types: connectorTypes,
    resolver: registry.resolver('User'),
    store,
    ...(secrets ? { secrets } : {}),
    loggerFor: (id) => connectorLogger(logger, id),
    logger,
    onConnection: (name) => {
      tokens.ensureConnection(name);
      if (service) void ensureSyntheticGroups(service, name, connections.policyOf(name)).catch((err: unknown) => logger.error({ err, connection: name }, 'could not create the synthetic role groups'));
    },
    onConnectorsChanged: () => worker?.kick(),
  });
  await connections.start();
  // What slow requests may pin: each token's requests in progress, and the bodies being read.
  const inFlight = createInFlightLimits({ bodyBudgetBytes: config.limits.bodyBudgetBytes, perToken: config.concurrencyPerToken });
  const metrics = createMetrics({ stats: () => store.stats(), connectors: () => connections.status(), auditRecordsLost: () => audit.recordsLost(), inFlight });
  const connectors = connections.instances;
  worker = createOutboxWorker({
    store,
    target: (id) => connections.target(id),
    classify: classifyConnectorFailure,
    logger,
    maxAttempts: config.outboxMaxAttempts,
    maxDelayMs: config.outboxMaxDelaySeconds * 1000,
    recordFor: (entry, outcome) => {
      metrics.delivery(entry.connector, outcome.ok ? 'success' : outcome.dead ? 'dead' : 'retry');
      return { op: 'audit', records: [auditDraftForDelivery(entry, outcome)] };
    },
  });
  // Reconciliation reports (and with reconcileRepair, repairs) drift between targets and the gateway.
  const reconciler = createReconciler({ store, connectors, logger, onRepairsQueued: () => worker.kick() });
  const jobs = startJobs({
    store,
    dataDir: config.dataDir,
    audit,
    config: {
      backupCron: config.backupCron,
      backupKeep: config.backupKeep,
      auditCron: config.auditCron,
      auditRetentionDays: config.auditRetentionDays,
      reconcileCron: config.reconcileCron,
      retrySweepCron: config.retrySweepCron,
    },
    sweepOutbox: async () => {
      worker.kick();
      return store.outboxList({ state: 'pending' });
    },
    reconcileAll: () => reconciler.runAll(config.reconcileRepair),
    logger,
  });
  service = createScimService({
    store,
    registry,
    // Each SCIM change commits with its connector operations and its audit record, scoped to the token.
    effects: createProvisioningEffects((connection) => connections.connectorsOf(connection), worker, {
      audit: true,
      policyFor: (c) => connections.policyOf(c),
      prepare: createPreCommit({
        store,
        connectorsOf: (c) => connections.connectorsOf(c),
        instance: (id) => connections.instances.get(id),
        peersOf: (id) => connections.peersOf(id),
        target: (id) => connections.target(id),
        isSync: (id) => connections.connectorConfig(id)?.mode === 'sync',
        policyFor: (c) => connections.policyOf(c),
        logger,
      }),
    }),
    policy: createPolicyEngine(store, registry.resolver('User'), (connection) => connections.policyOf(connection)),
    hookFor: createHookLookup((c) => connections.policyOf(c), logger),
    limits: { patch: { maxOperations: config.limits.patchMaxOperations, maxMembersPerRequest: config.limits.patchMaxMembers }, maxResults: config.limits.maxResults },
  });
  for (const c of connections.list()) await ensureSyntheticGroups(service, c.name, c.policies);

  const auth: ScimAuthenticator = {
    authenticate(header) {
      const r = tokens.verify(header);
      if (r.ok) return { ok: true, connection: r.connection.id, tokenId: r.token.id, tokenName: r.token.name };
      const detail = {
        missing: 'Authentication required: send "Authorization: Bearer <token>" with a token from `scim-bridge token create`.',
        malformed: 'The Authorization header must be "Bearer scb_…" with a SCIM Bridge token.',
        unknown: 'The bearer token is not valid for this gateway.',
        revoked: 'The bearer token has been revoked; create a new one.',
        expired: 'The bearer token has expired; create a new one.',
        unavailable: 'The gateway cannot check tokens right now (its token file is unreadable); retry later.',
      }[r.reason];
      // Not the client's fault, and a 401 would make some IdPs disable the app: 503, retry later.
      if (r.reason === 'unavailable') return { ok: false, detail, status: 503, retryAfterSeconds: 30 };
      return { ok: false, detail };
    },
  };

  let draining = false;
  let scimBase = '';
  let adminUrl = '';
  // One reading of X-Forwarded-* for both listeners: the client is the right-most untrusted hop.
  const proxy = createProxyTrust(config.trustProxy);
  // The console: its API reads the same store, audit log and registry the SCIM side writes.
  const adminConsole = createAdminConsole(
    {
      config,
      proxy,
      store,
      audit,
      registry,
      outbox: worker,
      connectors,
      connectorTypes,
      connections: () => connections,
      secrets: () => secretStore ?? opts.secrets,
      // Console edits of users go through the same SCIM service (policies, outbox, audit).
      scim: () => service,
      reconcile: (connector, repair) => reconciler.run(connector, repair),
      reconciliations: reconciler.reports,
      tokens,
      scimUrl: () => scimBase,
      adminUrl: () => adminUrl,
      logger,
    },
    opts.admin,
  );
  // Location and meta.location must be what the IdP can reach: the configured public URL, else
  // the Host the request came to (X-Forwarded-Proto/Host as our trusted proxy set them).
  const baseUrl = (req: IncomingMessage): string => {
    if (config.publicUrl) return config.publicUrl.replace(/\/+$/, '') + SCIM_PREFIX;
    const proto = proxy.forwarded(req, 'x-forwarded-proto')?.toLowerCase() || ((req.socket as TLSSocket).encrypted ? 'https' : 'http');
    const host = proxy.forwarded(req, 'x-forwarded-host') || req.headers.host;
    return host && /^[A-Za-z0-9.:[\]-]+$/.test(host) && /^https?$/.test(proto) ? `${proto}://${host}${SCIM_PREFIX}` : scimBase;
  };
  // Every refusal is logged with its detail (what the IdP was told); successes only at debug level.
  const onResponse = (o: RequestOutcome) => {
    adminConsole.recordScimResponse(o);
    metrics.scimResponse(o);
    if (o.status >= 500) logger.error(o, 'SCIM request failed');
    else if (o.status >= 400 && o.status !== 404) logger.info(o, 'SCIM request refused');
    else logger.debug(o, 'SCIM request');
    // Refused writes are audited too (a probe's 404 on GET is not a write).
    if (o.status >= 400 && o.method !== 'GET' && !o.path.toLowerCase().endsWith('/.search')) void record(auditDraftForRefusal(o));
  };
  const guard = createRequestGuard({
    allowList: config.ipAllowList,
    perToken: config.rateLimitPerToken,
    perIp: config.rateLimitPerIp,
    lockoutFailures: config.lockoutFailures,
    lockoutWindowMs: config.lockoutWindowSeconds * 1000,
    lockoutMs: config.lockoutSeconds * 1000,
  });
  const scimHandler = createScimHandler({ service, limits: config.limits, auth, baseUrl, docsUrl: DOCS_URL, logger, onResponse, guard, clientIp: (req) => proxy.clientAddress(req), inFlight });

  const tls = config.tlsCert && config.tlsKey ? readTlsFiles(config.tlsCert, config.tlsKey) : undefined;
  const serverOptions = listenerOptions(opts.listenerTimeouts);
  const onScimRequest = (req: IncomingMessage, res: ServerResponse): void => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    if (tls) res.setHeader('Strict-Transport-Security', 'max-age=31536000');
    const url = req.url ?? '/';
    if (draining) {
      req.resume();
      res.setHeader('Connection', 'close');
      writeScimError(res, ScimError.unavailable('The gateway is shutting down; retry in a moment.'));
      return;
    }
    if (url.startsWith(SCIM_PREFIX) && (url.length === SCIM_PREFIX.length || url[SCIM_PREFIX.length] === '/' || url[SCIM_PREFIX.length] === '?')) {
      scimHandler(req, res);
      return;
    }
    req.resume();
    if (/^\/(?:scim\/)?v1(?:[/?]|$)/i.test(url)) {
      writeScimError(res, ScimError.invalidVers('SCIM 1.1 is not supported: configure the identity provider for SCIM 2.0 with the base URL ending in /scim/v2.'));
      return;
    }
    if (url === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    writeScimError(res, ScimError.notFound(`Nothing at ${url.split('?')[0]}. The SCIM base URL is ${SCIM_PREFIX}.`));
  };
  let scimServer: Server;
  try {
    scimServer = tls ? createHttpsServer({ ...serverOptions, ...tls, minVersion: 'TLSv1.2' }, onScimRequest) : createServer(serverOptions, onScimRequest);
  } catch (err) {
    throw new Error(`The TLS certificate ${config.tlsCert} and key ${config.tlsKey} cannot be used together: ${(err as Error).message}`);
  }
  scimServer.keepAliveTimeout = 65_000;
  // Certificates are renewed in place (certbot, an internal CA): pick them up without a restart.
  const tlsWatch = () => {
    try {
      (scimServer as HttpsServer).setSecureContext({ ...readTlsFiles(config.tlsCert!, config.tlsKey!), minVersion: 'TLSv1.2' });
      logger.info({ cert: config.tlsCert }, 'TLS certificate reloaded');
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'the new TLS certificate could not be loaded; the previous one stays in use');
    }
  };
  if (tls) {
    watchFile(config.tlsCert!, { interval: 30_000 }, tlsWatch);
    watchFile(config.tlsKey!, { interval: 30_000 }, tlsWatch);
  }

  const adminApp = express();
  adminApp.disable('x-powered-by');
  // Before every route, health and metrics included: a rebound page must reach nothing here.
  let adminPort = 0;
  adminApp.use(adminHostCheck({ bindHost: config.adminHost, allowedHosts: config.adminAllowedHosts }, () => adminPort));
  adminApp.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Prometheus scrapes here; with metricsToken set it must send it as a bearer token.
  adminApp.get('/metrics', async (req, res) => {
    if (config.metricsToken && !safeEqual(req.headers.authorization ?? '', `Bearer ${config.metricsToken}`)) {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="metrics"').type('text/plain').send('metrics need "Authorization: Bearer <metricsToken>"\n');
      return;
    }
    const out = await metrics.render();
    res.set('Content-Type', out.contentType).set('Cache-Control', 'no-store').send(out.body);
  });
  adminApp.get('/readyz', async (_req, res) => {
    if (draining) {
      res.status(503).json({ status: 'draining' });
      return;
    }
    let stats: StoreStats;
    try {
      stats = await store.stats();
    } catch (err) {
      // The store cannot answer (the database is away): not ready, and say why.
      res.status(503).json({ status: 'store unavailable', detail: err instanceof ScimError ? err.detail : 'the store could not be read' });
      return;
    }
    res.json({ status: 'ready', users: stats.users, groups: stats.groups, outbox: { pending: stats.outboxPending, dead: stats.outboxDead } });
  });

  adminApp.use(adminConsole.app);

  const adminServer = createServer(serverOptions, adminApp);
  adminServer.keepAliveTimeout = 65_000;
  worker.start();
  const scimAddr = await listen(scimServer, config.port, config.host);
  const adminAddr = await listen(adminServer, config.adminPort, config.adminHost);
  adminPort = adminAddr.port;
  scimBase = config.publicUrl
    ? config.publicUrl.replace(/\/+$/, '') + SCIM_PREFIX
    : `${tls ? 'https' : 'http'}://${config.host === '0.0.0.0' || config.host === '::' ? hostname() : urlHost(config.host)}:${scimAddr.port}${SCIM_PREFIX}`;
  adminUrl = `http://${urlHost(config.adminHost)}:${adminAddr.port}`;
  if (!isLoopbackBind(config.adminHost)) {
    logger.warn(
      { adminHost: config.adminHost, adminAllowedHosts: config.adminAllowedHosts },
      'the admin listener is bound to a non-loopback address: put it behind a firewall; it answers only to loopback names, its bind address and adminAllowedHosts',
    );
  }

  let stopping: Promise<void> | undefined;
  return {
    scimUrl: scimBase,
    adminUrl,
    store,
    jobs,
    reconcile: (connector, repair = false) => reconciler.run(connector, repair),
    reconciliations: reconciler.reports,
    audit,
    connectors,
    connections,
    ...(secretStore ? { secrets: secretStore } : {}),
    scim: service,
    outbox: worker,
    logger,
    admin: { issueLocalLogin: () => adminConsole.issueLocalLogin(), setupCode: () => adminConsole.setupCode() },
    stop() {
      stopping ??= (async () => {
        draining = true;
        if (tls) {
          unwatchFile(config.tlsCert!, tlsWatch);
          unwatchFile(config.tlsKey!, tlsWatch);
        }
        await Promise.all([closeServer(scimServer, 10_000), closeServer(adminServer, 1_000)]);
        tokens.stop();
        jobs.stop();
        await worker.stop();
        await connections.dispose();
        await store.close(); // hands the last audit records over
        await secretStore?.close();
        await audit.close();
      })();
      return stopping;
    },
  };
}
