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
  TransientError,
  type ConnectorDefinition,
  type ConnectorLogger,
  type SecretReader,
} from '../../../connectors/sdk/index.js';
import { writeFileDurably } from '../auth/index.js';
import type { AttributeResolver } from '../scim/index.js';
import type { Store } from '../store/index.js';
import {
  connectorInstanceSchema,
  deliveryTargetFor,
  startConnectorInstance,
  type ConnectorInstance,
  type ConnectorInstanceConfig,
} from './connectors.js';
import type { DeliveryTarget } from './outbox-worker.js';
import { DEFAULT_POLICY, policySchema, type ConnectionPolicy } from './policies.js';

export const CONNECTIONS_FILE = 'connections.json';

/** Where connector secrets come from: the keychain-backed store (secrets/), by account. */
export interface SecretSource {
  get(account: string): Promise<string | undefined>;
  set?(account: string, value: string): Promise<void>;
  delete?(account: string): Promise<unknown>;
}

/** Account of a connector's secret field in the secret store: `<connectorId>:<fieldPath>`. */
export function secretAccount(connectorId: string, field: string): string {
  return `${connectorId}:${field}`;
}

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
  /** Starts every connector; resolves when each has started or failed. */
  start(): Promise<void>;
  dispose(): Promise<void>;
}

export class ConnectionAdminError extends Error {
  override name = 'ConnectionAdminError';
  constructor(message: string, readonly status: 400 | 404 | 409) {
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

/** What the stored config holds where a secret's value is kept in the secret store. */
const SECRET_REF = Object.freeze({ $secret: true as const });

function isSecretRef(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { $secret?: unknown }).$secret === true;
}

function isEnvRef(value: unknown): value is { $env: string } {
  return typeof value === 'object' && value !== null && typeof (value as { $env?: unknown }).$env === 'string';
}

function pathParts(field: string): string[] | undefined {
  return field.includes('[]') ? undefined : field.split('.');
}

function readAt(root: unknown, field: string): unknown {
  const parts = pathParts(field);
  if (!parts) return undefined;
  let node: unknown = root;
  for (const p of parts) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[p];
  }
  return node;
}

function writeAt(root: unknown, field: string, value: unknown): void {
  const parts = pathParts(field);
  if (!parts || typeof root !== 'object' || root === null) return;
  let node = root as Record<string, unknown>;
  for (const p of parts.slice(0, -1)) {
    if (typeof node[p] !== 'object' || node[p] === null) return;
    node = node[p] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
}

/**
 * The secrets an instance reads: a field written `{ "$env": "NAME" }` in its config comes from
 * that environment variable (deploy-time configuration); any other from the secret store.
 */
export function secretReaderFor(connectorId: string, rawConfig: unknown, secrets: SecretSource | undefined, env: NodeJS.ProcessEnv = process.env): SecretReader {
  return {
    async get(field) {
      const ref = readAt(rawConfig, field);
      if (isEnvRef(ref)) return env[ref.$env] || undefined;
      if (typeof ref === 'string' && ref !== '') {
        throw new Error(
          `"${field}" is a secret: do not write its value in the configuration. Write {"$env": "NAME"} to read it from the environment, or keep it in the secret store: scim-bridge secrets set ${connectorId} ${field} (value on stdin)`,
        );
      }
      return secrets ? secrets.get(secretAccount(connectorId, field)) : undefined;
    },
  };
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
      targets.set(cfg.id, deliveryTargetFor(instance, opts.store, () => entries.get(connection)?.policies ?? DEFAULT_POLICY));
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
    async start() {
      for (const e of entries.values()) {
        opts.onConnection?.(e.name);
        for (const c of e.spec.connectors) await startOne(e.name, c);
      }
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
        const ids = new Set<string>();
        for (const c of spec.connectors) {
          if (ids.has(c.id)) throw new ConnectionAdminError(`connector id "${c.id}" appears twice`, 400);
          ids.add(c.id);
          const owner = connectorOwner(c.id);
          if (owner && owner !== name) throw new ConnectionAdminError(`connector id "${c.id}" is already used by connection "${owner}"; ids are unique across the gateway`, 409);
          const make = opts.types.get(c.type);
          if (!make) throw new ConnectionAdminError(`connector "${c.id}": unknown type "${c.type}" (known: ${[...opts.types.keys()].join(', ')})`, 400);
          // Secret values go to the secret store; the persisted config keeps no value, or an $env reference.
          const previous = existing?.spec.connectors.find((p) => p.id === c.id);
          for (const f of describeSecretFields(make().manifest.configSchema)) {
            const v = readAt(c.config, f.path);
            if (typeof v === 'string' && v !== '') {
              if (!opts.secrets?.set) throw new ConnectionAdminError(`connector "${c.id}": no secret store is available to keep "${f.path}"`, 400);
              await opts.secrets.set(secretAccount(c.id, f.path), v);
              writeAt(c.config, f.path, SECRET_REF);
            } else if (isEnvRef(v)) {
              // kept as is
            } else {
              // The reference sent back, empty or absent: keep what was there.
              const before = previous ? readAt(previous.config, f.path) : undefined;
              writeAt(c.config, f.path, isEnvRef(before) || isSecretRef(before) ? before : undefined);
            }
          }
        }
        const policies = policySchema.parse(spec.policies);
        const entry: Entry = { name, source: 'runtime', spec, policies, updatedAt: new Date().toISOString() };
        const before = existing?.spec.connectors.map((c) => c.id) ?? [];
        entries.set(name, entry);
        try {
          persist();
        } catch (err) {
          if (existing) entries.set(name, existing);
          else entries.delete(name);
          throw err;
        }
        opts.onConnection?.(name);
        for (const id of before) await stopOne(id);
        for (const c of spec.connectors) await startOne(name, c);
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
          await Promise.all(describeSecretFields(opts.types.get(c.type)?.().manifest.configSchema ?? z.object({})).map((f) => opts.secrets?.delete?.(secretAccount(c.id, f.path))));
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
