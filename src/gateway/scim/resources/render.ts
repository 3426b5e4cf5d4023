/**
 * Stored resource -> SCIM representation (RFC7643 §3), with `attributes` / `excludedAttributes`
 * projection that honours each attribute's `returned` characteristic (RFC7644 §3.4.2.5).
 */
import type { AttributeDef } from '../schemas/attribute.js';
import type { SchemaRegistry } from '../schemas/registry.js';
import type { Member, StoredResource } from '../../store/types.js';
import { ScimError } from '../errors.js';

/** A parsed `attributes` or `excludedAttributes` list: top-level (or extension) attribute -> sub-attributes (empty = whole). */
export interface Projection {
  mode: 'include' | 'exclude';
  /** key: `<extension urn or ''>\u0000<canonical attr>` */
  entries: Map<string, Set<string>>;
}

const KEY_SEP = '\u0000';

/** Parses `attributes=` / `excludedAttributes=` (comma-separated attribute paths). Unknown names are ignored. */
export function parseProjection(
  registry: SchemaRegistry,
  type: 'User' | 'Group',
  raw: string | undefined,
  mode: 'include' | 'exclude',
  maxAttributes = 100,
): Projection | undefined {
  if (raw === undefined) return undefined;
  const parts = raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) return undefined;
  const param = mode === 'include' ? 'attributes' : 'excludedAttributes';
  if (parts.length > maxAttributes) throw ScimError.invalidValue(`"${param}" names ${parts.length} attributes; at most ${maxAttributes} are allowed.`);
  const resolver = registry.resolver(type);
  const entries = new Map<string, Set<string>>();
  for (const part of parts) {
    if (part.length > 512) throw ScimError.invalidValue(`An attribute name in "${param}" is too long.`);
    const { schema, attr, sub } = splitAttrName(part, param);
    const resolved = resolver.resolve(schema, attr, sub);
    if (!resolved) {
      // A bare extension URN selects the whole extension block.
      const urn = registry.extensionUrns(type).get(part.toLowerCase());
      if (urn) entries.set(`${urn}${KEY_SEP}*`, new Set());
      continue;
    }
    const key = `${resolved.extension ?? ''}${KEY_SEP}${resolved.canonical}`;
    const set = entries.get(key) ?? new Set<string>();
    if (resolved.sub) set.add(resolved.sub.canonical);
    else set.add('*');
    entries.set(key, set);
  }
  return { mode, entries };
}

const NAME_RE = /^(?:(urn:[A-Za-z0-9:._-]+):)?([A-Za-z$][A-Za-z0-9_$-]*)(?:\.([A-Za-z$][A-Za-z0-9_$-]*))?$/;

/** Splits `urn:…:attr.sub` into its parts (the URN may contain dots, e.g. `2.0`). */
export function splitAttrName(text: string, param: string): { schema?: string; attr: string; sub?: string } {
  const m = NAME_RE.exec(text);
  if (!m) throw ScimError.invalidValue(`"${text}" in "${param}" is not an attribute name (expected name, name.subName or urn:…:name).`);
  if (['__proto__', 'constructor', 'prototype'].includes(m[2]) || (m[3] && ['__proto__', 'constructor', 'prototype'].includes(m[3]))) {
    throw ScimError.invalidValue(`"${text}" in "${param}" is not an allowed attribute name.`);
  }
  return { schema: m[1], attr: m[2], sub: m[3] };
}

export interface RenderOptions {
  baseUrl: string;
  /** Group members to embed (omit to leave `members` out, e.g. when excluded). */
  members?: Member[];
  /** User group memberships to embed. */
  groups?: Array<{ value: string; display?: string }>;
  projection?: Projection;
}

/** ETag of a stored resource (weak: the representation varies with `attributes`). */
export function etagOf(r: Pick<StoredResource, 'version'>): string {
  return `W/"${r.version}"`;
}

/** The resource's location URL. */
export function locationOf(baseUrl: string, r: Pick<StoredResource, 'type' | 'id'>): string {
  return `${baseUrl}/${r.type === 'User' ? 'Users' : 'Groups'}/${encodeURIComponent(r.id)}`;
}

/** Whether the projection asks for attribute `canonical` (core or extension). */
export function wantsAttribute(registry: SchemaRegistry, type: 'User' | 'Group', projection: Projection | undefined, canonical: string): boolean {
  const def = registry.schema(registry.resourceType(type).schema)!.attributes.find((a) => a.name === canonical);
  if (!def) return false;
  return keep(def, projection, `${KEY_SEP}${canonical}`, '');
}

function keep(def: AttributeDef, projection: Projection | undefined, key: string, urn: string): boolean {
  if (def.returned === 'never') return false;
  if (def.returned === 'always') return true;
  if (!projection) return def.returned === 'default';
  if (projection.mode === 'include') {
    return projection.entries.has(key) || (urn !== '' && projection.entries.has(`${urn}${KEY_SEP}*`));
  }
  const subs = projection.entries.get(key);
  const whole = subs?.has('*') || (urn !== '' && projection.entries.has(`${urn}${KEY_SEP}*`));
  return def.returned === 'default' && !whole;
}

