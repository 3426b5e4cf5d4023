/**
 * Connector instances of the connections: built from configuration with the connector SDK's host,
 * fed by the outbox worker. SCIM resources are mapped to the SDK's neutral model here (attribute
 * mapping), and target keys of members are looked up from the links the store keeps.
 */
import { z } from 'zod';
import {
  classifyError,
  ConflictError,
  createConnectorHost,
  TransientError,
  type ConnectorDefinition,
  type ConnectorHost,
  type ConnectorLogger,
  type ConnectorOperation,
  type SecretReader,
  type TargetUser,
  type TargetValue,
} from '../../../connectors/sdk/index.js';
import { createDemoConnector } from '../../../connectors/demo/index.js';
import { createRestConnector } from '../../../connectors/rest/index.js';
import { createCsvConnector } from '../../../connectors/csv/index.js';
import { createScriptConnector } from '../../../connectors/script/index.js';
import { createSqlConnector } from '../../../connectors/sql/index.js';
import { createLdapConnector } from '../../../connectors/ldap/index.js';
import { compileElementFilter, parsePath } from '../scim/filter/index.js';
import { BRIDGE_USER_SCHEMA, type AttributeResolver } from '../scim/index.js';
import type { OutboxEntry, ScimJson, Store } from '../store/index.js';
import type { DeliveryTarget, FailureClass } from './outbox-worker.js';

/** One mapped attribute: a SCIM path, or a constant, with an optional transform and default. */
const mappingRuleSchema = z.union([
  z.string().min(1),
  z
    .object({
      path: z.string().min(1).optional(),
      const: z.union([z.string(), z.number(), z.boolean()]).optional(),
      /** SCIM paths whose values are joined with `separator` (missing ones are skipped): `["name.givenName", "name.familyName"]`. */
      concat: z.array(z.string().min(1)).min(2).optional(),
      /** Between the joined values; a space when left out. */
      separator: z.string().optional(),
      transform: z.enum(['lowercase', 'uppercase', 'trim']).optional(),
      default: z.union([z.string(), z.number(), z.boolean()]).optional(),
    })
    .strict()
    .refine((r) => [r.path, r.const, r.concat].filter((v) => v !== undefined).length === 1, 'give one of "path", "const" or "concat"'),
]);

export const connectorInstanceSchema = z
  .object({
    /** Unique across the gateway: it names the instance in links, the outbox and the console. */
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'connector ids are 1-63 lower-case letters, digits, "-" or "_"')
      // The secret store files the PostgreSQL store's password under "store:": no connector may read or purge it.
      .refine((id) => id !== 'store', '"store" is reserved for the gateway\'s own secrets; choose another connector id'),
    type: z.string().min(1),
    config: z.unknown().default({}),
    /**
     * `async` (default): changes reach the target through the outbox, after the SCIM response.
     * `sync`: the SCIM response waits for the target; its refusal is the IdP's error and nothing commits.
     */
    mode: z.enum(['async', 'sync']).default('async'),
    /** Target attribute -> SCIM attribute path (or constant); merged over the default mapping. */
    mapping: z.record(z.string().min(1), mappingRuleSchema).default({}),
  })
  .strict();
export type ConnectorInstanceConfig = z.infer<typeof connectorInstanceSchema>;
type MappingRule = z.infer<typeof mappingRuleSchema>;

/** The mapping every connector starts from (Scalekit's attribute list, Mendix's defaults). */
export const DEFAULT_USER_MAPPING: Record<string, MappingRule> = {
  givenName: 'name.givenName',
  familyName: 'name.familyName',
  displayName: 'displayName',
  email: 'emails[primary eq true].value',
  workEmail: 'emails[type eq "work"].value',
  phone: 'phoneNumbers[type eq "work"].value',
  mobile: 'phoneNumbers[type eq "mobile"].value',
  title: 'title',
  locale: 'locale',
  preferredLanguage: 'preferredLanguage',
  employeeNumber: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber',
  department: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department',
  manager: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value',
  role: `${BRIDGE_USER_SCHEMA}:role`,
  userType: `${BRIDGE_USER_SCHEMA}:userType`,
};

