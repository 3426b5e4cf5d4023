/**
 * Secret config fields and redaction. A field marked with `secret()` never lives in the
 * gateway's database: the gateway stores it in the OS keychain and the connector reads it with
 * `secrets.get(path)`. The host redacts every secret value it has seen from everything it
 * rethrows or logs (semantic-release's hide-sensitive idea).
 */
import { z } from 'zod';
import type { SecretReader } from './types.js';

/** What `secret()` attaches to a schema as zod metadata. */
export interface SecretMeta {
  secret: true;
  /** The connector works without it (e.g. anonymous bind). */
  secretOptional?: true;
}

/**
 * Marks a config field as secret. The field is optional in the config type because the
 * connector never finds it there: read it with `ctx.secrets.get('<path>')`. The host still checks
 * that a required secret is set, and validates its value with `schema`.
 */
export function secret<T extends z.ZodType<string>>(schema: T, options: { optional?: boolean } = {}): z.ZodOptional<T> {
  const meta: SecretMeta = options.optional ? { secret: true, secretOptional: true } : { secret: true };
  return schema.optional().meta({ ...meta });
}

/** A secret field of a config schema. */
export interface SecretField {
  /** Dot path, e.g. `bindPassword` or `auth.clientSecret`; `[]` marks an array element. */
  path: string;
  required: boolean;
}

type JsonNode = Record<string, unknown>;

function isNode(value: unknown): value is JsonNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Lists the secret fields of a config schema with whether each is required. */
export function describeSecretFields(schema: z.ZodType): SecretField[] {
  // The JSON Schema rendering carries zod metadata and flattens optional/default/nullable
  // wrappers, so one walk covers every way an author may nest a secret field.
  const root = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonNode;
  const found = new Map<string, SecretField>();
  const defs = (isNode(root.$defs) ? root.$defs : isNode(root.definitions) ? root.definitions : {}) as JsonNode;

  const walk = (node: unknown, path: string, depth: number): void => {
    if (!isNode(node) || depth > 32) return;
    if (node.secret === true) {
      const required = node.secretOptional !== true;
      const known = found.get(path);
      found.set(path, { path, required: (known?.required ?? false) || required });
    }
    if (typeof node.$ref === 'string') {
      const name = node.$ref.split('/').pop() ?? '';
      walk(defs[name], path, depth + 1);
    }
    if (isNode(node.properties)) {
      for (const [key, child] of Object.entries(node.properties)) walk(child, path ? `${path}.${key}` : key, depth + 1);
    }
    if (node.items !== undefined) walk(node.items, `${path}[]`, depth + 1);
    for (const combinator of ['anyOf', 'oneOf', 'allOf'] as const) {
      const branches = node[combinator];
      if (Array.isArray(branches)) for (const branch of branches) walk(branch, path, depth + 1);
    }
  };
  walk(root, '', 0);
  return [...found.values()];
}

/** Dot paths of the fields marked with `secret()` in a config schema. */
export function secretFields(schema: z.ZodType): string[] {
  return describeSecretFields(schema).map((f) => f.path);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The placeholder that replaces a secret. */
export const REDACTED = '[REDACTED]';

/**
 * Replaces every occurrence of each secret (and its URL-encoded form, as it appears in
 * connection strings) with `[REDACTED]`. Empty secrets are ignored.
 */
export function redact(text: string, secrets: Iterable<string>): string {
  const variants = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    variants.add(s);
    variants.add(encodeURIComponent(s));
  }
  if (variants.size === 0) return text;
  // Longest first, so a secret that contains another one is replaced whole.
  const pattern = [...variants].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|');
  return text.replace(new RegExp(pattern, 'g'), REDACTED);
}

/** Redacts secrets from every string inside a JSON-like value (for log fields and previews). */
export function redactDeep<T>(value: T, secrets: Iterable<string>): T {
  const list = [...secrets].filter((s) => s.length > 0);
  if (list.length === 0) return value;
  const visit = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return redact(v, list);
    if (depth > 32 || typeof v !== 'object' || v === null) return v;
    if (Array.isArray(v)) return v.map((x) => visit(x, depth + 1));
    if (v instanceof Error) return redact(`${v.name}: ${v.message}`, list);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = visit(x, depth + 1);
    return out;
  };
  return visit(value, 0) as T;
}

/** A SecretReader over a plain record: for tests and the conformance kit, not for production. */
export function staticSecrets(values: Record<string, string | undefined>): SecretReader {
  return { get: async (field) => values[field] };
}

/** Reads a dot path (no arrays) from a plain object. */
export function getPath(target: unknown, path: string): unknown {
  let cur: unknown = target;
  for (const part of path.split('.')) {
    if (!isNode(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Whether the parent object of a dot path exists (a top-level path always has one). */
export function hasParent(target: unknown, path: string): boolean {
  const parts = path.split('.');
  return isNode(parts.length === 1 ? target : getPath(target, parts.slice(0, -1).join('.')));
}

/** Sets a dot path when its parent object exists; returns whether it did. */
export function setPath(target: unknown, path: string, value: unknown): boolean {
  const parts = path.split('.');
  const parent = parts.length === 1 ? target : getPath(target, parts.slice(0, -1).join('.'));
  if (!isNode(parent)) return false;
  parent[parts[parts.length - 1]] = value;
  return true;
}

/** Deletes a dot path if present. */
export function deletePath(target: unknown, path: string): void {
  const parts = path.split('.');
  const parent = parts.length === 1 ? target : getPath(target, parts.slice(0, -1).join('.'));
  if (isNode(parent)) delete parent[parts[parts.length - 1]];
}
