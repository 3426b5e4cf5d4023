/**
 * List queries over one connection's in-memory state: an index lookup when the filter is an
 * and-combination of `eq` on an indexed attribute (the filters IdPs send), a scan otherwise;
 * then sorting and paging. Index candidates are always re-checked with the compiled filter, so an
 * index only has to return a superset of the matches.
 */
import { compileFilter, equalityTerms, type AttrPath, type CompareValue, type FilterNode } from '../scim/filter/index.js';
import type { AttributeResolver, ResolvedAttribute } from '../scim/index.js';
import type { OrderedMap } from './ordered-map.js';
import type { ConnectionState } from './state.js';
import type { QueryRequest, QueryResult, ResourceType, SortSpec, StoredResource } from './types.js';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `meta` as a client sees it, for filters and sorting on meta.created / meta.lastModified. */
function metaOf(r: StoredResource): Json {
  return { resourceType: r.type, created: r.created, lastModified: r.lastModified, version: `W/"${r.version}"` };
}

/** obj[key], or the first own key equal ignoring case (as the filter module's default reader does). */
function getCI(obj: Json, key: string): unknown {
  if (Object.hasOwn(obj, key)) return obj[key];
  const lower = key.toLowerCase();
  for (const k in obj) if (k.length === key.length && Object.hasOwn(obj, k) && k.toLowerCase() === lower) return obj[k];
  return undefined;
}

/** Value of a top-level attribute of a stored resource: `data` plus what lives outside it. */
export function readAttribute(conn: ConnectionState, r: StoredResource, extension: string | undefined, canonical: string): unknown {
  if (extension !== undefined) {
    const ext = getCI(r.data, extension);
    return isObject(ext) ? getCI(ext, canonical) : undefined;
  }
  switch (canonical) {
    case 'id':
      return r.id;
    case 'meta':
      return metaOf(r);
    case 'members':
      if (r.type === 'Group') return conn.memberList(r.id);
      break;
  }
  return getCI(r.data, canonical);
}

/** Which resources an index can narrow the query to (a superset of the matches), or undefined to scan. */
function indexCandidates(
  conn: ConnectionState,
  type: ResourceType,
  filter: FilterNode,
  resolver: AttributeResolver,
): StoredResource[] | undefined {
  const terms = equalityTerms(filter);
  if (!terms) return undefined;
  let best: StoredResource[] | undefined;
  for (const term of terms) {
    const found = lookup(conn, type, term.path, term.value, resolver);
    if (found && (best === undefined || found.length < best.length)) best = found;
    if (best?.length === 0) break;
  }
  return best;
}

function byIds(coll: OrderedMap<StoredResource>, ids: Iterable<string> | undefined): StoredResource[] {
  if (ids === undefined) return [];
  const out: StoredResource[] = [];
  for (const id of ids) {
    const r = coll.get(id);
    if (r) out.push(r);
  }
  // creation order, as a scan would return them
  if (out.length > 1) out.sort((a, b) => coll.ordOf(a.id)! - coll.ordOf(b.id)!);
  return out;
}

function lookup(
  conn: ConnectionState,
  type: ResourceType,
  path: AttrPath,
  value: CompareValue,
  resolver: AttributeResolver,
): StoredResource[] | undefined {
  if (typeof value !== 'string') return undefined;
  const r: ResolvedAttribute | undefined = resolver.resolve(path.schema, path.attr, path.subAttr);
  if (!r || r.extension !== undefined) return undefined;
  const coll = conn.collection(type);
  const lower = value.toLowerCase();
  // Lower-cased indexes are supersets whatever the caseExact rule; exact ones only for caseExact attributes.
  // `emails eq "x"` compares emails.value, as `emails.value eq "x"` does (filter module, RFC7644 §3.4.2.2)
  const sub = r.sub?.canonical ?? (r.def.type === 'complex' && r.def.multiValued ? 'value' : undefined);
  if (type === 'User' && r.canonical === 'emails' && sub === 'value') {
    return byIds(coll, conn.emails.get(lower));
  }
  if (type === 'Group' && r.canonical === 'members' && sub === 'value') {
    const def = r.sub?.def ?? r.def.subAttributes?.find((d) => d.name === 'value');
    return def?.caseExact ? byIds(coll, conn.memberOf.get(value)) : undefined;
  }
  if (!r.sub) {
    switch (r.canonical) {
      case 'id':
        return r.def.caseExact ? byIds(coll, [value]) : undefined;
      case 'userName': {
        if (type !== 'User') return undefined;
        const id = conn.userNames.get(lower);
        return byIds(coll, id === undefined ? [] : [id]);
      }
      case 'displayName': {
        if (type !== 'Group') return undefined;
        const id = conn.displayNames.get(lower);
        return byIds(coll, id === undefined ? [] : [id]);
      }
      case 'externalId': {
        if (!r.def.caseExact) return undefined;
        if (type === 'User') {
          const id = conn.userExternalIds.get(value);
          return byIds(coll, id === undefined ? [] : [id]);
        }
        return byIds(coll, conn.groupExternalIds.get(value));
      }
    }
    return undefined;
  }
  return undefined;
}

