/**
 * Configuration: defaults < config file < environment (SCIM_BRIDGE_*) < command-line flags,
 * validated with zod. A bad value is refused at start-up with a message naming the key and
 * where it came from.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import cron from 'node-cron';
import { z } from 'zod';
import { policySchema } from './provisioning/policies.js';
import { connectorInstanceSchema } from './provisioning/connectors.js';
import { SECRET_ENV_PREFIX } from './provisioning/connector-secrets.js';
import { parseAllowList } from './auth/request-guard.js';
import { compileTrustProxy } from './auth/proxy-trust.js';
import { parseAllowedHost } from './auth/host-check.js';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().min(1);

export const limitsSchema = z
  .object({
    /** Largest request body on the SCIM listener, bytes (413 above). */
    maxBodyBytes: positiveInt.default(1_048_576),
    /** Largest /Bulk request, bytes (advertised as bulk.maxPayloadSize). */
    bulkMaxPayloadBytes: positiveInt.default(1_048_576),
    /** Most operations in one /Bulk request (advertised as bulk.maxOperations). */
    bulkMaxOperations: positiveInt.default(1000),
    /** Most resources in one list page (advertised as filter.maxResults). */
    maxResults: positiveInt.default(1000),
    /** Longest filter expression, characters. */
    filterMaxLength: positiveInt.default(4096),
    /** Deepest nesting of parentheses / not / value filters. */
    filterMaxDepth: positiveInt.default(16),
    /** Most operations in one PATCH request. */
    patchMaxOperations: positiveInt.default(1000),
    /** Most member values one PATCH may add or remove. */
    patchMaxMembers: positiveInt.default(10_000),
    /** Most names in attributes / excludedAttributes. */
    maxAttributes: positiveInt.default(100),
    /**
     * Bytes of request bodies all SCIM requests together may hold while they are read (503 with
     * Retry-After beyond it); at least maxBodyBytes and bulkMaxPayloadBytes. 0 = no budget.
     */
    bodyBudgetBytes: z.coerce.number().int().min(0).default(64 * 1_048_576),
  })
  .strict()
  .refine((l) => l.bodyBudgetBytes === 0 || l.bodyBudgetBytes >= Math.max(l.maxBodyBytes, l.bulkMaxPayloadBytes), {
    message: 'must be at least maxBodyBytes and bulkMaxPayloadBytes (or 0 for no budget), or the largest allowed body could never be read',
    path: ['bodyBudgetBytes'],
  });

