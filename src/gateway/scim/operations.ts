/**
 * SCIM resource operations as transport-neutral functions: request in, { status, headers, body }
 * out. The HTTP router and /Bulk both call these, so a bulk operation behaves exactly like the
 * same request sent alone.
 */
import { ScimError } from './errors.js';
import { parseFilter, type FilterNode } from './filter/index.js';
import { listResponse } from './discovery.js';
import { etagOf, locationOf, parseProjection, renderResource, splitAttrName, wantsAttribute, type Projection } from './resources/index.js';
import { parseEtagList, type Actor, type ScimService } from './service.js';
import type { ResourceType, SortSpec, StoredResource } from '../store/index.js';
import type { Limits } from '../config.js';

export interface ScimResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface OperationContext {
  connection: string;
  /** Who is calling: recorded with every change. */
  actor?: Actor;
  baseUrl: string;
  service: ScimService;
  limits: Limits;
}

/** Query parameters of a list request, from the URL or a SearchRequest body (RFC7644 §3.4.3). */
export interface ListParams {
  filter?: string;
  startIndex?: string | number;
  count?: string | number;
  sortBy?: string;
  sortOrder?: string;
  attributes?: string;
  excludedAttributes?: string;
}

function intParam(name: string, raw: string | number | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = typeof raw === 'number' ? raw : /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw ScimError.invalidValue(`"${name}" must be an integer, got ${JSON.stringify(raw)}.`);
  return n;
}

function projections(ctx: OperationContext, type: ResourceType, p: { attributes?: string; excludedAttributes?: string }): Projection | undefined {
  if (p.attributes !== undefined && p.excludedAttributes !== undefined && p.attributes !== '' && p.excludedAttributes !== '') {
    throw ScimError.invalidValue('Use either "attributes" or "excludedAttributes", not both (RFC7644 §3.4.2.5).');
  }
  const reg = ctx.service.registry;
  return (
    parseProjection(reg, type, p.attributes, 'include', ctx.limits.maxAttributes) ??
    parseProjection(reg, type, p.excludedAttributes, 'exclude', ctx.limits.maxAttributes)
  );
}

/**
 * Renders one stored resource with the members / groups the projection asks for; groups already
 * read (with the user, or none for a user just created: memberships name existing ids) are not
 * asked for again.
 */
async function render(ctx: OperationContext, r: StoredResource, projection: Projection | undefined, known?: { groups: Array<{ value: string; display?: string }> }): Promise<Record<string, unknown>> {
  const reg = ctx.service.registry;
  const store = ctx.service.store;
  const opts: Parameters<typeof renderResource>[2] = { baseUrl: ctx.baseUrl, projection };
  if (r.type === 'Group' && wantsAttribute(reg, 'Group', projection, 'members')) opts.members = await store.members(r.connection, r.id);
  if (r.type === 'User' && wantsAttribute(reg, 'User', projection, 'groups')) opts.groups = known?.groups ?? (await store.groupsOf(r.connection, r.id));
  return renderResource(reg, r, opts);
}

function resourceHeaders(ctx: OperationContext, r: StoredResource, withLocation: boolean): Record<string, string> {
  const h: Record<string, string> = { ETag: etagOf(r) };
  if (withLocation) h.Location = locationOf(ctx.baseUrl, r);
  return h;
}

export async function createResource(ctx: OperationContext, type: ResourceType, body: unknown, query: ListParams = {}): Promise<ScimResponse> {
  const projection = projections(ctx, type, query);
  const r = await ctx.service.create({ connection: ctx.connection, actor: ctx.actor }, type, body);
  return { status: 201, headers: resourceHeaders(ctx, r, true), body: await render(ctx, r, projection, { groups: [] }) };
}

export async function getResource(
  ctx: OperationContext,
  type: ResourceType,
  id: string,
  query: ListParams = {},
  ifNoneMatch?: string,
): Promise<ScimResponse> {
  const projection = projections(ctx, type, query);
  const store = ctx.service.store;
  // A user with its groups in one read where the store offers it (a database: one round trip).
  const both = type === 'User' && store.getUserWithGroups && wantsAttribute(ctx.service.registry, 'User', projection, 'groups') ? await store.getUserWithGroups(ctx.connection, id) : undefined;
  const r = both?.resource ?? (await ctx.service.get(ctx.connection, type, id));
  const inm = parseEtagList(ifNoneMatch);
  if (inm && (inm.any || inm.versions.has(r.version))) return { status: 304, headers: resourceHeaders(ctx, r, false) };
  return { status: 200, headers: resourceHeaders(ctx, r, false), body: await render(ctx, r, projection, both) };
}

