/**
 * The connector contract: manifest, neutral model, the Connector interface and the operations the
 * host applies. Kept free of gateway imports: the gateway depends on the SDK, never the reverse.
 */
import type { z } from 'zod';

/** The target's own identifier for an entry: an LDAP DN, a row id, a REST resource id, a CSV key. */
export type TargetKey = string;

/** A mapped attribute value: what attribute mapping may produce from SCIM JSON. */
export type TargetValue = string | number | boolean | string[] | null;

/** A user after attribute mapping: target attribute names, flat values. */
export interface TargetUser {
  /** The SCIM id in the gateway; stable for the life of the user. */
  scimId: string;
  externalId?: string;
  userName: string;
  active: boolean;
  /** Target attribute name -> value; `null` means "clear it in the target". */
  attributes: Record<string, TargetValue>;
  /** Only present when the manifest declares the `passwords` capability and the IdP sent one. */
  password?: string;
}

/** A group after attribute mapping; membership travels separately as target keys. */
export interface TargetGroup {
  scimId: string;
  displayName: string;
  attributes: Record<string, TargetValue>;
}

/** The capabilities a connector may declare; each one (except `passwords`) requires methods. */
export interface ConnectorCapabilities {
  create?: boolean;
  update?: boolean;
  deactivate?: boolean;
  reactivate?: boolean;
  delete?: boolean;
  /** upsertGroup + deleteGroup. */
  groups?: boolean;
  /** addMembers + removeMembers; needs `groups`. */
  membership?: boolean;
  /** listUsers, for nightly reconciliation. */
  read?: boolean;
  /** findUser, for claim protection before a create. */
  lookup?: boolean;
  /** preview, for the console's dry-run; without it the host shows a generic description. */
  dryRun?: boolean;
  /** The connector wants the user's password; without it the host strips `password`. */
  passwords?: boolean;
}

/** Name of a capability. */
export type Capability = keyof ConnectorCapabilities;

/** What a connector declares about itself; read by the console and checked at start-up. */
export interface ConnectorManifest<C> {
  /** Kebab-case id, unique among connectors: `ldap`, `sql`, `my-erp`. */
  type: string;
  displayName: string;
  /** Semver of the connector itself. */
  version: string;
  description: string;
  /** Validates the instance configuration; mark secret fields with `secret()`. */
  configSchema: z.ZodType<C>;
  capabilities: ConnectorCapabilities;
  /**
   * Target attribute -> SCIM attribute path (`name.familyName`, `emails[type eq "work"].value`,
   * `urn:...:enterprise:2.0:User:department`): the mapping an instance of this type starts from,
   * in the target's own vocabulary (LDAP `sn`, a SQL column). An instance's `mapping` overrides
   * it key by key. Without it the gateway's generic mapping applies (see docs/connectors.md).
   */
  defaultMapping?: Record<string, string>;
  /**
   * Where an instance with this configuration points (secret fields absent), normalized so that
   * two configurations compare as strings. The gateway uses it to find instances of different
   * connections that write the same accounts (claim protection across connections, a warning to
   * the admin), and to decide when saved secrets must be typed again: a secret is only sent to the
   * endpoints it was entered for. Without it, any change of the configuration needs the secrets
   * again. See docs/connectors.md.
   */
  targetIdentity?(config: C): TargetIdentity;
}

/** What `targetIdentity` returns: normalized (lower-case scheme and host, port spelled out). */
export interface TargetIdentity {
  /**
   * The accounts the instance writes, e.g. `ldap://dir.example.org:389/dc=example,dc=org`:
   * instances of any type with the same `target` are taken to write the same accounts.
   */
  target: string;
  /**
   * Every endpoint the instance sends a secret to (servers, a token URL, a command line); just
   * `[target]` when left out.
   */
  endpoints?: string[];
}

/** Structured log calls; the host redacts secrets from the message and the fields. */
export interface ConnectorLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Read access to the instance's secrets (OS keychain behind it); field = dot path in the config. */
export interface SecretReader {
  get(field: string): Promise<string | undefined>;
}

/** What `init` receives. `config` is parsed and has its secret fields removed. */
export interface InitContext<C> {
  config: C;
  secrets: SecretReader;
  logger: ConnectorLogger;
}

/** What every operation receives. */
export interface OperationContext {
  /** Stable across retries of the same operation: use it as an idempotency key where the target has one. */
  operationId: string;
  /** 1 on the first try. */
  attempt: number;
  logger: ConnectorLogger;
}

/** Result of `test()`: the console shows `message` as is, so name the host, bind DN, database... */
export interface TestResult {
  ok: boolean;
  message: string;
  details?: Record<string, string | number | boolean>;
}

