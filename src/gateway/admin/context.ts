/**
 * What the admin API needs from the running gateway, and the per-console state its routes share.
 * The interfaces are structural: server.ts hands over its store, audit log, connection registry
 * and secret store, and tests can start a real gateway and reach the same objects.
 */
import type { Request } from 'express';
import type { ConnectorDefinition, ConnectorHost } from '../../../connectors/sdk/index.js';
import type { AuditDraft, AuditLog } from '../audit/index.js';
import type { AdminAccounts, AdminSession, AdminSessions, LocalLoginTokens, LoginThrottle, ProxyTrust, SetupCode } from '../auth/index.js';
import type { GatewayConfig } from '../config.js';
import type { SchemaRegistry, ScimService } from '../scim/index.js';
import type { SecretStoreStatus } from '../secrets/index.js';
import type { Store } from '../store/index.js';
import type { DriftReportInfo } from './api-types.js';
import type { JobRunner } from './jobs.js';
import type { TrafficRecorder } from './traffic.js';

/** A connection as the registry shows it (secret values removed). */
export interface ConnectionViewLike {
  name: string;
  source: 'config' | 'runtime';
  policies: Record<string, unknown>;
  /** Each connector instance as configured (secrets as references); fields the console does not know are kept as they are. */
  connectors: Array<{ id: string; type: string; config?: unknown; mode?: string; mapping?: Record<string, unknown>; [setting: string]: unknown }>;
  updatedAt?: string;
}

/** The runtime connections contract (provisioning/connections.ts implements it). */
export interface ConnectionsApi {
  list(): ConnectionViewLike[];
  get(name: string): ConnectionViewLike | undefined;
  /** Throws an Error (with `status` 400/404/409) whose message says why, e.g. "managed by the config file". */
  upsert(name: string, spec: { policies: Record<string, unknown>; connectors: unknown[] }): Promise<ConnectionViewLike>;
  remove(name: string): Promise<void>;
  policyOf?(name: string): Record<string, unknown>;
  connectorsOf?(name: string): readonly string[];
  status?(): Array<{ id: string; connection: string; type: string; state: string; error?: string; since?: string }>;
  /** A saved connector's configuration as stored (secret fields are references). */
  connectorConfig?(id: string): { type: string; config?: unknown } | undefined;
  /** Targets that connectors of more than one connection write to. */
  sharedTargets?(): Array<{ target: string; connectors: Array<{ id: string; connection: string }>; linking: string[] }>;
}

/**
 * The secret store as the console uses it (secrets/ SecretStore): whether a secret is set, where
 * secrets live. Values go in through the connection registry; the console never reads one back
 * (`get` serves only Test connection of a saved connector, inside the gateway).
 */
export interface SecretsApi {
  set?(account: string, value: string): Promise<void>;
  get?(account: string): Promise<string | undefined>;
  has?(account: string): Promise<boolean>;
  /** Which backend, why, and where (secrets/ SecretStoreStatus). */
  describe?(): SecretStoreStatus;
}

/**
 * The SCIM operations the console's user edits go through: the same policies, hook, outbox and
 * audit as an identity provider's write, with the admin as actor.
 */
export type ScimWriteApi = Pick<ScimService, 'patch'>;

/** A running connector instance (provisioning/connectors.ts ConnectorInstance). */
export interface ConnectorInstanceLike {
  id: string;
  connection: string;
  host: ConnectorHost<unknown>;
  mapUser(scimId: string, resource: Record<string, unknown>): unknown;
}

/** The outbox worker's console verbs. */
export interface OutboxApi {
  retry(id: string): Promise<void>;
  discard(id: string): Promise<void>;
}

/** The token verifier: a console check that must not count as the IdP's first call; a revoke that must hold before the answer. */
export interface TokenActivity {
  unrecorded<T>(fn: () => Promise<T>): Promise<T>;
  /** Reads access.json now, so an edit just made is enforced from the next request on. */
  refresh(): void;
}

export interface AdminDeps {
  config: Pick<GatewayConfig, 'dataDir' | 'adminHost' | 'publicUrl'>;
  /** Who the client is behind trusted proxies (the same reading the SCIM listener uses). */
  proxy: ProxyTrust;
  store: Store;
  audit: AuditLog;
  registry: SchemaRegistry;
  outbox: OutboxApi;
  /** Live map of running connector instances. */
  connectors: Map<string, ConnectorInstanceLike>;
  connectorTypes: Map<string, () => ConnectorDefinition<unknown>>;
  /** The runtime connection registry, when this gateway has one. */
  connections?: () => ConnectionsApi | undefined;
  secrets?: () => SecretsApi | undefined;
  /** The gateway's SCIM service (server.ts `scim`); without it, users cannot be edited from the console. */
  scim?: () => ScimWriteApi | undefined;
  reconcile(connector: string, repair: boolean): Promise<DriftReportInfo>;
  reconciliations: Map<string, DriftReportInfo>;
  tokens?: TokenActivity;
  /** The SCIM base URL identity providers use (known once the SCIM listener is bound). */
  scimUrl(): string;
  /** The console's own URL (known once the admin listener is bound). */
  adminUrl(): string;
  logger: { info(o: object, msg?: string): void; warn(o: object, msg?: string): void; error(o: object, msg?: string): void };
}

export interface AdminOptions {
  sessionIdleMs?: number;
  sessionAbsoluteMs?: number;
  setupCodeTtlMs?: number;
  localLoginTtlMs?: number;
  lockout?: { maxFailures?: number; windowMs?: number };
  /** Where the built console is; defaults to dist/renderer of this checkout. */
  consoleDir?: string;
  now?: () => number;
}

/** Per-console state shared by the routes. */
export interface AdminContext {
  deps: AdminDeps;
  accounts: AdminAccounts;
  sessions: AdminSessions;
  throttle: LoginThrottle;
  setup: SetupCode;
  localLogins: LocalLoginTokens;
  traffic: TrafficRecorder;
  jobs: JobRunner;
  startedAt: Date;
  /** The last audit-chain verification the console ran (the status page shows it). */
  auditCheck?: { ok: boolean; records?: number; problem?: string; checkedAt: string; fromStart?: boolean };
  /** Records an admin action in the audit log, as the signed-in admin. */
  record(req: Request, draft: Omit<AuditDraft, 'actor'>): Promise<void>;
}

/** The session a route runs under (set by the session middleware). */
export function sessionOf(req: Request): AdminSession {
  const s = (req as Request & { adminSession?: AdminSession }).adminSession;
  if (!s) throw new Error('route mounted without the session middleware');
  return s;
}

export function setSession(req: Request, session: AdminSession): void {
  (req as Request & { adminSession?: AdminSession }).adminSession = session;
}
