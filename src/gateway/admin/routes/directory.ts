/**
 * The users and groups browser: search a connection's users or groups by text or by a SCIM
 * filter, page through them, and open one with its target links, its pending deliveries and its
 * audit trail. Read-only: changes come from the IdP.
 */
import { Router } from 'express';
import { z } from 'zod';
import { parseFilter, type FilterNode } from '../../scim/filter/index.js';
import { renderResource } from '../../scim/resources/index.js';
import { BRIDGE_USER_SCHEMA } from '../../scim/index.js';
import type { ResourceType, StoredResource } from '../../store/index.js';
import type { AuditRecordInfo, ResourceDetail, ResourcePage, ResourceSummary } from '../api-types.js';
import type { AdminContext } from '../context.js';
import { AdminError, parseQuery } from '../errors.js';
import { getConnection } from '../views.js';

const listQuery = z.object({
  q: z.string().max(200).optional(),
  filter: z.string().max(4096).optional(),
  startIndex: z.coerce.number().int().min(1).default(1),
  count: z.coerce.number().int().min(1).max(200).default(25),
});

const MEMBERS_SHOWN = 200;

function scimString(text: string): string {
  return JSON.stringify(text);
}

/** Free text -> a filter over the attributes an admin searches by. */
function textFilter(type: ResourceType, q: string): string {
  const s = scimString(q);
  return type === 'User'
    ? `userName co ${s} or displayName co ${s} or name.familyName co ${s} or name.givenName co ${s} or emails.value co ${s} or externalId eq ${s}`
    : `displayName co ${s} or externalId eq ${s}`;
}

function primaryEmail(data: Record<string, unknown>): string | undefined {
  const emails = Array.isArray(data.emails) ? (data.emails as Array<Record<string, unknown>>) : [];
  const e = emails.find((x) => x?.primary === true) ?? emails[0];
  return typeof e?.value === 'string' ? e.value : undefined;
}

export function summarize(r: StoredResource): ResourceSummary {
  const d = r.data;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  if (r.type === 'Group') {
    return { id: r.id, type: 'Group', name: str(d.displayName) ?? r.id, ...(str(d.externalId) ? { externalId: str(d.externalId) } : {}), memberCount: r.memberCount ?? 0, lastModified: r.lastModified };
  }
  const name = d.name as Record<string, unknown> | undefined;
  const displayName = str(d.displayName) ?? ([str(name?.givenName), str(name?.familyName)].filter(Boolean).join(' ') || undefined);
  const deactivatedAt = str((d[BRIDGE_USER_SCHEMA] as Record<string, unknown> | undefined)?.deactivatedAt);
  const email = primaryEmail(d);
  return {
    id: r.id,
    type: 'User',
    name: str(d.userName) ?? r.id,
    ...(displayName ? { displayName } : {}),
    ...(email ? { email } : {}),
    ...(str(d.externalId) ? { externalId: str(d.externalId) } : {}),
    active: d.active !== false,
    ...(deactivatedAt ? { deactivatedAt } : {}),
    lastModified: r.lastModified,
  };
}

export function directoryRoutes(ctx: AdminContext): Router {
  const r = Router();
  const { deps } = ctx;

  const list = (type: ResourceType) => async (req: import('express').Request, res: import('express').Response) => {
    const connection = getConnection(ctx, req.params.name as string).name;
    const q = parseQuery(listQuery, req);
    const text = q.filter?.trim() ? q.filter.trim() : q.q?.trim() ? textFilter(type, q.q.trim()) : undefined;
    let filter: FilterNode | undefined;
    if (text) {
      try {
        filter = parseFilter(text, { maxLength: 4096, maxDepth: 16 });
      } catch (err) {
        throw AdminError.invalid(`The filter is not valid: ${(err as Error).message}`, 'filter');
      }
    }
    let result;
    try {
      result = await deps.store.query({ connection, type, filter, resolver: deps.registry.resolver(type), startIndex: q.startIndex, count: q.count });
    } catch (err) {
      // An unknown attribute or a bad comparison is the admin's filter, not the gateway.
      if ((err as { status?: number }).status === 400) throw AdminError.invalid(`The filter is not valid: ${(err as Error).message}`, 'filter');
      throw err;
    }
    const page: ResourcePage = { totalResults: result.totalResults, startIndex: q.startIndex, items: result.resources.map(summarize) };
    res.json(page);
  };

  const detail = (type: ResourceType) => async (req: import('express').Request, res: import('express').Response) => {
    const connection = getConnection(ctx, req.params.name as string).name;
    const id = req.params.id as string;
    const stored = await deps.store.get(connection, type, id);
    if (!stored) throw AdminError.notFound(`Connection "${connection}" has no ${type === 'User' ? 'user' : 'group'} ${id}.`);
    const members = type === 'Group' ? await deps.store.members(connection, id) : undefined;
    const groups = type === 'User' ? await deps.store.groupsOf(connection, id) : undefined;
    const resource = renderResource(deps.registry, stored, { baseUrl: deps.scimUrl(), ...(groups ? { groups } : {}) });
    const connectorIds = deps.connections?.()?.connectorsOf?.(connection) ?? [...deps.connectors.values()].filter((c) => c.connection === connection).map((c) => c.id);
    const outbox = (await deps.store.outboxList({ connection })).filter((e) => e.resourceId === id);
    const links = [];
    for (const c of connectorIds) {
      const key = await deps.store.linkOf(c, id);
      const mine = outbox.filter((e) => e.connector === c);
      links.push({ connector: c, ...(key ? { key } : {}), pending: mine.filter((e) => e.state === 'pending').length, dead: mine.filter((e) => e.state === 'dead').length });
    }
    const trail = await deps.audit.query({ resourceId: id, limit: 50 });
    const body: ResourceDetail = {
      summary: summarize(stored),
      connection,
      resource,
      links,
      ...(groups ? { groups } : {}),
      ...(members ? { members: members.slice(0, MEMBERS_SHOWN), membersTotal: members.length } : {}),
      audit: trail.records.filter((x) => !x.connection || x.connection === connection) as AuditRecordInfo[],
    };
    res.json(body);
  };

  r.get('/connections/:name/users', list('User'));
  r.get('/connections/:name/groups', list('Group'));
  r.get('/connections/:name/users/:id', detail('User'));
  r.get('/connections/:name/groups/:id', detail('Group'));
  return r;
}