/** What a write returns: the key the gateway links to the SCIM id (it may change on rename). */
export interface KeyResult {
  key: TargetKey;
}

/** One request the connector would send, for the dry-run view. */
export interface PreviewRequest {
  /** e.g. "LDAP modify uid=ada,ou=people,dc=example,dc=org". */
  description: string;
  /** e.g. the LDAP change list, `{ sql, params }`, `{ method, url, body }`. */
  detail?: unknown;
}

/** What `preview(op)` returns. */
export interface Preview {
  summary?: string;
  requests: PreviewRequest[];
}

/** Entry returned by `listUsers` and `findUser`. */
export interface TargetEntry {
  key: TargetKey;
  user: Partial<TargetUser>;
}

/**
 * The interface a connector implements. Optional methods are capabilities: the manifest declares
 * them and `validateConnector` checks, at start-up, that every declared one is implemented.
 * Throw TransientError / PermanentError / ConflictError / NotFoundError / AlreadyExistsError;
 * anything else is classified by the host.
 */
export interface Connector<C> {
  /** Called once with the parsed config; open pools here, but do not fail on a down target. */
  init(ctx: InitContext<C>): Promise<void>;
  /** The console's "Test connection": never throw, explain. */
  test(): Promise<TestResult>;
  dispose(): Promise<void>;

  createUser?(user: TargetUser, ctx: OperationContext): Promise<KeyResult>;
  /** Send the desired state; return the new key if it changed (LDAP rename). */
  updateUser?(key: TargetKey, user: TargetUser, ctx: OperationContext): Promise<KeyResult | void>;
  deactivateUser?(key: TargetKey, user: TargetUser, ctx: OperationContext): Promise<KeyResult | void>;
  reactivateUser?(key: TargetKey, user: TargetUser, ctx: OperationContext): Promise<KeyResult | void>;
  deleteUser?(key: TargetKey, ctx: OperationContext): Promise<void>;

  /** Create when `key` is undefined or missing in the target, otherwise update. */
  upsertGroup?(group: TargetGroup, key: TargetKey | undefined, ctx: OperationContext): Promise<KeyResult>;
  deleteGroup?(key: TargetKey, ctx: OperationContext): Promise<void>;
  /** Adding a member already present is a no-op. */
  addMembers?(groupKey: TargetKey, memberKeys: TargetKey[], ctx: OperationContext): Promise<void>;
  /** Removing an absent member is a no-op. */
  removeMembers?(groupKey: TargetKey, memberKeys: TargetKey[], ctx: OperationContext): Promise<void>;

  listUsers?(ctx: OperationContext): AsyncIterable<TargetEntry>;
  findUser?(query: UserQuery, ctx: OperationContext): Promise<TargetEntry | undefined>;
  /** What the operation would send, without sending it. Must not touch the target's data. */
  preview?(op: ConnectorOperation, ctx: OperationContext): Promise<Preview>;
}

/** A lookup by userName (case-insensitive in most targets) or externalId. */
export type UserQuery = { userName: string } | { externalId: string };

/** The operations the host applies; `operationId` is reused on every retry. */
export type ConnectorOperation =
  | { kind: 'createUser'; operationId: string; attempt?: number; user: TargetUser }
  | { kind: 'updateUser'; operationId: string; attempt?: number; key: TargetKey; user: TargetUser }
  | { kind: 'deactivateUser'; operationId: string; attempt?: number; key: TargetKey; user: TargetUser }
  | { kind: 'reactivateUser'; operationId: string; attempt?: number; key: TargetKey; user: TargetUser }
  | { kind: 'deleteUser'; operationId: string; attempt?: number; key: TargetKey }
  | { kind: 'upsertGroup'; operationId: string; attempt?: number; key?: TargetKey; group: TargetGroup }
  | { kind: 'deleteGroup'; operationId: string; attempt?: number; key: TargetKey }
  | { kind: 'addMembers'; operationId: string; attempt?: number; key: TargetKey; memberKeys: TargetKey[] }
  | { kind: 'removeMembers'; operationId: string; attempt?: number; key: TargetKey; memberKeys: TargetKey[] };

/** The discriminant of ConnectorOperation. */
export type OperationKind = ConnectorOperation['kind'];

/** A created connector type: its manifest and a factory for fresh instances. */
export interface ConnectorDefinition<C> {
  manifest: ConnectorManifest<C>;
  /** Returns a new, uninitialised instance; inject clients through the closure (see docs). */
  create(): Connector<C>;
}
