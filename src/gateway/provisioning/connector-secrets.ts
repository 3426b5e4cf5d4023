/**
 * Connector secrets as the gateway keeps them: a stored configuration holds at each secret field a
 * reference (`{ "$secret": true }`: the value is in the secret store under
 * `<connectorId>:<fieldPath>`; `{ "$env": "NAME" }`: read from the environment), never a value.
 *
 * A secret is sent only where it was entered for: a configuration that points a connector at
 * endpoints its saved one does not send to (see the SDK's target identity), or that changes its
 * type, reuses no saved secret; each must be typed again. `$env` references come from the config
 * file only, and only name variables under SECRET_ENV_PREFIX, so no connector configuration can
 * read the gateway's own settings.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  describeSecretFields,
  newEndpoints,
  resolveTargetIdentity,
  secretsMayFollow,
  type ConnectorDefinition,
  type SecretReader,
} from '../../../connectors/sdk/index.js';

/** Environment variables a `{ "$env": NAME }` secret may name: nothing else of the gateway's environment is handed to a connector. */
export const SECRET_ENV_PREFIX = 'SCIM_BRIDGE_SECRET_';

/** Where connector secrets come from: the keychain-backed store (secrets/), by account. */
export interface SecretSource {
  get(account: string): Promise<string | undefined>;
  set?(account: string, value: string): Promise<void>;
  delete?(account: string): Promise<unknown>;
  has?(account: string): Promise<boolean>;
  /** Every stored account; lets a connector's removal find every secret filed under its id. */
  list?(): Promise<string[]>;
}

/** Account of a connector's secret field in the secret store: `<connectorId>:<fieldPath>`. */
export function secretAccount(connectorId: string, field: string): string {
  return `${connectorId}:${field}`;
}

/** What a stored configuration holds where a secret's value is kept in the secret store. */
export const SECRET_REF = Object.freeze({ $secret: true as const });

export function isSecretRef(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { $secret?: unknown }).$secret === true;
}

export function isEnvRef(value: unknown): value is { $env: string } {
  return typeof value === 'object' && value !== null && typeof (value as { $env?: unknown }).$env === 'string';
}

function pathParts(field: string): string[] | undefined {
  return field.includes('[]') ? undefined : field.split('.');
}

/** The value at a secret field's dot path of a configuration. */
export function readAt(root: unknown, field: string): unknown {
  const parts = pathParts(field);
  if (!parts) return undefined;
  let node: unknown = root;
  for (const p of parts) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[p];
  }
  return node;
}