/**
 * Built-in connector types, by the `type` a connection's config names. Each call makes fresh
 * definitions: an instance may narrow its definition's capabilities to its own configuration.
 */
export function builtInConnectorTypes(): Map<string, () => ConnectorDefinition<unknown>> {
  // The console offers them in this order: the in-memory demo first, for a first run.
  const factories: Record<string, () => unknown> = {
    demo: createDemoConnector,
    rest: createRestConnector,
    csv: createCsvConnector,
    script: createScriptConnector,
    sql: createSqlConnector,
    ldap: createLdapConnector,
  };
  return new Map(Object.entries(factories).map(([type, make]) => [type, () => make() as ConnectorDefinition<unknown>]));
}

type Reader = (resource: ScimJson) => TargetValue | undefined;

/** Compiles one mapping rule to a reader of the SCIM resource; throws with the bad path named. */
export function compileRule(rule: MappingRule, resolver: AttributeResolver, target: string): Reader {
  const r = typeof rule === 'string' ? { path: rule } : rule;
  const finish = (v: TargetValue | undefined): TargetValue | undefined => {
    let out = v === undefined || v === null ? (r.default ?? v) : v;
    if (typeof out === 'string' && r.transform) out = r.transform === 'lowercase' ? out.toLowerCase() : r.transform === 'uppercase' ? out.toUpperCase() : out.trim();
    return out;
  };
  if (r.const !== undefined) return () => finish(r.const);
  if (r.concat) {
    const parts = r.concat.map((p, i) => compileRule(p, resolver, `${target}.concat[${i}]`));
    const separator = r.separator ?? ' ';
    return (resource) => {
      const values = parts.map((read) => read(resource)).filter((v): v is string | number | boolean => v !== undefined && v !== null && v !== '' && !Array.isArray(v));
      return finish(values.length === 0 ? undefined : values.map(String).join(separator));
    };
  }
  let path: ReturnType<typeof parsePath>;
  try {
    path = parsePath(r.path!);
  } catch (err) {
    throw new Error(`mapping for "${target}": ${(err as Error).message}`);
  }
  const resolved = resolver.resolve(path.schema, path.attr, path.subAttr);
  if (!resolved) throw new Error(`mapping for "${target}": no SCIM attribute "${r.path}" (see /Schemas)`);
  const matches = path.filter ? compileElementFilter(path.filter, resolved, resolver) : undefined;
  return (resource) => {
    const holder = resolved.extension ? (resource[resolved.extension] as ScimJson | undefined) : resource;
    let v: unknown = holder?.[resolved.canonical];
    if (Array.isArray(v)) {
      const list = matches ? v.filter((e) => matches(e)) : v;
      // Without a filter, a multi-valued attribute maps to its primary element, else its first.
      v = matches ? list[0] : (list.find((e) => (e as ScimJson)?.primary === true) ?? list[0]);
      if (v !== undefined && !resolved.sub && typeof v === 'object') v = (v as ScimJson).value;
    }
    if (resolved.sub && v && typeof v === 'object') v = (v as ScimJson)[resolved.sub.canonical];
    if (v === undefined || v === null) return finish(undefined);
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return finish(v);
    return finish(JSON.stringify(v));
  };
}

/** A running connector instance and how it reads SCIM resources. */
export interface ConnectorInstance {
  id: string;
  connection: string;
  host: ConnectorHost<unknown>;
  mapUser(scimId: string, resource: ScimJson): TargetUser;
}

