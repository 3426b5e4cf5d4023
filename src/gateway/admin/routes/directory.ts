/**
 * The users and groups browser: search a connection's users or groups by text or by a SCIM
 * filter, page through them, and open one with its target links, its pending deliveries and its
 * audit trail. An admin may change a user's role, user type and active state: the change is a
 * SCIM PATCH through the gateway's own SCIM service, so the connection's policies (last-owner
 * protection, role rules, hook), the outbox and the audit apply as to the IdP's writes. The later
 * write wins, from either side (Scalekit): no lock is held between the console and the IdP.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import { effectiveRoleRules, policySchema, type ConnectionPolicy } from '../../provisioning/index.js';
import { parseFilter, type FilterNode } from '../../scim/filter/index.js';
import { renderResource } from '../../scim/resources/index.js';
import { BRIDGE_USER_SCHEMA, ScimError } from '../../scim/index.js';
import type { ResourceType, StoredResource } from '../../store/index.js';
import type { AuditRecordInfo, ResourceDetail, ResourcePage, ResourceSummary, UserEditInfo } from '../api-types.js';
import { sessionOf, type AdminContext } from '../context.js';
import { AdminError, parseBody, parseQuery } from '../errors.js';
import { getConnection } from '../views.js';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const userEditBody = z
  .object({
    role: z.string().trim().min(1, 'give a role, or leave it out to keep the current one').max(200).optional(),
    userType: z.string().trim().min(1, 'give a user type, or leave it out to keep the current one').max(200).optional(),
    active: z.boolean().optional(),
  })
  .strict()
  .refine((b) => b.role !== undefined || b.userType !== undefined || b.active !== undefined, 'nothing to change: give role, userType or active');

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
  const bridge = (d[BRIDGE_USER_SCHEMA] as Record<string, unknown> | undefined) ?? {};
  const deactivatedAt = str(bridge.deactivatedAt);
  const role = str(bridge.role);
  const userType = str(bridge.userType) ?? str(d.userType);
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
    ...(role ? { role } : {}),
    ...(userType ? { userType } : {}),
    lastModified: r.lastModified,
  };
}

function policyOf(ctx: AdminContext, connection: string): ConnectionPolicy {
  return policySchema.parse(ctx.deps.connections?.()?.policyOf?.(connection) ?? {});
}

function editInfo(ctx: AdminContext, connection: string): UserEditInfo {
  const policy = policyOf(ctx, connection);
  const rules = effectiveRoleRules(policy);
  const knownRoles = [...new Set([policy.defaultRole, policy.lastOwnerRole, ...rules.map((r) => r.role)].filter((r) => r !== ''))];
  return { available: Boolean(ctx.deps.scim?.()), roleFromGroups: rules.length > 0, lastOwnerRole: policy.lastOwnerRole, defaultRole: policy.defaultRole, knownRoles };
}

/** A SCIM refusal in the console's words: the service's detail, with the matching admin API error. */
function consoleError(err: unknown): unknown {
  if (!(err instanceof ScimError)) return err;
  const code = err.status === 404 ? 'not_found' : err.status === 409 || err.status === 412 ? 'conflict' : err.status === 403 ? 'forbidden' : err.status >= 500 ? 'unavailable' : 'invalid';
  const status = err.status >= 500 ? 503 : err.status;
  return new AdminError(status, code, `The change was refused: ${err.detail}`, undefined, err.headers['Retry-After'] ? { 'Retry-After': err.headers['Retry-After'] } : {});
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
      ...(type === 'User' ? { edit: editInfo(ctx, connection) } : {}),
    };
    res.json(body);
  };

  /** Role, user type and active state of a user, changed by the signed-in admin through the SCIM service. */
  const editUser = async (req: Request, res: import('express').Response) => {
    const connection = getConnection(ctx, req.params.name as string).name;
    const id = req.params.id as string;
    const body = parseBody(userEditBody, req);
    const scim = deps.scim?.();
    if (!scim) throw AdminError.notAvailable('Editing users from the console is not available in this gateway: its SCIM service is not wired into the console.');
    const stored = await deps.store.get(connection, 'User', id);
    if (!stored) throw AdminError.notFound(`Connection "${connection}" has no user ${id}.`);
    const current = summarize(stored);
    const info = editInfo(ctx, connection);
    // With role rules the groups own the role: the service would keep the old one without a word.
    if (body.role !== undefined && body.role !== current.role && info.roleFromGroups) {
      throw new AdminError(409, 'conflict', `Connection "${connection}" gives roles from groups (role rules or synthetic groups): change ${current.name}'s groups in the identity provider, or the connection's role rules.`, 'role');
    }
    const operations: Array<{ op: 'replace'; path: string; value: unknown }> = [];
    if (body.role !== undefined && body.role !== current.role) operations.push({ op: 'replace', path: `${BRIDGE_USER_SCHEMA}:role`, value: body.role });
    if (body.userType !== undefined && body.userType !== current.userType) operations.push({ op: 'replace', path: `${BRIDGE_USER_SCHEMA}:userType`, value: body.userType });
    if (body.active !== undefined && body.active !== current.active) operations.push({ op: 'replace', path: 'active', value: body.active });
    if (operations.length > 0) {
      const admin = sessionOf(req).username;
      try {
        await scim.patch({ connection, actor: { kind: 'admin', id: admin, name: admin } }, 'User', id, { schemas: [PATCH_OP], Operations: operations });
      } catch (err) {
        // A refusal is the admin's attempt: in the audit log like the IdP's refused writes.
        if (err instanceof ScimError) {
          await ctx.record(req, { connection, action: 'user.update', resource: { type: 'User', id, display: current.name }, result: 'failure', detail: err.detail.slice(0, 500) });
        }
        throw consoleError(err);
      }
    }
    await detail('User')(req, res);
  };

  r.get('/connections/:name/users', list('User'));
  r.get('/connections/:name/groups', list('Group'));
  r.get('/connections/:name/users/:id', detail('User'));
  r.get('/connections/:name/groups/:id', detail('Group'));
  r.patch('/connections/:name/users/:id', editUser);
  return r;
}
