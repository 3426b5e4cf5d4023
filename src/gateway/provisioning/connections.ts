/**
 * Connections at run time: the deploy-time ones from the config file (read-only) and the ones an
 * admin manages from the console (persisted in `connections.json` in the data dir). Each has its
 * policies and its connector instances; this registry starts, restarts and stops the instances
 * and tells the outbox worker where each connector's entries go.
 *
 * A connector that cannot start (a bad config, a missing secret, a type that is gone) does not
 * stop the gateway: SCIM keeps answering, its outbox entries wait (transient) and its status says
 * why, until an admin fixes it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  describeSecretFields,
  resolveTargetIdentity,
  TransientError,
  type ConnectorDefinition,
  type ConnectorLogger,
  type ResolvedTargetIdentity,
} from '../../../connectors/sdk/index.js';
import { writeFileDurably } from '../auth/index.js';
import type { AttributeResolver } from '../scim/index.js';
import type { Store } from '../store/index.js';
import {
  isEnvRef,
  planSecrets,
  purgeSecrets,
  readAt,
  SECRET_REF,
  secretAccount,
  secretReaderFor,
  SecretReentryError,
  writeAt,
  type SecretPlan,
  type SecretSource,
} from './connector-secrets.js';
import {
  connectorInstanceSchema,
  deliveryTargetFor,
  startConnectorInstance,
  type ConnectorInstance,
  type ConnectorInstanceConfig,
  type TargetPeer,
} from './connectors.js';
import type { DeliveryTarget } from './outbox-worker.js';
import { DEFAULT_POLICY, policySchema, type ConnectionPolicy } from './policies.js';

export const CONNECTIONS_FILE = 'connections.json';

/** What an admin sends to create or change a runtime connection. */
export const connectionSpecSchema = z
  .object({
    policies: policySchema.partial().default({}),
    connectors: z.array(connectorInstanceSchema).default([]),
  })
  .strict();
export type ConnectionSpec = z.infer<typeof connectionSpecSchema>;

export interface ConnectorStatus {
  id: string;
  connection: string;
  type: string;
  state: 'running' | 'failed';
  /** Why it failed to start (secrets redacted). */
  error?: string;
  since: string;
}

export interface ConnectionView {
  name: string;
  source: 'config' | 'runtime';
  policies: ConnectionPolicy;
  /** Secret fields appear as `{ "$secret": true }` (the value is in the secret store) or their `$env` reference; never a value. */
  connectors: ConnectorInstanceConfig[];
  updatedAt?: string;
}

/** Connectors of different connections that write the same accounts (equal target identities). */
export interface SharedTarget {
  target: string;
  /** Sorted by connection, then id. */
  connectors: TargetPeer[];
  /** Those of the connections whose existingAccounts policy is `link`: they take over the others' accounts. */
  linking: string[];
}

export interface ConnectionRegistry {
  list(): ConnectionView[];
  get(name: string): ConnectionView | undefined;
  /** Creates or replaces a runtime connection; its connectors restart. Config-file ones refuse. */
  upsert(name: string, spec: unknown): Promise<ConnectionView>;
  /** Removes a runtime connection and stops its connectors (its users and groups stay in the store). */
  remove(name: string): Promise<void>;
  policyOf(name: string): ConnectionPolicy;
  connectorsOf(name: string): readonly string[];
  /** A connector instance's configuration (as stored: secrets are references). */
  connectorConfig(id: string): ConnectorInstanceConfig | undefined;
  /** Running instances by connector id (a live map: it changes as connections change). */
  readonly instances: Map<string, ConnectorInstance>;
  status(): ConnectorStatus[];
  /** The outbox worker's target for a connector id. */
  target(id: string): DeliveryTarget | undefined;
  /** The other connectors, of any connection, whose configuration points at the same target as `id`'s. */
  peersOf(id: string): TargetPeer[];
  /** Every target that connectors of more than one connection write to. */
  sharedTargets(): SharedTarget[];
  /** Starts every connector; resolves when each has started or failed. */
  start(): Promise<void>;
  dispose(): Promise<void>;
}