function pickSubs(value: unknown, subs: Set<string> | undefined, mode: 'include' | 'exclude'): unknown {
  if (!subs || subs.has('*') || value === null || typeof value !== 'object') return value;
  const pick = (o: Record<string, unknown>) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) if (subs.has(k) === (mode === 'include')) out[k] = v;
    return out;
  };
  return Array.isArray(value) ? value.map((e) => (e && typeof e === 'object' ? pick(e as Record<string, unknown>) : e)) : pick(value as Record<string, unknown>);
}

/** A schema's attributes by name, with their position (the order they are rendered in). */
type AttributeIndex = Map<string, { def: AttributeDef; index: number }>;
const attributeIndexes = new WeakMap<readonly AttributeDef[], AttributeIndex>();

function attributeIndex(attributes: readonly AttributeDef[]): AttributeIndex {
  let index = attributeIndexes.get(attributes);
  if (!index) {
    index = new Map(attributes.map((def, i) => [def.name, { def, index: i }]));
    attributeIndexes.set(attributes, index);
  }
  return index;
}

/**
 * The attributes a resource holds, in schema order. Walks the resource's own keys rather than
 * probing it for each of the schema's ~20 attributes: probes for absent keys walk the prototype
 * chain, and were a third of the CPU of a list page in profiles.
 */
function presentAttributes(
  attributes: readonly AttributeDef[],
  data: Record<string, unknown>,
  override?: { name: string; value: unknown },
): Array<{ def: AttributeDef; index: number; value: unknown }> {
  const byName = attributeIndex(attributes);
  const found: Array<{ def: AttributeDef; index: number; value: unknown }> = [];
  for (const k in data) {
    if (!Object.hasOwn(data, k) || k === override?.name) continue;
    const entry = byName.get(k);
    const value = data[k];
    if (entry && value !== undefined) found.push({ def: entry.def, index: entry.index, value });
  }
  if (override) {
    const entry = byName.get(override.name);
    if (entry && override.value !== undefined) found.push({ def: entry.def, index: entry.index, value: override.value });
  }
  if (found.length > 1) found.sort((a, b) => a.index - b.index);
  return found;
}

/** Renders the full SCIM JSON of a stored resource, then applies the projection. */
export function renderResource(registry: SchemaRegistry, r: StoredResource, opts: RenderOptions): Record<string, unknown> {
  const rt = registry.resourceType(r.type);
  const projection = opts.projection;
  const out: Record<string, unknown> = { schemas: [rt.schema], id: r.id };
  const schemas = out.schemas as string[];

  const coreSchema = registry.schema(rt.schema)!;
  if (r.data.externalId !== undefined && keepCommon('externalId', projection)) out.externalId = r.data.externalId;

  // members and groups live outside `data`: the caller passes them in
  let override: { name: string; value: unknown } | undefined;
  if (r.type === 'Group' && opts.members) override = { name: 'members', value: opts.members.map((m) => memberView(opts.baseUrl, m)) };
  if (r.type === 'User' && opts.groups) {
    override = {
      name: 'groups',
      value: opts.groups.map((g) => ({ value: g.value, $ref: `${opts.baseUrl}/Groups/${encodeURIComponent(g.value)}`, display: g.display, type: 'direct' })),
    };
  }

  for (const { def, value } of presentAttributes(coreSchema.attributes, r.data, override)) {
    if (!projection) {
      if (def.returned === 'default' || def.returned === 'always') out[def.name] = value;
      continue;
    }
    const key = `${KEY_SEP}${def.name}`;
    if (!keep(def, projection, key, '')) continue;
    out[def.name] = pickSubs(value, projection.entries.get(key), projection.mode);
  }
  for (const ext of rt.extensions) {
    const block = r.data[ext.schema] as Record<string, unknown> | undefined;
    if (!block || typeof block !== 'object') continue;
    const extSchema = registry.schema(ext.schema)!;
    const shown: Record<string, unknown> = {};
    let any = false;
    for (const { def, value } of presentAttributes(extSchema.attributes, block)) {
      const key = `${ext.schema}${KEY_SEP}${def.name}`;
      if (!keep(def, projection, key, ext.schema)) continue;
      shown[def.name] = pickSubs(value, projection?.entries.get(key), projection?.mode ?? 'exclude');
      any = true;
    }
    if (any) {
      out[ext.schema] = shown;
      schemas.push(ext.schema);
    }
  }
  if (keepCommon('meta', projection)) {
    out.meta = {
      resourceType: r.type,
      created: r.created,
      lastModified: r.lastModified,
      location: locationOf(opts.baseUrl, r),
      version: etagOf(r),
    };
  }
  return out;
}

function keepCommon(name: 'externalId' | 'meta', projection: Projection | undefined): boolean {
  if (!projection) return true;
  const has = projection.entries.has(`${KEY_SEP}${name}`);
  return projection.mode === 'include' ? has : !has;
}

function memberView(baseUrl: string, m: Member): Record<string, unknown> {
  const type = m.type ?? 'User';
  const v: Record<string, unknown> = { value: m.value, $ref: `${baseUrl}/${type === 'Group' ? 'Groups' : 'Users'}/${encodeURIComponent(m.value)}`, type };
  if (m.display !== undefined) v.display = m.display;
  return v;
}
