/**
 * What the audit log says about a SCIM change and about a connector's delivery: who (the token),
 * what (action, resource, the attributes that changed, members added and removed) and the result.
 */
import { changesBetween, type AuditDraft } from '../audit/index.js';
import type { Actor, ResourceEvent } from '../scim/index.js';
import type { OutboxEntry, ScimJson } from '../store/index.js';

function actionOf(e: ResourceEvent): string {
  const noun = e.type === 'User' ? 'user' : 'group';
  if (!e.before) return `${noun}.create`;
  if (!e.after) return e.soft ? `${noun}.delete.soft` : `${noun}.delete`;
  if (e.type === 'User') {
    const was = e.before.active !== false;
    const is = e.after.active !== false;
    if (was && !is) return 'user.deactivate';
    if (!was && is) return 'user.reactivate';
    return 'user.update';
  }
  const dataChanged = JSON.stringify(e.before) !== JSON.stringify(e.after);
  return dataChanged ? 'group.update' : 'group.members';
}

function displayOf(data: ScimJson | undefined): string | undefined {
  const v = data?.userName ?? data?.displayName;
  return typeof v === 'string' ? v : undefined;
}

/** The audit record of a SCIM change (its storeSeq is set when the store hands it to the log). */
export function auditDraftForChange(event: ResourceEvent, actor: Actor | undefined): AuditDraft {
  const changes = changesBetween(event.before, event.after);
  if ((event.membersAdded?.length ?? 0) > 0 || (event.membersRemoved?.length ?? 0) > 0) {
    changes.push({ attribute: 'members', after: { added: event.membersAdded ?? [], removed: event.membersRemoved ?? [] } });
  }
  const display = displayOf(event.after ?? event.before);
  return {
    actor: actor ?? { kind: 'system', id: 'gateway' },
    connection: event.connection,
    action: actionOf(event),
    resource: { type: event.type, id: event.id, ...(display ? { display } : {}) },
    changes,
    result: 'success',
  };
}

/** The audit record of a connector delivery: delivered, retried, or dead-lettered. */
export function auditDraftForDelivery(entry: OutboxEntry, outcome: { ok: boolean; dead?: boolean; error?: string }): AuditDraft {
  const display = displayOf(entry.payload.resource);
  return {
    actor: { kind: 'connector', id: entry.connector },
    connection: entry.connection,
    action: outcome.ok ? `connector.${entry.kind}` : outcome.dead ? `connector.${entry.kind}.dead` : `connector.${entry.kind}.retry`,
    resource: { type: entry.resourceType, id: entry.resourceId, ...(display ? { display } : {}) },
    result: outcome.ok ? 'success' : 'failure',
    ...(outcome.error ? { detail: outcome.error } : {}),
    requestId: entry.id,
  };
}

/** The audit record of a SCIM write that was refused (what the IdP was told). */
export function auditDraftForRefusal(r: { method: string; path: string; status: number; connection?: string; tokenId?: string; tokenName?: string; detail?: string }): AuditDraft {
  const [segment, id] = r.path.split('/').filter(Boolean);
  const type = segment?.toLowerCase() === 'users' ? 'User' : segment?.toLowerCase() === 'groups' ? 'Group' : segment ?? 'unknown';
  return {
    actor: r.tokenId ? { kind: 'scim-token', id: r.tokenId, ...(r.tokenName ? { name: r.tokenName } : {}) } : { kind: 'system', id: 'anonymous' },
    ...(r.connection ? { connection: r.connection } : {}),
    action: `scim.${r.method.toLowerCase()}`,
    ...(id ? { resource: { type, id } } : {}),
    result: 'failure',
    detail: `${r.status}: ${r.detail ?? ''}`.trim(),
  };
}
