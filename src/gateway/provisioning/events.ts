/**
 * SCIM change -> connector operations. Each committed change of a resource becomes one outbox
 * entry per connector instance of its connection, in the same commit (issue 3: one commit holds
 * the change and its outbox entries).
 */
import { randomUUID } from 'node:crypto';
import type { ResourceEvent } from '../scim/index.js';
import type { OutboxChange, OutboxEntry, OutboxKind, ScimJson } from '../store/index.js';

function kindsFor(ev: ResourceEvent): OutboxKind[] {
  if (ev.type === 'User') {
    if (!ev.before) return ['createUser'];
    // A soft delete keeps the account in the target, deactivated (Mendix, Tuist: work is kept).
    if (!ev.after) return [ev.soft ? 'deactivateUser' : 'deleteUser'];
    const wasActive = ev.before.active !== false;
    const isActive = ev.after.active !== false;
    if (wasActive && !isActive) return ['deactivateUser'];
    if (!wasActive && isActive) return ['reactivateUser'];
    return ['updateUser'];
  }
  if (!ev.after) return ['deleteGroup'];
  const kinds: OutboxKind[] = [];
  if (!ev.before || !sameJson(ev.before, ev.after)) kinds.push('upsertGroup');
  if (ev.membersRemoved && ev.membersRemoved.length > 0) kinds.push('removeMembers');
  if (ev.membersAdded && ev.membersAdded.length > 0) kinds.push('addMembers');
  return kinds;
}

function sameJson(a: ScimJson, b: ScimJson): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The outbox entries for one event and the connector instances of its connection. */
export function outboxEntriesFor(
  ev: ResourceEvent,
  connectors: readonly string[],
  at: string,
  newId: () => string = randomUUID,
  /** Connectors whose claim check passed before the commit: their createUser needs no second look. */
  claimChecked: readonly string[] = [],
): OutboxChange[] {
  if (connectors.length === 0) return [];
  const out: OutboxChange[] = [];
  for (const kind of kindsFor(ev)) {
    const payload: OutboxEntry['payload'] =
      kind === 'addMembers'
        ? { memberIds: ev.membersAdded }
        : kind === 'removeMembers'
          ? { memberIds: ev.membersRemoved }
          : { resource: ev.after ?? (ev.soft ? { ...ev.before, active: false } : ev.before) };
    for (const connector of connectors) {
      out.push({
        op: 'outbox.add',
        entry: {
          id: newId(),
          connection: ev.connection,
          connector,
          resourceType: ev.type,
          resourceId: ev.id,
          kind,
          payload,
          createdAt: at,
          attempts: 0,
          nextAttemptAt: at,
          state: 'pending',
          ...(kind === 'createUser' && claimChecked.includes(connector) ? { claimChecked: true } : {}),
        },
      });
    }
  }
  return out;
}