export class ConnectionAdminError extends Error {
  override name = 'ConnectionAdminError';
  constructor(
    message: string,
    readonly status: 400 | 404 | 409,
    /** The request field at fault, when there is one (`config.auth.token`). */
    readonly field?: string,
  ) {
    super(message);
  }
}

interface Entry {
  name: string;
  source: 'config' | 'runtime';
  spec: ConnectionSpec;
  policies: ConnectionPolicy;
  updatedAt?: string;
}

const persistedSchema = z.object({
  version: z.literal(1),
  connections: z.record(z.string(), connectionSpecSchema.extend({ updatedAt: z.string().optional() })),
});

const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * The admin's warning for connectors of different connections on one target; with `connector`,
 * as that connector's (the others are listed after it).
 */
export function sharedTargetMessage(shared: SharedTarget, connector?: string): string {
  const named = (list: TargetPeer[]) => list.map((c) => `${c.id} (connection ${c.connection})`).join(', ');
  const self = shared.connectors.find((c) => c.id === connector);
  const who = self
    ? `Connector ${self.id} writes to the same target as ${named(shared.connectors.filter((c) => c.connection !== self.connection))}`
    : `Connectors ${named(shared.connectors)} write to the same target`;
  const linking = shared.linking;
  const claims =
    linking.length > 0
      ? `Connection${linking.length === 1 ? '' : 's'} ${linking.join(', ')} take${linking.length === 1 ? 's' : ''} over existing accounts (existingAccounts: "link"), those another connection manages included`
      : `Claim protection keeps each connection off the accounts another one manages (unless a connection's existingAccounts policy is "link")`;
  return `${who}: ${shared.target}. ${claims}. If the connections must not touch each other's accounts, give each its own part of the target.`;
}

export interface ConnectionRegistryOptions {
  dataDir: string;
  /** Deploy-time connections from the config file. */
  configured: Record<string, { policies: unknown; connectors: ConnectorInstanceConfig[] }>;
  types: Map<string, () => ConnectorDefinition<unknown>>;
  resolver: AttributeResolver;
  store: Store;
  secrets?: SecretSource;
  loggerFor(connectorId: string): ConnectorLogger;
  logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void };
  /** A connection now exists (tokens may be issued for it). */
  onConnection?(name: string): void;
  /** Connector instances changed: the worker should look again. */
  onConnectorsChanged?(): void;
  env?: NodeJS.ProcessEnv;
}

