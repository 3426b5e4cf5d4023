/**
 * Turns a client's resource JSON (POST, PUT, or the result of a PATCH) into the stored shape:
 * canonical attribute names, types checked against the schema, nulls dropped, read-only
 * attributes ignored, extension attributes under their URN. Every refusal is a ScimError naming
 * the attribute (RFC7644 §3.12 invalidValue / invalidSyntax).
 */
import type { AttributeDef } from '../schemas/attribute.js';
import { assertScim2Schemas, ENTERPRISE_USER_SCHEMA, ENTRA_GROUP_SCHEMA, type SchemaDef } from '../schemas/definitions.js';
import type { SchemaRegistry } from '../schemas/registry.js';
import { ScimError } from '../errors.js';
import type { Member, ResourceType, ScimJson } from '../../store/types.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Generous per-string cap; the body limit bounds the whole request. */
const MAX_STRING = 64 * 1024;

export interface NormalizedResource {
  data: ScimJson;
  /** Groups only: the members given in the body (undefined when the body had no `members`). */
  members?: Member[];
  /** Users only: the write-only password, if the client sent one. Never stored with the resource. */
  password?: string;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Entra ID sends string booleans ("True", "False"): coerce them (docs/idp/wire-behaviour.md). */
export function coerceBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const l = v.trim().toLowerCase();
    if (l === 'true') return true;
    if (l === 'false') return false;
  }
  return undefined;
}

function checkKey(key: string, where: string): void {
  if (FORBIDDEN_KEYS.has(key)) throw ScimError.invalidValue(`The key "${key}" is not allowed in ${where}.`);
}

function coerceSimple(def: AttributeDef, value: unknown, path: string): unknown {
  switch (def.type) {
    case 'string':
    case 'reference':
    case 'binary':
      if (typeof value !== 'string') {
        if (typeof value === 'number' && def.type === 'string') return String(value);
        throw ScimError.invalidValue(`Attribute "${path}" must be a string, got ${describe(value)}.`);
      }
      if (value.length > MAX_STRING) throw ScimError.invalidValue(`Attribute "${path}" is longer than ${MAX_STRING} characters.`);
      return value;
    case 'boolean': {
      const b = coerceBoolean(value);
      if (b === undefined) throw ScimError.invalidValue(`Attribute "${path}" must be a boolean (true or false), got ${describe(value)}.`);
      return b;
    }
    case 'integer': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n)) throw ScimError.invalidValue(`Attribute "${path}" must be an integer, got ${describe(value)}.`);
      return n;
    }
    case 'decimal': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw ScimError.invalidValue(`Attribute "${path}" must be a number, got ${describe(value)}.`);
      return n;
    }
    case 'dateTime':
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
        throw ScimError.invalidValue(`Attribute "${path}" must be an xsd:dateTime such as 2026-01-31T12:00:00Z, got ${describe(value)}.`);
      }
      return value;
    case 'complex':
      throw new Error('complex handled by caller');
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `${typeof v} ${typeof v === 'object' ? '' : JSON.stringify(v)}`.trim();
}

