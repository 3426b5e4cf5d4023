/**
 * Target identity: where a connector instance points, read from its stored configuration with the
 * manifest's `targetIdentity`. The gateway compares identities to find instances of different
 * connections that write the same accounts, and to keep a saved secret from being sent to an
 * endpoint it was not entered for.
 */
import { isDeepStrictEqual } from 'node:util';
import { deletePath, describeSecretFields, hasParent, setPath } from './secrets.js';
import type { ConnectorManifest } from './types.js';

/** Default ports of the schemes built-in connectors speak; `normalizeEndpoint` spells them out. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443, ldap: 389, ldaps: 636, postgres: 5432, postgresql: 5432, mysql: 3306, mariadb: 3306 };

/**
 * `scheme://host:port` of a URL: scheme and host in lower case, the port spelled out (the scheme's
 * default, or `defaultPort`, when the URL gives none); no user, path or query. Two spellings of
 * one server compare equal, except a name and its address (`localhost` vs `127.0.0.1`): nothing
 * is resolved. Throws on a URL without a host.
 */
export function normalizeEndpoint(url: string, defaultPort?: number): string {
  const u = new URL(url);
  const scheme = u.protocol.replace(/:$/, '').toLowerCase();
  const host = u.hostname.toLowerCase().replace(/\.$/, '');
  if (!host) throw new Error(`"${url}" names no host`);
  const port = u.port || String(defaultPort ?? DEFAULT_PORTS[scheme] ?? '');
  return `${scheme}://${host}${port ? `:${port}` : ''}`;
}

/** Where a stored configuration points, as far as the gateway can tell. */
export interface ResolvedTargetIdentity {
  /** The accounts it writes; absent when the type does not say or the configuration cannot be read. */
  target?: string;
  /** Where its secrets go; absent when unknown, and then the whole configuration stands for it. */
  endpoints?: string[];
  /** The configuration without its secret fields. */
  config: unknown;
}

/** Fills secret fields for validation only: a schema may require them, and they never say where an instance points. */
const STAND_IN = 'target-identity-stand-in-0123456789';

/**
 * Reads a stored configuration's identity (secret fields absent, or references) with the
 * manifest's `targetIdentity`. A configuration the schema refuses, a type without
 * `targetIdentity`, or one that throws, has no `target` and no `endpoints`.
 */
export function resolveTargetIdentity<C>(manifest: ConnectorManifest<C>, config: unknown): ResolvedTargetIdentity {
  const fields = describeSecretFields(manifest.configSchema);
  const withoutSecrets: unknown = structuredClone(config ?? {});
  for (const f of fields) deletePath(withoutSecrets, f.path);
  const unknownIdentity: ResolvedTargetIdentity = { config: withoutSecrets };
  if (typeof manifest.targetIdentity !== 'function') return unknownIdentity;
  const parsed = parseWithStandIns(manifest.configSchema, withoutSecrets, fields.map((f) => f.path));
  if (parsed === undefined) return unknownIdentity;
  for (const f of fields) deletePath(parsed, f.path);
  try {
    const identity = manifest.targetIdentity(parsed as C);
    if (typeof identity?.target !== 'string' || identity.target === '') return unknownIdentity;
    const endpoints = identity.endpoints?.filter((e) => typeof e === 'string' && e !== '') ?? [];
    return { target: identity.target, endpoints: endpoints.length > 0 ? endpoints : [identity.target], config: withoutSecrets };
  } catch {
    return unknownIdentity;
  }
}

/**
 * Parses a configuration whose secret fields are absent: a secret the schema requires must not
 * hide where the instance points, so each gets a stand-in, except where the schema refuses the
 * field (a strict union branch that has no such field: `auth.token` under `{ "type": "basic" }`).
 */
function parseWithStandIns(schema: ConnectorManifest<unknown>['configSchema'], config: unknown, paths: string[]): unknown {
  const input: unknown = structuredClone(config);
  const standIns = new Set(paths.filter((p) => hasParent(input, p)));
  for (const p of standIns) setPath(input, p, STAND_IN);
  for (let attempt = 0; attempt <= paths.length; attempt++) {
    const parsed = schema.safeParse(input);
    if (parsed.success) return parsed.data;
    const refused = parsed.error.issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((k) => [...i.path, k].join('.')) : [])).filter((p) => standIns.has(p));
    if (refused.length === 0) return undefined;
    for (const p of refused) {
      deletePath(input, p);
      standIns.delete(p);
    }
  }
  return undefined;
}

/**
 * Whether secrets saved for `saved` may be sent by an instance configured as `candidate`: every
 * endpoint of the candidate is one of the saved configuration's. Where either identity is
 * unknown, only the very same configuration qualifies.
 */
export function secretsMayFollow(candidate: ResolvedTargetIdentity, saved: ResolvedTargetIdentity): boolean {
  if (candidate.endpoints && saved.endpoints) return candidate.endpoints.every((e) => saved.endpoints!.includes(e));
  return isDeepStrictEqual(candidate.config, saved.config);
}

/** The endpoints of `candidate` that `saved` does not send to, for a message. */
export function newEndpoints(candidate: ResolvedTargetIdentity, saved: ResolvedTargetIdentity): string[] {
  if (!candidate.endpoints) return ['(a changed configuration)'];
  return candidate.endpoints.filter((e) => !saved.endpoints?.includes(e));
}