/** Sets (or, with undefined, removes) the value at a dot path whose parent exists. */
export function writeAt(root: unknown, field: string, value: unknown): void {
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

/** Why an `$env` name is refused, or undefined when it may be read. */
function envNameProblem(field: string, name: string): string | undefined {
  if (name.startsWith(SECRET_ENV_PREFIX) && name.length > SECRET_ENV_PREFIX.length) return undefined;
  const suggestion = /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !name.startsWith('SCIM_BRIDGE_') ? `: rename it to ${SECRET_ENV_PREFIX}${name}` : '';
  return `"${field}" names the environment variable ${name}; connector secrets are read only from variables whose name starts with ${SECRET_ENV_PREFIX} (the gateway's own settings are never handed to a connector)${suggestion}`;
}

/**
 * The secrets an instance reads: a field written `{ "$env": "NAME" }` in its config comes from
 * that environment variable (deploy-time configuration, `SCIM_BRIDGE_SECRET_*` only); any other
 * from the secret store.
 */
export function secretReaderFor(connectorId: string, rawConfig: unknown, secrets: SecretSource | undefined, env: NodeJS.ProcessEnv = process.env): SecretReader {
  return {
    async get(field) {
      const ref = readAt(rawConfig, field);
      if (isEnvRef(ref)) {
        const problem = envNameProblem(field, ref.$env);
        if (problem) throw new Error(problem);
        return env[ref.$env] || undefined;
      }
      if (typeof ref === 'string' && ref !== '') {
        throw new Error(
          `"${field}" is a secret: do not write its value in the configuration. Write {"$env": "${SECRET_ENV_PREFIX}NAME"} to read it from the environment, or keep it in the secret store: scim-bridge secrets set ${connectorId} ${field} (value on stdin)`,
        );
      }
      return secrets ? secrets.get(secretAccount(connectorId, field)) : undefined;
    },
  };
}

/** A connector configuration as stored or as a request sends it. */
export interface ConnectorDraft {
  type: string;
  config?: unknown;
}

/** What happens to one secret field when a configuration is saved or tested. */
export type SecretFieldPlan =
  /** A value typed in the request: stored (or, for a test, used) as is. */
  | { path: string; action: 'set'; value: string }
  /** The saved secret stays; `ref` is what the stored configuration keeps at the field. */
  | { path: string; action: 'keep'; ref: unknown }
  /** `null` in the request: the saved secret is removed. */
  | { path: string; action: 'clear' }
  /** Nothing saved, nothing typed. */
  | { path: string; action: 'none' };

export interface SecretPlan {
  fields: SecretFieldPlan[];
  /** No saved secret is reused: a new connector, another type, or endpoints the secrets were not entered for. */
  fresh: boolean;
}

/** A secret field the request must fill in; `field` is its path in the request (`config.auth.token`). */
export class SecretReentryError extends Error {
  override name = 'SecretReentryError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/**
 * How a candidate configuration of connector `id` treats each secret field, against the saved
 * configuration of that id (undefined for a new connector). Throws SecretReentryError when the
 * candidate would send a saved secret to an endpoint it was not entered for, or brings an `$env`
 * reference of its own (those are written in the config file, not sent by the console).
 * `hasStored` tells whether the secret store holds a value for a field (set with the CLI, the
 * saved configuration shows no reference for it).
 */
export async function planSecrets(
  definition: ConnectorDefinition<unknown>,
  id: string,
  saved: ConnectorDraft | undefined,
  candidate: ConnectorDraft,
  hasStored: (field: string) => Promise<boolean>,
): Promise<SecretPlan> {
  const manifest = definition.manifest;
  const sameType = saved !== undefined && saved.type === candidate.type;
  const candidateIdentity = resolveTargetIdentity(manifest, candidate.config);
  const savedIdentity = sameType ? resolveTargetIdentity(manifest, saved.config) : undefined;
  const fresh = savedIdentity === undefined || !secretsMayFollow(candidateIdentity, savedIdentity);
  const fields: SecretFieldPlan[] = [];
  for (const { path } of describeSecretFields(manifest.configSchema)) {
    const sent = readAt(candidate.config, path);
    const before = sameType ? readAt(saved.config, path) : undefined;
    const field = `config.${path}`;
    if (typeof sent === 'string' && sent !== '') {
      fields.push({ path, action: 'set', value: sent });
    } else if (sent === null) {
      fields.push({ path, action: 'clear' });
    } else if (isEnvRef(sent)) {
      const problem = envNameProblem(path, sent.$env);
      if (problem) throw new SecretReentryError(`Connector "${id}": ${problem}.`, field);
      // Kept as saved from the config file, pointing where it did: the only way one reaches here.
      if (fresh || !isDeepStrictEqual(sent, before)) {
        throw new SecretReentryError(
          `Connector "${id}": "${path}" is an {"$env": …} reference; those are written in the config file, at deploy time. Type the secret here instead: it is kept in the secret store.`,
          field,
        );
      }
      fields.push({ path, action: 'keep', ref: before });
    } else if (!fresh) {
      fields.push({ path, action: 'keep', ref: isSecretRef(before) || isEnvRef(before) ? before : undefined });
    } else {
      if (sameType && (isSecretRef(before) || isEnvRef(before) || (await hasStored(path)))) {
        throw new SecretReentryError(
          `Connector "${id}" would now send its secrets to ${newEndpoints(candidateIdentity, savedIdentity!).join(', ')}, where "${path}" was not entered for: type it again (a saved secret is only sent where it was entered), or send null to remove it.`,
          field,
        );
      }
      fields.push({ path, action: 'none' });
    }
  }
  return { fields, fresh };
}

/**
 * Removes every secret filed under a connector id (all accounts `<id>:…` when the store can list
 * them, else the fields named), except the fields in `keep`: when a connector is deleted, changes
 * type or points elsewhere, and before a new one starts, so nothing is ever inherited.
 */
export async function purgeSecrets(secrets: SecretSource | undefined, connectorId: string, fields: readonly string[], keep: ReadonlySet<string> = new Set()): Promise<void> {
  if (!secrets?.delete) return;
  const prefix = secretAccount(connectorId, '');
  const accounts = secrets.list ? (await secrets.list()).filter((a) => a.startsWith(prefix)) : fields.map((f) => secretAccount(connectorId, f));
  for (const account of accounts) {
    if (!keep.has(account.slice(prefix.length))) await secrets.delete(account);
  }
}