export function createConnectionRegistry(opts: ConnectionRegistryOptions): ConnectionRegistry {
  const entries = new Map<string, Entry>();
  const instances = new Map<string, ConnectorInstance>();
  const targets = new Map<string, DeliveryTarget>();
  const statuses = new Map<string, ConnectorStatus>();
  let queue: Promise<unknown> = Promise.resolve();
  // Admin edits run one at a time: each restarts instances and rewrites connections.json.
  const serialized = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  for (const [name, c] of Object.entries(opts.configured)) {
    const spec = connectionSpecSchema.parse({ policies: c.policies ?? {}, connectors: c.connectors });
    entries.set(name, { name, source: 'config', spec, policies: policySchema.parse(spec.policies) });
  }
  const file = join(opts.dataDir, CONNECTIONS_FILE);
  if (existsSync(file)) {
    let parsed: z.infer<typeof persistedSchema>;
    try {
      parsed = persistedSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    } catch (err) {
      throw new Error(`${file} is damaged (${(err as Error).message.split('\n')[0]}); restore it from a backup of the data directory.`);
    }
    for (const [name, c] of Object.entries(parsed.connections)) {
      if (entries.has(name)) {
        opts.logger.warn({ connection: name }, `connection "${name}" is now in the config file; its console-managed copy in ${CONNECTIONS_FILE} is ignored`);
        continue;
      }
      const { updatedAt, ...spec } = c;
      entries.set(name, { name, source: 'runtime', spec, policies: policySchema.parse(spec.policies), updatedAt });
    }
  }

  function persist(): void {
    const connections: Record<string, ConnectionSpec & { updatedAt?: string }> = {};
    for (const e of entries.values()) if (e.source === 'runtime') connections[e.name] = { ...e.spec, updatedAt: e.updatedAt };
    writeFileDurably(opts.dataDir, CONNECTIONS_FILE, JSON.stringify({ version: 1, connections }, null, 2) + '\n');
  }

  function failedTarget(id: string, reason: string): DeliveryTarget {
    return {
      async deliver() {
        throw new TransientError(`connector "${id}" is not running: ${reason}`, { retryAfterMs: 30_000 });
      },
    };
  }

  async function startOne(connection: string, cfg: ConnectorInstanceConfig): Promise<void> {
    const since = new Date().toISOString();
    try {
      const secrets = secretReaderFor(cfg.id, cfg.config, opts.secrets, opts.env);
      const instance = await startConnectorInstance(connection, cfg, opts.types, opts.resolver, opts.loggerFor(cfg.id), secrets);
      instances.set(cfg.id, instance);
      targets.set(
        cfg.id,
        deliveryTargetFor(instance, opts.store, () => entries.get(connection)?.policies ?? DEFAULT_POLICY, () => peersOf(cfg.id)),
      );
      statuses.set(cfg.id, { id: cfg.id, connection, type: cfg.type, state: 'running', since });
    } catch (err) {
      const reason = (err as Error).message;
      targets.set(cfg.id, failedTarget(cfg.id, reason));
      statuses.set(cfg.id, { id: cfg.id, connection, type: cfg.type, state: 'failed', error: reason, since });
      opts.logger.error({ connector: cfg.id, connection, err: reason }, `connector "${cfg.id}" did not start; its deliveries wait until it is fixed`);
    }
  }

  async function stopOne(id: string): Promise<void> {
    const instance = instances.get(id);
    instances.delete(id);
    targets.delete(id);
    statuses.delete(id);
    if (instance) await instance.host.dispose().catch((err: unknown) => opts.logger.warn({ err, connector: id }, 'connector did not close cleanly'));
  }

  function view(e: Entry): ConnectionView {
    const connectors = e.spec.connectors.map((c) => {
      const make = opts.types.get(c.type);
      const config = structuredClone(c.config ?? {}) as Record<string, unknown>;
      if (make) {
        for (const f of describeSecretFields(make().manifest.configSchema)) {
          const v = readAt(config, f.path);
          if (v !== undefined && !isEnvRef(v)) writeAt(config, f.path, { ...SECRET_REF });
        }
      }
      return { ...c, config };
    });
    return { name: e.name, source: e.source, policies: e.policies, connectors, ...(e.updatedAt ? { updatedAt: e.updatedAt } : {}) };
  }

  /** Where each stored configuration points. A change replaces the configuration object (only its secret fields, which say nothing of where it points, are written in place), so the cache stays right. */
  const identities = new WeakMap<ConnectorInstanceConfig, ResolvedTargetIdentity>();
  function identityOf(cfg: ConnectorInstanceConfig): ResolvedTargetIdentity | undefined {
    let identity = identities.get(cfg);
    if (!identity) {
      const make = opts.types.get(cfg.type);
      if (!make) return undefined;
      identity = resolveTargetIdentity(make().manifest, cfg.config);
      identities.set(cfg, identity);
    }
    return identity;
  }

  function everyConnector(): Array<TargetPeer & { cfg: ConnectorInstanceConfig }> {
    return [...entries.values()].flatMap((e) => e.spec.connectors.map((cfg) => ({ id: cfg.id, connection: e.name, cfg })));
  }

  function peersOf(id: string): TargetPeer[] {
    const all = everyConnector();
    const self = all.find((c) => c.id === id);
    const target = self && identityOf(self.cfg)?.target;
    if (!target) return [];
    return all.filter((c) => c.id !== id && identityOf(c.cfg)?.target === target).map(({ id: peer, connection }) => ({ id: peer, connection }));
  }

  function sharedTargets(): SharedTarget[] {
    const byTarget = new Map<string, TargetPeer[]>();
    for (const { id, connection, cfg } of everyConnector()) {
      const target = identityOf(cfg)?.target;
      if (target) byTarget.set(target, [...(byTarget.get(target) ?? []), { id, connection }]);
    }
    const order = (a: TargetPeer, b: TargetPeer) => (a.connection === b.connection ? (a.id < b.id ? -1 : 1) : a.connection < b.connection ? -1 : 1);
    return [...byTarget]
      .filter(([, connectors]) => new Set(connectors.map((c) => c.connection)).size > 1)
      .map(([target, connectors]) => ({
        target,
        connectors: connectors.sort(order),
        linking: [...new Set(connectors.map((c) => c.connection))].filter((c) => entries.get(c)?.policies.existingAccounts === 'link'),
      }))
      .sort((a, b) => (a.target < b.target ? -1 : 1));
  }

  /** Logs each shared target (only those of `connection`'s connectors, when given). */
  function warnSharedTargets(connection?: string): void {
    for (const shared of sharedTargets()) {
      if (connection && !shared.connectors.some((c) => c.connection === connection)) continue;
      opts.logger.warn({ target: shared.target, connectors: shared.connectors }, sharedTargetMessage(shared));
    }
  }

  /**
   * Deletes a connector's secrets once its change is saved. A secret store that fails here does
   * not undo the saved change: the leftover is logged, and removed when that id is used again.
   */
  async function dropSecrets(connectorId: string, drop: () => Promise<void>): Promise<void> {
    try {
      await drop();
    } catch (err) {
      opts.logger.error({ connector: connectorId, err: (err as Error).message }, `the secrets of connector "${connectorId}" could not all be deleted; they are deleted when a connector with this id is saved again, or with: scim-bridge secrets delete`);
    }
  }

  function secretFieldsOf(type: string): string[] {
    const make = opts.types.get(type);
    return make ? describeSecretFields(make().manifest.configSchema).map((f) => f.path) : [];
  }

  /** The secrets plan of each connector of a spec, against what is saved: refuses (400) a secret that must be typed again. */
  async function planAll(name: string, spec: ConnectionSpec, existing: Entry | undefined): Promise<Map<string, SecretPlan>> {
    const plans = new Map<string, SecretPlan>();
    const ids = new Set<string>();
    for (const c of spec.connectors) {
      if (ids.has(c.id)) throw new ConnectionAdminError(`connector id "${c.id}" appears twice`, 400);
      ids.add(c.id);
      const owner = connectorOwner(c.id);
      if (owner && owner !== name) throw new ConnectionAdminError(`connector id "${c.id}" is already used by connection "${owner}"; ids are unique across the gateway`, 409);
      const make = opts.types.get(c.type);
      if (!make) throw new ConnectionAdminError(`connector "${c.id}": unknown type "${c.type}" (known: ${[...opts.types.keys()].join(', ')})`, 400);
      const saved = existing?.spec.connectors.find((p) => p.id === c.id);
      const stored = async (field: string) => Boolean(await (opts.secrets?.has ? opts.secrets.has(secretAccount(c.id, field)) : opts.secrets?.get(secretAccount(c.id, field))));
      try {
        const plan = await planSecrets(make(), c.id, saved, c, stored);
        if (plan.fields.some((f) => f.action === 'set') && !opts.secrets?.set) {
          throw new ConnectionAdminError(`connector "${c.id}": no secret store is available to keep its secrets`, 400);
        }
        plans.set(c.id, plan);
      } catch (err) {
        if (err instanceof SecretReentryError) throw new ConnectionAdminError(err.message, 400, err.field);
        throw err;
      }
    }
    return plans;
  }

  function connectorOwner(id: string): string | undefined {
    for (const e of entries.values()) if (e.spec.connectors.some((c) => c.id === id)) return e.name;
    return undefined;
  }

  return {
    instances,
    list: () => [...entries.values()].map(view),
    get(name) {
      const e = entries.get(name);
      return e && view(e);
    },
    policyOf: (name) => entries.get(name)?.policies ?? DEFAULT_POLICY,
    connectorsOf: (name) => entries.get(name)?.spec.connectors.map((c) => c.id) ?? [],
    connectorConfig(id) {
      for (const e of entries.values()) {
        const c = e.spec.connectors.find((k) => k.id === id);
        if (c) return c;
      }
      return undefined;
    },
    status: () => [...statuses.values()],
    target: (id) => targets.get(id),
    peersOf,
    sharedTargets,
    async start() {
      for (const e of entries.values()) {
        opts.onConnection?.(e.name);
        for (const c of e.spec.connectors) await startOne(e.name, c);
      }
      warnSharedTargets();
      opts.onConnectorsChanged?.();
    },
    upsert(name, input) {
      return serialized(async () => {
        if (!NAME_RE.test(name)) throw new ConnectionAdminError('connection names are 1-63 lower-case letters, digits, "-" or "_"', 400);
        const existing = entries.get(name);
        if (existing?.source === 'config') throw new ConnectionAdminError(`connection "${name}" is managed by the config file; change it there and restart the gateway`, 409);
        const parsed = connectionSpecSchema.safeParse(input);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          throw new ConnectionAdminError(`${issue.path.join('.') || 'connection'}: ${issue.message}`, 400);
        }
        const spec = parsed.data;
        // Every check first: a refused request changes nothing, in the secret store either.
        const plans = await planAll(name, spec, existing);
        // Secret values go to the secret store; the persisted config keeps no value: a reference.
        for (const c of spec.connectors) {
          for (const f of plans.get(c.id)!.fields) {
            if (f.action === 'set') {
              await opts.secrets!.set!(secretAccount(c.id, f.path), f.value);
              writeAt(c.config, f.path, SECRET_REF);
            } else {
              writeAt(c.config, f.path, f.action === 'keep' ? f.ref : undefined);
            }
          }
        }
        const policies = policySchema.parse(spec.policies);
        const entry: Entry = { name, source: 'runtime', spec, policies, updatedAt: new Date().toISOString() };
        const before = existing?.spec.connectors ?? [];
        entries.set(name, entry);
        try {
          persist();
        } catch (err) {
          if (existing) entries.set(name, existing);
          else entries.delete(name);
          throw err;
        }
        // Saved: now drop what no connector may use any more. A deleted connector's secrets, and
        // whatever a new, retyped or moved one finds under its id, except what was typed just now.
        for (const old of before) {
          if (!spec.connectors.some((c) => c.id === old.id)) await dropSecrets(old.id, () => purgeSecrets(opts.secrets, old.id, secretFieldsOf(old.type)));
        }
        for (const c of spec.connectors) {
          const plan = plans.get(c.id)!;
          const typed = new Set(plan.fields.filter((f) => f.action === 'set').map((f) => f.path));
          const fields = [...secretFieldsOf(c.type), ...secretFieldsOf(before.find((b) => b.id === c.id)?.type ?? '')];
          if (plan.fresh) await dropSecrets(c.id, () => purgeSecrets(opts.secrets, c.id, fields, typed));
          for (const f of plan.fields) if (f.action === 'clear') await dropSecrets(c.id, async () => void (await opts.secrets?.delete?.(secretAccount(c.id, f.path))));
        }
        opts.onConnection?.(name);
        for (const { id } of before) await stopOne(id);
        for (const c of spec.connectors) await startOne(name, c);
        warnSharedTargets(name);
        opts.onConnectorsChanged?.();
        opts.logger.info({ connection: name, connectors: spec.connectors.map((c) => c.id) }, existing ? 'connection changed' : 'connection created');
        return view(entry);
      });
    },
    remove(name) {
      return serialized(async () => {
        const e = entries.get(name);
        if (!e) throw new ConnectionAdminError(`no connection "${name}"`, 404);
        if (e.source === 'config') throw new ConnectionAdminError(`connection "${name}" is managed by the config file; remove it there and restart the gateway`, 409);
        entries.delete(name);
        try {
          persist();
        } catch (err) {
          entries.set(name, e);
          throw err;
        }
        for (const c of e.spec.connectors) {
          await stopOne(c.id);
          await dropSecrets(c.id, () => purgeSecrets(opts.secrets, c.id, secretFieldsOf(c.type)));
        }
        opts.onConnectorsChanged?.();
        opts.logger.info({ connection: name }, 'connection removed');
      });
    },
    async dispose() {
      await queue;
      for (const id of [...instances.keys()]) await stopOne(id);
    },
  };
}
