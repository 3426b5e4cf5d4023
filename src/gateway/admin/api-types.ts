/**
 * The JSON shapes of the admin API (docs/console.md). Imported by the console (src/renderer) as
 * types only, so this file imports nothing: it must type-check in a browser build too.
 */

export interface ApiErrorBody {
  error: {
    /** Machine-readable: `unauthenticated`, `csrf`, `locked`, `invalid`, `not_found`, `conflict`, `not_available`, ... */
    code: string;
    /** A sentence for the admin: what went wrong and what to do. */
    message: string;
    /** Which field of the body was wrong (dot path), for forms. */
    field?: string;
  };
}

export interface SessionInfo {
  authenticated: boolean;
  /** No admin account exists yet: the console shows the first-run wizard. */
  setupRequired: boolean;
  user?: { username: string; hasPassword: boolean };
  csrfToken?: string;
  /** ISO time the session ends if idle. */
  expiresAt?: string;
  idleMinutes?: number;
}

export interface TrafficPoint {
  /** ISO minute. */
  minute: string;
  requests: number;
  errors: number;
}

export interface LastRequest {
  at: string;
  method: string;
  path: string;
  status: number;
  /** The error detail the IdP was told (4xx/5xx). */
  detail?: string;
  tokenName?: string;
}

export interface ConnectionStatus {
  name: string;
  /** The IdP made its first authenticated call (Onyx's "Connected"). */
  connected: boolean;
  firstRequestAt?: string;
  lastRequest?: LastRequest;
  activeTokens: number;
  users: number;
  groups: number;
  outbox: { pending: number; failing: number; dead: number };
  /** Last 60 minutes, oldest first. */
  traffic: TrafficPoint[];
  connectors: Array<{ id: string; type: string; state: 'running' | 'failed' | 'stopped'; error?: string; since?: string }>;
}

export interface KeychainState {
  /** `keychain`: OS keychain; `file`: the encrypted file; `not-configured`: no secret store wired in. */
  state: 'keychain' | 'file' | 'not-configured' | 'unavailable' | string;
  /** A sentence for the admin: where the secrets are, or the fallback's warning. */
  message: string;
  /** Set when the secrets are not where the configuration wanted them (the keychain was unreachable) or cannot be read. */
  warning?: boolean;
  /** What the configuration asked for: `auto`, `keychain` or `file`. */
  requested?: string;
  /** Where, in one line (the keychain's name, or the encrypted file and its key file). */
  location?: string;
  /** Why the keychain is not used, when `auto` fell back to the file. */
  fallbackReason?: string;
}

export interface StatusInfo {
  version: string;
  scimUrl: string;
  adminUrl: string;
  dataDir: string;
  startedAt: string;
  store: { users: number; groups: number; outboxPending: number; outboxDead: number };
  /** All connections together, last 60 minutes. */
  traffic: TrafficPoint[];
  connections: ConnectionStatus[];
  /** Targets that connectors of more than one connection write to: the admin should know. */
  sharedTargets: SharedTargetInfo[];
  keychain: KeychainState;
  /** The audit chain: the last check the console ran, or the one made when the gateway started (`fromStart`). */
  audit: { ok: boolean; records?: number; problem?: string; checkedAt: string; fromStart?: boolean };
  /** Whether the audit log keeps up, since the gateway started. */
  auditHealth: {
    /** Records of refused requests and admin actions the audit log could not write (a full disk, mostly). */
    lost: number;
    /** The audit log refuses the store's records: they wait in the journal until it accepts them. */
    behind: boolean;
    /** Records left out of their commit because they were not valid (a defect). */
    leftOut: number;
  };
}

export type TokenState = 'active' | 'grace' | 'expired' | 'revoked';

export interface TokenInfo {
  id: string;
  name: string;
  connection: string;
  /** The first characters, safe to show (`scb_AbCd`). */
  prefix: string;
  createdAt: string;
  expiresAt?: string;
  lastUsedAt?: string;
  revokedAt?: string;
  replacedBy?: string;
  state: TokenState;
}

/** The only answer that ever carries a token's value. */
export interface CreatedTokenInfo {
  token: TokenInfo;
  value: string;
  previous?: TokenInfo;
}

/** One mapped target attribute: a SCIM path, or a rule (provisioning/connectors.ts mappingRuleSchema). */
export type MappingRuleView =
  | string
  | {
      path?: string;
      const?: string | number | boolean;
      concat?: string[];
      separator?: string;
      transform?: 'lowercase' | 'uppercase' | 'trim';
      default?: string | number | boolean;
    };

