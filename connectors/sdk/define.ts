/**
 * defineConnector and the start-up contract check. As in Auth.js's assert.ts, a connector that
 * declares a capability without the method behind it fails when it is loaded, not mid-request.
 */
import { z } from 'zod';
import { ConnectorContractError } from './errors.js';
import { describeSecretFields } from './secrets.js';
import type { Capability, Connector, ConnectorDefinition, ConnectorManifest } from './types.js';

/** Methods each capability requires (`passwords` is a flag only). */
export const CAPABILITY_METHODS: Readonly<Record<Capability, readonly (keyof Connector<unknown>)[]>> = {
  create: ['createUser'],
  update: ['updateUser'],
  deactivate: ['deactivateUser'],
  reactivate: ['reactivateUser'],
  delete: ['deleteUser'],
  groups: ['upsertGroup', 'deleteGroup'],
  membership: ['addMembers', 'removeMembers'],
  read: ['listUsers'],
  lookup: ['findUser'],
  dryRun: ['preview'],
  passwords: [],
};

const LIFECYCLE_METHODS = ['init', 'test', 'dispose'] as const;
const KEBAB = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
// semver.org's core + prerelease + build, without the full grammar's edge cases.
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

/** Bundles a manifest with the factory of instances; check it with `validateConnector`. */
export function defineConnector<C>(manifest: ConnectorManifest<C>, create: () => Connector<C>): ConnectorDefinition<C> {
  return { manifest, create };
}

/** The problems of a manifest alone (id, version, schema, capability coherence, secret paths). */
export function manifestProblems(manifest: ConnectorManifest<unknown>): string[] {
  const problems: string[] = [];
  if (!KEBAB.test(manifest.type)) problems.push(`type "${manifest.type}" must be kebab-case (e.g. "my-erp")`);
  if (!manifest.displayName?.trim()) problems.push('displayName is empty');
  if (!manifest.description?.trim()) problems.push('description is empty');
  if (!SEMVER.test(manifest.version)) problems.push(`version "${manifest.version}" is not semver`);
  if (!(manifest.configSchema instanceof z.ZodType)) {
    problems.push('configSchema is not a zod schema');
  } else {
    try {
      for (const field of describeSecretFields(manifest.configSchema)) {
        // The keychain account is "<instance>/<path>": an array element has no stable path.
        if (field.path.includes('[]')) problems.push(`secret field "${field.path}" is inside an array`);
        if (field.path === '') problems.push('the whole config is marked secret; mark fields instead');
      }
    } catch (err) {
      problems.push(`configSchema cannot be inspected for secret fields: ${(err as Error).message}`);
    }
  }
  if (manifest.targetIdentity !== undefined && typeof manifest.targetIdentity !== 'function') problems.push('targetIdentity must be a function of the config');
  const caps = manifest.capabilities ?? {};
  for (const name of Object.keys(caps)) {
    if (!(name in CAPABILITY_METHODS)) problems.push(`unknown capability "${name}"`);
  }
  if (caps.membership && !caps.groups) problems.push('capability "membership" requires capability "groups"');
  return problems;
}

/** Problems of an instance against its manifest: missing lifecycle or capability methods. */
export function connectorProblems(manifest: ConnectorManifest<unknown>, connector: Connector<unknown>): string[] {
  const problems: string[] = [];
  const has = (method: string): boolean =>
    typeof (connector as unknown as Record<string, unknown>)[method] === 'function';
  for (const method of LIFECYCLE_METHODS) if (!has(method)) problems.push(`method ${method} is missing`);
  for (const [cap, methods] of Object.entries(CAPABILITY_METHODS) as [Capability, readonly string[]][]) {
    if (!manifest.capabilities?.[cap]) continue;
    const missing = methods.filter((m) => !has(m));
    if (missing.length) problems.push(`capability "${cap}" requires method ${missing.join(', ')}`);
  }
  return problems;
}

/**
 * Checks a definition at start-up: the manifest is well formed and a fresh instance has every
 * method its declared capabilities need. Throws ConnectorContractError listing every problem.
 */
export function validateConnector<C>(definition: ConnectorDefinition<C>): ConnectorDefinition<C> {
  const manifest = definition.manifest as ConnectorManifest<unknown>;
  const problems = manifestProblems(manifest);
  // create() must be cheap and side-effect free (no connection before init), so calling it here is safe.
  problems.push(...connectorProblems(manifest, definition.create() as Connector<unknown>));
  if (problems.length) throw new ConnectorContractError(manifest.type, problems);
  return definition;
}