function normalizeComplex(def: AttributeDef, value: unknown, path: string): Record<string, unknown> | undefined {
  if (!isPlainObject(value)) throw ScimError.invalidValue(`Attribute "${path}" must be an object with sub-attributes, got ${describe(value)}.`);
  const subs = def.subAttributes ?? [];
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(value)) {
    checkKey(key, path);
    if (raw === null || raw === undefined) continue;
    const sub = subs.find((s) => s.name.toLowerCase() === key.toLowerCase());
    if (!sub) continue; // unknown sub-attributes are ignored, as for unknown attributes
    out[sub.name] = coerceSimple(sub, raw, `${path}.${sub.name}`);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function normalizeAttribute(def: AttributeDef, value: unknown, path: string): unknown {
  if (def.multiValued) {
    const list = Array.isArray(value) ? value : [value];
    const out: unknown[] = [];
    for (let i = 0; i < list.length; i++) {
      const el = list[i];
      if (el === null || el === undefined) continue;
      const v = def.type === 'complex' ? normalizeComplex(def, el, `${path}[${i}]`) : coerceSimple(def, el, `${path}[${i}]`);
      if (v !== undefined) out.push(v);
    }
    if (def.type === 'complex') {
      const primaries = out.filter((e) => (e as Record<string, unknown>).primary === true).length;
      if (primaries > 1) throw ScimError.invalidValue(`Attribute "${path}" has ${primaries} elements marked primary; at most one may be (RFC7643 §2.4).`);
    }
    return out.length > 0 ? out : undefined;
  }
  if (def.type === 'complex') return normalizeComplex(def, value, path);
  return coerceSimple(def, value, path);
}

/** Entra ID sends manager as a plain id or `[{"$ref":…, "value": id}]`; store `{ value }` (docs/idp/wire-behaviour.md). */
function normalizeManager(value: unknown): unknown {
  if (typeof value === 'string') return value === '' ? null : { value };
  if (Array.isArray(value)) return value.length === 0 ? null : normalizeManager(value[0]);
  return value;
}

function normalizeSchemaBlock(
  schema: SchemaDef,
  source: Record<string, unknown>,
  target: Record<string, unknown>,
  opts: { ignore: Set<string>; prefix: string },
): void {
  for (const [key, raw] of Object.entries(source)) {
    checkKey(key, 'the resource');
    const lower = key.toLowerCase();
    if (opts.ignore.has(lower)) continue;
    const def = schema.attributes.find((a) => a.name.toLowerCase() === lower);
    if (!def) continue;
    let value = raw;
    if (schema.id === ENTERPRISE_USER_SCHEMA && def.name === 'manager') value = normalizeManager(raw);
    if (value === null || value === undefined) continue; // Entra sends nulls for absent values
    if (def.mutability === 'readOnly') continue; // RFC7643 §2.2: readOnly values in a request are ignored
    const normalized = normalizeAttribute(def, value, opts.prefix + def.name);
    if (normalized !== undefined) target[def.name] = normalized;
  }
}

/**
 * Normalizes a full resource body (POST/PUT) or a patched resource.
 * @param body the JSON the client sent (or the PATCH result merged with id/schemas)
 */
export function normalizeResource(registry: SchemaRegistry, type: ResourceType, body: unknown): NormalizedResource {
  if (!isPlainObject(body)) throw ScimError.invalidSyntax(`The request body must be a JSON object describing a ${type}.`);
  const rt = registry.resourceType(type);
  const coreSchema = registry.schema(rt.schema)!;
  const extUrns = registry.extensionUrns(type);

  const schemasField = body.schemas ?? body.Schemas;
  assertScim2Schemas(schemasField);
  if (schemasField !== undefined) {
    if (!Array.isArray(schemasField) || schemasField.some((s) => typeof s !== 'string')) {
      throw ScimError.invalidSyntax('"schemas" must be an array of schema URNs.');
    }
    const lower = (schemasField as string[]).map((s) => s.toLowerCase());
    if (!lower.includes(rt.schema.toLowerCase())) {
      throw ScimError.invalidValue(`"schemas" must include ${rt.schema} for a ${type}; it has ${JSON.stringify(schemasField)}.`);
    }
  }

  const data: ScimJson = {};
  // Core attributes: id, meta, schemas and the type's extension blocks are handled apart.
  const ignore = new Set(['id', 'meta', 'schemas', 'members', 'password', ...extUrns.keys()]);
  normalizeSchemaBlock(coreSchema, body, data, { ignore, prefix: '' });

  // externalId is a common attribute (RFC7643 §3.1): caseExact string.
  const externalKey = Object.keys(body).find((k) => k.toLowerCase() === 'externalid');
  if (externalKey && body[externalKey] !== null && body[externalKey] !== undefined) {
    const v = body[externalKey];
    if (typeof v !== 'string') throw ScimError.invalidValue(`Attribute "externalId" must be a string, got ${describe(v)}.`);
    if (v.length > MAX_STRING) throw ScimError.invalidValue('Attribute "externalId" is too long.');
    if (v !== '') data.externalId = v;
  }
  delete data.externalid;

  for (const [key, raw] of Object.entries(body)) {
    const urn = extUrns.get(key.toLowerCase());
    if (!urn || raw === null || raw === undefined) continue;
    if (!isPlainObject(raw)) throw ScimError.invalidValue(`The extension "${urn}" must be an object of attributes.`);
    const block: Record<string, unknown> = {};
    normalizeSchemaBlock(registry.schema(urn)!, raw, block, { ignore: new Set(), prefix: `${urn}:` });
    if (Object.keys(block).length > 0) data[urn] = block;
  }

  const result: NormalizedResource = { data };

  if (type === 'User') {
    const pwKey = Object.keys(body).find((k) => k.toLowerCase() === 'password');
    if (pwKey && body[pwKey] !== null && body[pwKey] !== undefined) {
      if (typeof body[pwKey] !== 'string') throw ScimError.invalidValue('Attribute "password" must be a string.');
      result.password = body[pwKey] as string;
    }
    if (typeof data.userName !== 'string' || data.userName.trim() === '') {
      throw ScimError.invalidValue('Attribute "userName" is required and must be a non-empty string.');
    }
  } else {
    if (typeof data.displayName !== 'string' || data.displayName.trim() === '') {
      throw ScimError.invalidValue('Attribute "displayName" is required and must be a non-empty string.');
    }
    const membersKey = Object.keys(body).find((k) => k.toLowerCase() === 'members');
    if (membersKey !== undefined) result.members = normalizeMembers(body[membersKey], 'members');
  }
  return result;
}

/** Validates a members list (`[{ value, display?, type? }]`); duplicates collapse to the first. */
export function normalizeMembers(raw: unknown, path: string): Member[] {
  if (raw === null || raw === undefined) return [];
  if (!Array.isArray(raw)) throw ScimError.invalidValue(`"${path}" must be an array of { "value": "<id>" } objects.`);
  const seen = new Set<string>();
  const out: Member[] = [];
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i];
    if (!isPlainObject(m)) throw ScimError.invalidValue(`"${path}[${i}]" must be an object with a "value" (the member's id).`);
    for (const k of Object.keys(m)) checkKey(k, path);
    const value = m.value ?? m.Value;
    if (typeof value !== 'string' || value === '') throw ScimError.invalidValue(`"${path}[${i}].value" must be the member's id (a non-empty string).`);
    if (seen.has(value)) continue;
    seen.add(value);
    const member: Member = { value };
    const t = m.type ?? m.Type;
    if (typeof t === 'string') {
      const tl = t.toLowerCase();
      if (tl !== 'user' && tl !== 'group') throw ScimError.invalidValue(`"${path}[${i}].type" must be "User" or "Group", got ${JSON.stringify(t)}.`);
      member.type = tl === 'user' ? 'User' : 'Group';
    }
    const d = m.display ?? m.Display;
    if (typeof d === 'string' && d !== '') member.display = d;
    out.push(member);
  }
  return out;
}

/** Schemas accepted in a Group body besides the core one. */
export const IGNORED_GROUP_SCHEMAS = [ENTRA_GROUP_SCHEMA];