export interface ConnectorConfigView {
  id: string;
  type: string;
  /** Secret fields are `{ "$secret": true }` when set, or an `{ "$env": NAME }` reference; never a value. */
  config: Record<string, unknown>;
  /** `async` (default): through the outbox after the SCIM response; `sync`: the SCIM response waits for the target. */
  mode: 'async' | 'sync';
  mapping: Record<string, MappingRuleView>;
}

export interface ConnectionInfo {
  name: string;
  /** `config`: from the config file, read-only here. `runtime`: managed from the console. */
  source: 'config' | 'runtime';
  /** Exists for tokens (access.json) but has never been configured: default policies, no connectors. */
  implicit?: boolean;
  policies: Record<string, unknown>;
  connectors: ConnectorConfigView[];
  firstRequestAt?: string;
  activeTokens: number;
  updatedAt?: string;
}

export interface ConnectorTypeInfo {
  type: string;
  displayName: string;
  version: string;
  description: string;
  capabilities: Record<string, boolean>;
  /** JSON Schema (draft 2020-12) of the config, as the form is built from it; secret fields carry `secret: true`. */
  configSchema: Record<string, unknown>;
  secretFields: Array<{ path: string; required: boolean }>;
  /** What an instance sends unless its own mapping changes it: the type's default mapping, else the gateway's. */
  defaultMapping: Record<string, string>;
}

/** Whether a secret field of a saved connector has a value; never the value. */
export interface SecretFieldState {
  path: string;
  required: boolean;
  /** A value is in the secret store (or the field reads an environment variable). */
  set: boolean;
  /** The environment variable the field reads (`{ "$env": NAME }` in the config file). */
  env?: string;
}

export interface ConnectorInfo {
  id: string;
  connection: string;
  source: 'config' | 'runtime';
  type: string;
  displayName: string;
  state: 'running' | 'failed' | 'stopped';
  /** Why it did not start (a missing secret, a bad setting, a target that refused). */
  error?: string;
  /** When it started, or failed to. */
  since?: string;
  lastDeliveryError?: { at: string; message: string };
  /** The running instance's capabilities (some follow its configuration), else its type's. */
  capabilities: Record<string, boolean>;
  config: Record<string, unknown>;
  mode: 'async' | 'sync';
  mapping: Record<string, MappingRuleView>;
  outbox: { pending: number; failing: number; dead: number };
  secrets: SecretFieldState[];
  /** Connectors of other connections write to the same target as this one. */
  sharedTarget?: { target: string; with: Array<{ id: string; connection: string }>; message: string };
}

/** Connectors of different connections that write the same target (equal target identities). */
export interface SharedTargetInfo {
  target: string;
  /** Sorted by connection, then id. */
  connectors: Array<{ id: string; connection: string }>;
  /** Connections among them whose existingAccounts policy is `link`: they take over the others' accounts. */
  linking: string[];
  /** The warning, for the admin. */
  message: string;
}

/** PUT /api/connections/:name/connectors/:id: the connection, and how the saved connector started. */
export interface ConnectorSaved {
  connection: ConnectionInfo;
  connector: { id: string; state: 'running' | 'failed' | 'stopped'; error?: string };
  /** What the admin should know about the saved connector: it shares its target with another connection's. */
  warnings: string[];
}

export interface TestOutcome {
  ok: boolean;
  message: string;
  details?: Record<string, string | number | boolean>;
  durationMs: number;
}

export interface DryRunOutcome {
  kind: string;
  summary: string;
  detailed: boolean;
  requests: Array<{ description: string; detail?: unknown }>;
  /** The mapped user as the connector would receive it. */
  mapped?: unknown;
}

export interface ResourceSummary {
  id: string;
  type: 'User' | 'Group';
  /** userName or displayName. */
  name: string;
  displayName?: string;
  email?: string;
  externalId?: string;
  active?: boolean;
  deactivatedAt?: string;
  /** The product extension's role and user type. */
  role?: string;
  userType?: string;
  memberCount?: number;
  lastModified: string;
}

export interface ResourcePage {
  totalResults: number;
  startIndex: number;
  items: ResourceSummary[];
}

export interface AuditRecordInfo {
  seq: number;
  time: string;
  actor: { kind: string; id: string; name?: string };
  connection?: string;
  action: string;
  resource?: { type: string; id: string; display?: string };
  changes?: Array<{ attribute: string; before?: unknown; after?: unknown }>;
  result: 'success' | 'failure';
  detail?: string;
  requestId?: string;
}