export async function startConnectorInstance(
  connection: string,
  cfg: ConnectorInstanceConfig,
  types: Map<string, () => ConnectorDefinition<unknown>>,
  resolver: AttributeResolver,
  logger: ConnectorLogger,
  secrets: SecretReader = { get: async () => undefined },
): Promise<ConnectorInstance> {
  const make = types.get(cfg.type);
  if (!make) throw new Error(`connector "${cfg.id}" of connection "${connection}": unknown type "${cfg.type}" (known: ${[...types.keys()].join(', ')})`);
  const definition = make();
  const readers = Object.entries({ ...(definition.manifest.defaultMapping ?? DEFAULT_USER_MAPPING), ...cfg.mapping }).map(([target, rule]) => [target, compileRule(rule, resolver, target)] as const);
  const host = await createConnectorHost(definition, { config: cfg.config, secrets, logger });
  return {
    id: cfg.id,
    connection,
    host,
    mapUser(scimId, resource) {
      const attributes: Record<string, TargetValue> = {};
      for (const [target, read] of readers) {
        // A mapped attribute the resource no longer has is sent as null: "clear it in the target"
        // (a title removed in the IdP must not stay in LDAP).
        const v = read(resource);
        attributes[target] = v === undefined ? null : v;
      }
      const user: TargetUser = { scimId, userName: String(resource.userName ?? ''), active: resource.active !== false, attributes };
      if (typeof resource.externalId === 'string') user.externalId = resource.externalId;
      return user;
    },
  };
}

/** An account found in a target for a new user. */
export interface FoundAccount {
  key: string;
  /** Found by the principal attribute (externalId), not by userName. */
  byPrincipal: boolean;
  /** The gateway's SCIM id, where the target stores it. */
  scimId?: string;
}

/**
 * An account in the target that a new user would collide with, found through the connector's
 * lookup: by the principal attribute (externalId: the same IdP identity) first, then by userName.
 */
export async function findExistingAccount(
  instance: ConnectorInstance,
  resource: ScimJson,
  principal: 'externalId' | 'userName',
): Promise<FoundAccount | undefined> {
  if (!instance.host.manifest.capabilities.lookup) return undefined;
  const externalId = typeof resource.externalId === 'string' ? resource.externalId : '';
  if (principal === 'externalId' && externalId) {
    const found = await instance.host.findUser({ externalId });
    if (found) return { key: found.key, byPrincipal: true, ...(found.user.scimId ? { scimId: found.user.scimId } : {}) };
  }
  const userName = typeof resource.userName === 'string' ? resource.userName : '';
  if (!userName) return undefined;
  const found = await instance.host.findUser({ userName });
  return found ? { key: found.key, byPrincipal: false, ...(found.user.scimId ? { scimId: found.user.scimId } : {}) } : undefined;
}

/** Another connector instance whose configuration points at the same target (its target identity), and its connection. */
export interface TargetPeer {
  id: string;
  connection: string;
}

/** Whose an account found in the target is, for the new user `resourceId` of `connection`. */
export type AccountStanding =
  | { own: true }
  /** `reason` is for the admin; `otherConnection` is set when a user of another connection has it. */
  | { own: false; reason: string; otherConnection?: string };

/**
 * Claim protection's rule: whether an account found for a new user of `connection` through
 * connector `connector` is that connection's own. It is not when any connector writing the same
 * target (`peers`, any connection) links it to a user of another connection, or to another live
 * user of this one, nor when it carries a SCIM id that is neither this user's nor one of a user
 * this connection linked to it. Otherwise it is when it was found by the principal (the same IdP
 * identity), carries this user's SCIM id, or was linked by this connection before (a user deleted
 * and created again). An account found by userName alone is not.
 */
export async function accountStanding(
  store: Store,
  connection: string,
  connector: string,
  peers: readonly TargetPeer[],
  found: FoundAccount,
  resourceId: string,
): Promise<AccountStanding> {
  const links: Array<TargetPeer & { resourceId: string }> = [];
  for (const peer of [{ id: connector, connection }, ...peers]) {
    const linked = await store.linkedResource(peer.id, found.key);
    if (linked !== undefined && linked !== resourceId) links.push({ ...peer, resourceId: linked });
  }
  const foreign = links.find((l) => l.connection !== connection);
  if (foreign) return { own: false, otherConnection: foreign.connection, reason: `it is linked to a user of connection "${foreign.connection}" (connector "${foreign.id}")` };
  for (const l of links) {
    if (await store.get(connection, 'User', l.resourceId)) return { own: false, reason: `it is linked to another user of connection "${connection}" (${l.resourceId})` };
  }
  if (!found.byPrincipal && found.scimId !== resourceId && links.length === 0) return { own: false, reason: `it is not managed by connection "${connection}"` };
  if (found.scimId !== undefined && found.scimId !== resourceId && !links.some((l) => l.resourceId === found.scimId)) {
    return { own: false, reason: `it carries the SCIM id ${found.scimId}, which is not this user's` };
  }
  return { own: true };
}