type SortKey = string | number | boolean | undefined;

function sortKey(conn: ConnectionState, r: StoredResource, by: NonNullable<SortSpec['by']>): SortKey {
  let v = readAttribute(conn, r, by.extension, by.canonical);
  if (Array.isArray(v)) {
    // RFC7644 §3.4.2.3: a multi-valued attribute sorts by its primary value, else its first
    v = v.find((x) => isObject(x) && x.primary === true) ?? v[0];
  }
  if (by.sub !== undefined) v = isObject(v) ? v[by.sub] : undefined;
  if (typeof v === 'string') return by.caseExact ? v : v.toLowerCase();
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  return undefined;
}

const typeRank = (k: SortKey): number => (typeof k === 'boolean' ? 0 : typeof k === 'number' ? 1 : 2);

function compareKeys(a: SortKey, b: SortKey): number {
  if (typeof a !== typeof b) return typeRank(a) - typeRank(b);
  return a! < b! ? -1 : a! > b! ? 1 : 0;
}

/** Stable sort; resources without a value come last in either order. `list` is in creation order. */
function sortResources(conn: ConnectionState, list: StoredResource[], sort: SortSpec): StoredResource[] {
  const by = sort.by!;
  const dir = sort.order === 'descending' ? -1 : 1;
  const keyed = list.map((r, i) => ({ r, k: sortKey(conn, r, by), i }));
  keyed.sort((x, y) => {
    if (x.k === undefined || y.k === undefined) {
      if (x.k === undefined && y.k === undefined) return x.i - y.i;
      return x.k === undefined ? 1 : -1;
    }
    return dir * compareKeys(x.k, y.k) || x.i - y.i;
  });
  return keyed.map((e) => e.r);
}

/** Runs a list query against one connection (undefined: the connection has no data yet). */
export function runQuery(conn: ConnectionState | undefined, req: QueryRequest): QueryResult {
  if (req.filter && !req.resolver) throw new TypeError('QueryRequest.filter needs QueryRequest.resolver');
  if (!conn) {
    // still compiled: an invalid filter is a 400 whether or not the connection has data
    if (req.filter) compileFilter(req.filter, req.resolver!);
    return { totalResults: 0, resources: [] };
  }
  const coll = conn.collection(req.type);
  const from = Math.max(1, req.startIndex) - 1;
  const count = Math.max(0, req.count);
  const sorted = req.sort?.by !== undefined;

  let test: ((r: StoredResource) => boolean) | undefined;
  let candidates: Iterable<StoredResource> = coll.values();
  if (req.filter) {
    const compiled = compileFilter(req.filter, req.resolver!, {
      read: (resource, resolved) => readAttribute(conn, resource as unknown as StoredResource, resolved.extension, resolved.canonical),
    });
    test = (r) => compiled(r as unknown as Json);
    candidates = indexCandidates(conn, req.type, req.filter, req.resolver!) ?? candidates;
  }

  if (!sorted) {
    // No sort: creation order. Only the page is collected; without a filter nothing is tested.
    if (!test) {
      const total = coll.size;
      const resources: StoredResource[] = [];
      if (count > 0 && from < total) {
        for (const r of coll.valuesFrom(from)) {
          resources.push(r);
          if (resources.length >= count) break;
        }
      }
      return { totalResults: total, resources };
    }
    let total = 0;
    const resources: StoredResource[] = [];
    for (const r of candidates) {
      if (!test(r)) continue;
      if (total >= from && resources.length < count) resources.push(r);
      total++;
    }
    return { totalResults: total, resources };
  }

  const matches: StoredResource[] = [];
  for (const r of candidates) if (!test || test(r)) matches.push(r);
  const ordered = sortResources(conn, matches, req.sort!);
  return { totalResults: ordered.length, resources: count === 0 ? [] : ordered.slice(from, from + count) };
}