export interface ResourceDetail {
  summary: ResourceSummary;
  connection: string;
  /** The resource as SCIM returns it. */
  resource: Record<string, unknown>;
  links: Array<{ connector: string; key?: string; pending: number; dead: number }>;
  groups?: Array<{ value: string; display?: string }>;
  members?: Array<{ value: string; type?: string; display?: string }>;
  membersTotal?: number;
  audit: AuditRecordInfo[];
  /** What the console may change on a user, and the policies that bound it. */
  edit?: UserEditInfo;
}

export interface UserEditInfo {
  /** Users can be edited here (the gateway's SCIM service is wired into the console). */
  available: boolean;
  /** The connection has group -> role rules or synthetic groups: the role follows the groups and cannot be set by hand. */
  roleFromGroups: boolean;
  /** The connection's last-owner role ('' when off). */
  lastOwnerRole: string;
  defaultRole: string;
  /** Roles the connection's policies name (default, last-owner, rules), as suggestions. */
  knownRoles: string[];
}

/** PATCH /api/connections/:name/users/:id: what may change; what is left out stays. */
export interface UserEditBody {
  role?: string;
  userType?: string;
  active?: boolean;
}

export interface OutboxItem {
  id: string;
  connection: string;
  connector: string;
  resourceType: string;
  resourceId: string;
  /** userName / displayName from the payload, for the list. */
  resourceName?: string;
  kind: string;
  createdAt: string;
  attempts: number;
  nextAttemptAt: string;
  state: 'pending' | 'dead';
  lastError?: string;
}

export interface OutboxPage {
  total: number;
  counts: { pending: number; failing: number; dead: number };
  items: OutboxItem[];
}

export interface AuditPageInfo {
  records: AuditRecordInfo[];
  nextCursor?: string;
}

export interface VerifyOutcome {
  ok: boolean;
  records?: number;
  file?: string;
  line?: number;
  seq?: number;
  reason?: string;
}

export interface JobInfo {
  id: string;
  kind: 'reconcile' | 'outbox-retry' | 'provision';
  state: 'running' | 'done' | 'failed';
  /** Human description of the current step. */
  step: string;
  done: number;
  total: number;
  startedAt: string;
  finishedAt?: string;
  error?: string;
  result?: unknown;
}

export interface DriftReportInfo {
  connector: string;
  connection: string;
  at: string;
  checked: number;
  missing: Array<{ scimId: string; userName: string }>;
  extra: Array<{ key: string; userName?: string }>;
  different: Array<{ scimId: string; key: string; attributes: string[] }>;
  inFlight: number;
  repaired: number;
}

/** The result of "Provision existing users" (a reconciliation with repair, then its deliveries followed). */
export interface ProvisionReport {
  connector: string;
  connection: string;
  /** Users compared with the target. */
  checked: number;
  /** Users the target did not have: a create was queued for each. */
  missing: number;
  /** Users whose account differs: an update was queued for each. */
  different: number;
  /** Target accounts no user of the connection is linked to: reported, never touched. */
  extra: number;
  /** Users with changes already on their way: not compared. */
  inFlight: number;
  /** Outbox entries queued by the repair. */
  repairsQueued: number;
  delivered: number;
  /** Repairs the target refused (dead letters, on the Outbox page). */
  failed: number;
  /** Repairs still waiting (the target is slow or down) when the job stopped following them. */
  waiting: number;
}

export interface GuideContext {
  scimUrl: string;
  /** Set when the gateway knows its public URL (behind a proxy); otherwise the URL is this host's. */
  publicUrlConfigured: boolean;
  /** http:// URLs are refused by the cloud IdPs. */
  https: boolean;
  connections: string[];
}

export interface TestRequestCheck {
  name: string;
  method: 'GET';
  url: string;
  ok: boolean;
  status?: number;
  durationMs: number;
  /** What went wrong, in words (the SCIM error detail, or the network error). */
  error?: string;
  /** e.g. "ListResponse with 3 users". */
  summary?: string;
}

export interface TestRequestOutcome {
  ok: boolean;
  baseUrl: string;
  checks: TestRequestCheck[];
  /** The connection the token belongs to, when it is one of this gateway's. */
  connection?: string;
}

/** A console admin account as the admin accounts page shows it (never the password hash). */
export interface AdminAccountInfo {
  username: string;
  createdAt: string;
  /** The admin who added it from the console; absent for the first account. */
  createdBy?: string;
  /** False for the desktop app's account until a password is set. */
  hasPassword: boolean;
  lastSignInAt?: string;
  /** The client address of that sign-in, or "the desktop app". */
  lastSignInFrom?: string;
  /** The account of this session. */
  you: boolean;
}