export async function replaceResource(ctx: OperationContext, type: ResourceType, id: string, body: unknown, ifMatch?: string, query: ListParams = {}): Promise<ScimResponse> {
  const projection = projections(ctx, type, query);
  const r = await ctx.service.replace({ connection: ctx.connection, ifMatch, actor: ctx.actor }, type, id, body);
  return { status: 200, headers: resourceHeaders(ctx, r, false), body: await render(ctx, r, projection) };
}

export async function patchResource(ctx: OperationContext, type: ResourceType, id: string, body: unknown, ifMatch?: string, query: ListParams = {}): Promise<ScimResponse> {
  const projection = projections(ctx, type, query);
  const r = await ctx.service.patch({ connection: ctx.connection, ifMatch, actor: ctx.actor }, type, id, body);
  // RFC7644 §3.5.2: 204 is allowed. For groups, echoing a 50k-member list per membership change
  // is the 120 MB failure docs/idp/wire-behaviour.md warns about: answer 204 unless attributes were asked for.
  if (type === 'Group' && query.attributes === undefined && query.excludedAttributes === undefined) {
    return { status: 204, headers: resourceHeaders(ctx, r, false) };
  }
  return { status: 200, headers: resourceHeaders(ctx, r, false), body: await render(ctx, r, projection) };
}

export async function deleteResource(ctx: OperationContext, type: ResourceType, id: string, ifMatch?: string): Promise<ScimResponse> {
  await ctx.service.remove({ connection: ctx.connection, ifMatch, actor: ctx.actor }, type, id);
  return { status: 204 };
}

function parseSort(ctx: OperationContext, type: ResourceType, sortBy: string | undefined, sortOrder: string | undefined): SortSpec | undefined {
  let order: SortSpec['order'] = 'ascending';
  if (sortOrder !== undefined && sortOrder !== '') {
    const l = sortOrder.toLowerCase();
    if (l !== 'ascending' && l !== 'descending') throw ScimError.invalidValue(`"sortOrder" must be "ascending" or "descending", got ${JSON.stringify(sortOrder)}.`);
    order = l;
  }
  if (sortBy === undefined || sortBy === '') return sortOrder ? { order } : undefined;
  const { schema, attr, sub } = splitAttrName(sortBy, 'sortBy');
  const resolved = ctx.service.registry.resolver(type).resolve(schema, attr, sub);
  if (!resolved) throw ScimError.invalidValue(`"sortBy" names an unknown attribute ${JSON.stringify(sortBy)}; see /Schemas.`);
  const def = resolved.sub?.def ?? resolved.def;
  if (def.type === 'complex') throw ScimError.invalidValue(`"sortBy" must name a simple attribute; ${sortBy} is complex (name a sub-attribute such as ${sortBy}.value).`);
  return { by: { extension: resolved.extension, canonical: resolved.canonical, sub: resolved.sub?.canonical, caseExact: def.caseExact }, order };
}

export async function listResources(ctx: OperationContext, type: ResourceType, params: ListParams): Promise<ScimResponse> {
  const projection = projections(ctx, type, params);
  let filter: FilterNode | undefined;
  if (params.filter !== undefined && params.filter.trim() !== '') {
    filter = parseFilter(params.filter, { maxLength: ctx.limits.filterMaxLength, maxDepth: ctx.limits.filterMaxDepth });
  }
  // RFC7644 §3.4.2.4: startIndex < 1 means 1; a negative count means 0; the server may cap count.
  const startIndex = Math.max(1, intParam('startIndex', params.startIndex) ?? 1);
  const requested = intParam('count', params.count);
  const count = Math.min(ctx.limits.maxResults, Math.max(0, requested ?? ctx.limits.maxResults));
  const sort = parseSort(ctx, type, params.sortBy, params.sortOrder);
  const result = await ctx.service.query(ctx.connection, type, { filter, sort, startIndex, count });
  // All at once: a store that answers groupsOf over the network batches a page's lookups.
  const rendered = await Promise.all(result.resources.map((r) => render(ctx, r, projection)));
  return { status: 200, body: listResponse(rendered, result.totalResults, startIndex) };
}