/** The outbox worker's view of an instance: an outbox entry becomes one SDK operation. */
export function deliveryTargetFor(
  instance: ConnectorInstance,
  store: Store,
  /** The connection's claim policy, read at each delivery. */
  policy: () => { existingAccounts: 'refuse' | 'link'; principal: 'externalId' | 'userName' } = () => ({ existingAccounts: 'refuse', principal: 'externalId' }),
  /** Connectors writing the same target, read at each delivery (connections change). */
  peers: () => readonly TargetPeer[] = () => [],
): DeliveryTarget {
  /**
   * Claim protection at delivery: the SCIM create may have been accepted while the target could
   * not be searched. Before creating, look again: an account this connector never linked is
   * refused (dead letter, the console shows why) or taken over, by policy.
   */
  const isQueued = async (id: string): Promise<boolean> => (await store.outboxGet(id)) !== undefined;
  const claim = async (entry: OutboxEntry, resource: ScimJson): Promise<string | undefined> => {
    if (entry.claimChecked || !instance.host.manifest.capabilities.lookup) return undefined;
    const { existingAccounts, principal } = policy();
    const existing = await findExistingAccount(instance, resource, principal);
    if (!existing) {
      // Settled before anything reaches the target: a crash after the create cannot turn this
      // gateway's own account into a "claim" on the retry.
      // A sync delivery's entry is not in the outbox (nothing to mark): it commits with the change.
      if (await isQueued(entry.id)) {
        await store.commit({ changes: [{ op: 'outbox.update', id: entry.id, attempts: entry.attempts, nextAttemptAt: entry.nextAttemptAt, state: entry.state, claimChecked: true }] });
      }
      return undefined;
    }
    const standing = await accountStanding(store, instance.connection, instance.id, peers(), existing, entry.resourceId);
    if (standing.own) return existing.key;
    const found = `an account for "${String(resource.userName)}" already exists in the target (${existing.key}, found by ${existing.byPrincipal ? 'externalId' : 'userName'}), and ${standing.reason}`;
    if (existingAccounts === 'refuse') {
      throw new ConflictError(
        standing.otherConnection
          ? `${found}: it is not taken over. Two connections share this target; see the warning on the status page`
          : `${found}: remove or rename it there, or set the connection's existingAccounts policy to "link", then retry this entry`,
      );
    }
    return existing.key;
  };
  const memberKeys = async (ids: string[] | undefined, adding: boolean): Promise<string[]> => {
    const keys: string[] = [];
    for (const id of ids ?? []) {
      const key = await store.linkOf(instance.id, id);
      if (!key) {
        // A member to add is another resource on its own queue: wait until it exists there. A
        // member to remove that has no key is not in the target (or was deleted from it): nothing to do.
        if (adding) throw new TransientError(`member ${id} is not provisioned in connector "${instance.id}" yet (if the connector was added after that user existed, run a reconciliation with repair)`, { retryAfterMs: 1_000 });
        continue;
      }
      keys.push(key);
    }
    return keys;
  };
  const needKey = (entry: OutboxEntry, key: string | undefined): string => {
    if (!key) throw new TransientError(`no target key yet for ${entry.resourceType} ${entry.resourceId}: its create has not been delivered`, { retryAfterMs: 1_000 });
    return key;
  };
  return {
    async deliver(entry, key) {
      const base = { operationId: entry.id, attempt: entry.attempts + 1 };
      const resource = entry.payload.resource ?? {};
      const user = () => instance.mapUser(entry.resourceId, resource);
      const group = () => ({ scimId: entry.resourceId, displayName: String(resource.displayName ?? ''), attributes: {} });
      let op: ConnectorOperation;
      switch (entry.kind) {
        case 'createUser':
        case 'updateUser':
        case 'deactivateUser':
        case 'reactivateUser': {
          if (key) {
            op = entry.kind === 'createUser' ? { kind: 'updateUser', ...base, key, user: user() } : { kind: entry.kind, ...base, key, user: user() };
            break;
          }
          // Not in the target yet: a first create, or a connector added after the user existed (its
          // updates must not wait forever for a create that was never queued). Claim rules apply.
          const existing = await claim(entry, resource);
          if (existing) {
            const kind = entry.kind === 'createUser' ? 'updateUser' : entry.kind;
            const result = await instance.host.apply({ kind, ...base, key: existing, user: user() });
            return { key: result.key ?? existing };
          }
          const created = await instance.host.apply({ kind: 'createUser', ...base, user: user() });
          if (entry.kind === 'deactivateUser' && created.key) {
            await instance.host.apply({ kind: 'deactivateUser', ...base, key: created.key, user: user() });
          }
          return created.key !== undefined ? { key: created.key } : {};
        }
        case 'deleteUser':
        case 'deleteGroup':
          if (!key) return { key: null }; // never reached the target: nothing to delete
          op = { kind: entry.kind, ...base, key };
          break;
        case 'upsertGroup':
          op = { kind: 'upsertGroup', ...base, ...(key ? { key } : {}), group: group() };
          break;
        case 'removeMembers': {
          if (!key) return {}; // the group is not in the target: nobody to remove
          const keys = await memberKeys(entry.payload.memberIds, false);
          if (keys.length === 0) return {};
          op = { kind: 'removeMembers', ...base, key, memberKeys: keys };
          break;
        }
        case 'addMembers': {
          const keys = await memberKeys(entry.payload.memberIds, true);
          if (keys.length === 0) return {};
          let groupKey = key;
          if (!groupKey) {
            // A group the connector never saw (added after the group existed): create it first.
            const stored = await store.get(entry.connection, 'Group', entry.resourceId);
            if (!stored) return {};
            const upserted = await instance.host.apply({ kind: 'upsertGroup', ...base, group: { scimId: entry.resourceId, displayName: String(stored.data.displayName ?? ''), attributes: {} } });
            groupKey = needKey(entry, upserted.key);
            await store.commit({ changes: [{ op: 'link', connector: instance.id, resourceId: entry.resourceId, key: groupKey }] });
          }
          op = { kind: 'addMembers', ...base, key: groupKey, memberKeys: keys };
          break;
        }
      }
      const result = await instance.host.apply(op);
      // A delete keeps the link: the groups' removeMembers, on their own queues, may still need the
      // deleted member's key (SCIM ids are never reused, and removing a gone member is a no-op).
      if (entry.kind === 'deleteUser' || entry.kind === 'deleteGroup') return {};
      return result.key !== undefined ? { key: result.key } : {};
    },
  };
}

/** SDK errors -> the worker's retry decision (TransientError retries, everything else dead-letters). */
export function classifyConnectorFailure(err: unknown): FailureClass {
  const e = classifyError(err);
  const out: FailureClass = { transient: e.retryable, message: `${e.code}: ${e.message}` };
  const retryAfterMs = (e as { retryAfterMs?: number }).retryAfterMs;
  if (retryAfterMs !== undefined) out.retryAfterMs = retryAfterMs;
  return out;
}

/** The SDK's logger shape over the gateway's pino-style one. */
export function connectorLogger(logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void }, connector: string): ConnectorLogger {
  return {
    debug: () => {},
    info: (message, fields) => logger.info({ connector, ...fields }, message),
    warn: (message, fields) => logger.warn({ connector, ...fields }, message),
    error: (message, fields) => logger.error({ connector, ...fields }, message),
  };
}