export const configSchema = z
  .object({
    /** Where the store, tokens and audit log live. */
    dataDir: z.string().min(1).default(defaultDataDir()),
    /**
     * Where users, groups, the outbox and the audit log are kept: `lowdb` (files in dataDir, one
     * gateway) or `postgres` (databaseUrl; several gateway instances may share it, docs/scaling.md).
     */
    store: z.enum(['lowdb', 'postgres']).default('lowdb'),
    /**
     * postgres://user[:password]@host:5432/database for `store: postgres` (several hosts for
     * failover: postgres://user@db1:5432,db2:5432/database?target_session_attrs=read-write). Without a password in
     * it, PGPASSWORD or the secret `store:databasePassword` (scim-bridge secrets set store databasePassword).
     */
    databaseUrl: z.string().min(1).optional(),
    /**
     * PostgreSQL store: how long deliveries claimed by an instance that died wait before another
     * instance takes them over. A live instance renews its leases every third of this.
     */
    outboxLeaseSeconds: positiveInt.default(5),
    /**
     * PostgreSQL store: the longest a request waits for the database (a connection attempt per
     * host, or one statement) before the gateway answers 503 with Retry-After.
     */
    databaseTimeoutSeconds: positiveInt.default(10),
    /** SCIM listener. */
    host: z.string().min(1).default('0.0.0.0'),
    port: port.default(8080),
    /** Admin console listener: loopback by default. */
    adminHost: z.string().min(1).default('127.0.0.1'),
    adminPort: port.default(8081),
    /**
     * Host names (optionally name:port) the admin listener answers to besides literal loopback
     * addresses: for a non-loopback bind or a reverse proxy in front of the console. Any other
     * Host is refused (DNS rebinding).
     */
    adminAllowedHosts: z
      .array(z.string().min(1))
      .default([])
      .superRefine((list, ctx) => {
        for (const entry of list) {
          try {
            parseAllowedHost(entry);
          } catch (err) {
            ctx.addIssue({ code: 'custom', message: (err as Error).message });
          }
        }
      }),
    /** Public base URL the IdP uses (behind a reverse proxy); defaults to http://<host>:<port>. */
    publicUrl: z.string().url().optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * Which peers are reverse proxies whose X-Forwarded-For/-Proto/-Host are believed:
     * false (none), true (one hop: the peer), a hop count, or addresses/CIDRs (and `loopback`,
     * `linklocal`, `uniquelocal`). The client is the right-most address that is not a proxy.
     */
    trustProxy: z
      .union([z.boolean(), z.number().int().min(0).max(64), z.array(z.string().min(1))])
      .default(false)
      .superRefine((value, ctx) => {
        try {
          compileTrustProxy(value);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }),
    limits: limitsSchema.default(limitsSchema.parse({})),
    /** TLS on the SCIM listener: PEM certificate chain and private key files (both or neither). Reloaded when the files change. */
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    /** Addresses or CIDRs allowed to call the SCIM listener (e.g. your IdP's egress ranges); empty = any. */
    ipAllowList: z
      .array(z.string().min(1))
      .default([])
      .superRefine((list, ctx) => {
        try {
          parseAllowList(list);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }),
    /** Requests per second one SCIM token may send (bursts up to twice that); 0 = unlimited. Over it: 429 with Retry-After. */
    rateLimitPerToken: z.coerce.number().min(0).default(300),
    /** Requests one SCIM token may have in progress at once; 0 = unlimited. Over it: 429 with Retry-After. */
    concurrencyPerToken: z.coerce.number().int().min(0).default(32),
    /** Requests per second one client address may send; 0 = unlimited (IdPs share addresses among tenants). */
    rateLimitPerIp: z.coerce.number().min(0).default(0),
    /** Failed authentications from one address within lockoutWindowSeconds before bad tokens from it get 429; 0 = never. */
    lockoutFailures: z.coerce.number().int().min(0).default(20),
    lockoutWindowSeconds: positiveInt.default(300),
    lockoutSeconds: positiveInt.default(900),
    /** When set, /metrics on the admin listener requires "Authorization: Bearer <metricsToken>" (set it from the environment). */
    metricsToken: z.string().min(16, 'use at least 16 characters').optional(),
    /** Where connector secrets live: the OS keychain, an encrypted file, or the keychain when reachable (auto). */
    secretsBackend: z.enum(['auto', 'keychain', 'file']).default('auto'),
    /** The encrypted file backend's key file (default <dataDir>/secrets.key); keep it off the data disk if you can. */
    secretsKeyFile: z.string().min(1).optional(),
    /** When the daily backup runs (cron syntax, local time); "" disables it. */
    backupCron: z
      .string()
      .default('30 2 * * *')
      .refine((v) => v === '' || cron.validate(v), 'not a valid cron expression (e.g. "30 2 * * *")'),
    /** How many backups are kept in <dataDir>/backups. */
    backupKeep: z.coerce.number().int().min(1).default(7),
    /** When the audit log is rotated and old files removed (cron syntax); "" disables it. */
    auditCron: z
      .string()
      .default('15 2 * * *')
      .refine((v) => v === '' || cron.validate(v), 'not a valid cron expression (e.g. "15 2 * * *")'),
    /** When every connector that can list its users is reconciled (cron syntax); "" disables it. */
    reconcileCron: z
      .string()
      .default('0 3 * * *')
      .refine((v) => v === '' || cron.validate(v), 'not a valid cron expression (e.g. "0 3 * * *")'),
    /** Repair drift found by reconciliation (queue the operations that fix it), not only report it. */
    reconcileRepair: z.boolean().default(false),
    /** Delivery attempts before a connector operation that keeps failing transiently is dead-lettered. */
    outboxMaxAttempts: positiveInt.default(10),
    /** Longest wait between two attempts (the backoff doubles from 1 s up to this). */
    outboxMaxDelaySeconds: positiveInt.default(600),
    /** When the outbox is swept: due retries are kicked and stuck deliveries reported in the log (cron); "" disables it. */
    retrySweepCron: z
      .string()
      .default('* * * * *')
      .refine((v) => v === '' || cron.validate(v), 'not a valid cron expression (e.g. "* * * * *")'),
    /** Days a rotated audit file is kept. */
    auditRetentionDays: z.coerce.number().int().min(1).default(365),
    /**
     * Deploy-time connections and their policies (like Mendix's constants): created on start if
     * missing; their policies come from here and cannot be changed at run time.
     */
    connections: z
      .record(
        z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'connection names are 1-63 lower-case letters, digits, "-" or "_"'),
        z
          .object({
            policies: policySchema.partial().default({}),
            /** The connector instances this connection's changes are delivered to. */
            connectors: z.array(connectorInstanceSchema).default([]),
          })
          .strict(),
      )
      .default({})
      .superRefine((connections, ctx) => {
        const seen = new Map<string, string>();
        for (const [name, c] of Object.entries(connections)) {
          c.connectors.forEach((k, i) => {
            const other = seen.get(k.id);
            if (other) ctx.addIssue({ code: 'custom', path: [name, 'connectors', i, 'id'], message: `connector id "${k.id}" is already used by connection "${other}"; ids are unique across the gateway` });
            seen.set(k.id, name);
          });
        }
      }),
  })
  .strict()
  .refine((c) => (c.tlsCert === undefined) === (c.tlsKey === undefined), { message: 'give both tlsCert and tlsKey, or neither', path: ['tlsCert'] })
  .refine((c) => c.store !== 'postgres' || c.databaseUrl !== undefined, { message: 'store "postgres" needs databaseUrl (env SCIM_BRIDGE_DATABASE_URL), e.g. postgres://scim@db.example:5432/scim', path: ['databaseUrl'] })
  .refine((c) => c.databaseUrl === undefined || /^postgres(ql)?:\/\//.test(c.databaseUrl), { message: 'databaseUrl must start with postgres:// or postgresql:// (the value is not repeated here: it may hold a password)', path: ['databaseUrl'] });

export type GatewayConfig = z.infer<typeof configSchema>;
export type Limits = z.infer<typeof limitsSchema>;

export function defaultDataDir(): string {
  return process.env.SCIM_BRIDGE_DATA_DIR ?? join(homedir(), '.scim-bridge');
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** SCIM_BRIDGE_ADMIN_PORT -> adminPort; SCIM_BRIDGE_LIMITS_MAX_RESULTS -> limits.maxResults. */
function envKeyFor(path: string[]): string {
  return 'SCIM_BRIDGE_' + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

function boolish(v: string): unknown {
  if (/^(true|yes|1|on)$/i.test(v)) return true;
  if (/^(false|no|0|off)$/i.test(v)) return false;
  return v;
}

/** SCIM_BRIDGE_TRUST_PROXY: true/false (yes/no, on/off), a hop count, or a comma-separated list of addresses/CIDRs. */
function trustProxyFromEnv(raw: string): unknown {
  if (/^\d+$/.test(raw.trim())) return Number(raw);
  const flag = boolish(raw.trim());
  if (typeof flag === 'boolean') return flag;
  return raw.split(',').map((v) => v.trim()).filter(Boolean);
}

/** Environment variables that are not configuration keys. */
const NON_KEY_ENV = new Set(['SCIM_BRIDGE_CONFIG']);

function fromEnvironment(env: NodeJS.ProcessEnv): { values: Record<string, unknown>; sources: Map<string, string> } {
  const values: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  const known = new Map<string, string[]>();
  for (const key of Object.keys(configSchema.shape)) {
    if (key === 'limits') for (const l of Object.keys(limitsSchema.shape)) known.set(envKeyFor(['limits', l]), ['limits', l]);
    else known.set(envKeyFor([key]), [key]);
  }
  for (const [name, raw] of Object.entries(env)) {
    // SCIM_BRIDGE_SECRET_* hold connector secrets named by {"$env"} references, not settings.
    if (!name.startsWith('SCIM_BRIDGE_') || raw === undefined || NON_KEY_ENV.has(name) || name.startsWith(SECRET_ENV_PREFIX)) continue;
    const path = known.get(name);
    if (!path) {
      throw new ConfigError(`Unknown environment variable ${name}. Known: ${[...known.keys()].join(', ')}.`);
    }
    let value: unknown = path[0] === 'reconcileRepair' ? boolish(raw) : raw;
    if (path[0] === 'ipAllowList' || path[0] === 'adminAllowedHosts') value = raw.split(',').map((v) => v.trim()).filter(Boolean);
    if (path[0] === 'trustProxy') value = trustProxyFromEnv(raw);
    if (path[0] === 'connections') {
      // Deploy-time connections as JSON: SCIM_BRIDGE_CONNECTIONS='{"hr":{"policies":{"allowCreate":false}}}'
      try {
        value = JSON.parse(raw);
      } catch {
        throw new ConfigError(`${name} must be JSON, e.g. {"default":{"policies":{"allowedDomains":["example.com"]}}}.`);
      }
    }
    if (path.length === 2) {
      values.limits = { ...(values.limits as object | undefined), [path[1]]: value };
    } else {
      values[path[0]] = value;
    }
    sources.set(path.join('.'), `environment variable ${name}`);
  }
  return { values, sources };
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read the config file ${file}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`The config file ${file} is not a JSON object: ${(err as Error).message}`);
  }
}

export interface LoadConfigOptions {
  /** Flags from the command line (already camelCased). */
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON config file (--config, or SCIM_BRIDGE_CONFIG). */
  configFile?: string;
}

/** Loads and validates the configuration; throws ConfigError naming the bad key and its source. */
export function loadConfig(opts: LoadConfigOptions = {}): GatewayConfig {
  const env = opts.env ?? process.env;
  const file = opts.configFile ?? env.SCIM_BRIDGE_CONFIG;
  const fileValues = file ? readConfigFile(file) : {};
  const { values: envValues, sources } = fromEnvironment(env);
  const flags = Object.fromEntries(Object.entries(opts.flags ?? {}).filter(([, v]) => v !== undefined));
  for (const k of Object.keys(flags)) sources.set(k, `command-line flag --${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`);
  const merged: Record<string, unknown> = {
    ...fileValues,
    ...envValues,
    ...flags,
    limits: { ...(fileValues.limits as object | undefined), ...(envValues.limits as object | undefined) },
  };
  if (merged.dataDir === undefined && env.SCIM_BRIDGE_DATA_DIR === undefined) merged.dataDir = join(homedir(), '.scim-bridge');
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = issue.path.join('.') || '(top level)';
    const source = sources.get(key) ?? (file ? `config file ${file}` : 'configuration');
    const detail = issue.code === 'unrecognized_keys' ? `unknown key(s) ${(issue as { keys: string[] }).keys.join(', ')}` : issue.message;
    throw new ConfigError(`Invalid configuration "${key}" (from ${source}): ${detail}`);
  }
  const config = result.data;
  config.dataDir = resolve(config.dataDir);
  // The SCIM path is appended by the gateway; accept a public URL given with or without it.
  if (config.publicUrl) config.publicUrl = config.publicUrl.replace(/\/+$/, '').replace(/\/scim\/v2$/i, '');
  return config;
}
