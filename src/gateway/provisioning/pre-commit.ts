/**
 * What runs between a SCIM write's policy checks and its commit, and may still refuse it:
 * - claim protection: a new user that matches an account which already exists in a target and
 *   which this connection does not manage (see accountStanding) is refused (409 uniqueness), or
 *   linked by policy;
 * - `sync` connectors: the operation is applied to the target now; the SCIM response waits for
 *   it and a refusal becomes the IdP's SCIM error, with nothing committed.
 * Both return changes (target links, audit records) that ride in the write's own commit.
 */
import { classifyError } from '../../../connectors/sdk/index.js';
import { ScimError, type Actor, type PreparedChange, type ResourceEvent } from '../scim/index.js';
import type { OutboxChange, OutboxEntry, Store } from '../store/index.js';
import { auditDraftForDelivery } from './audit-records.js';
import { accountStanding, findExistingAccount, type ConnectorInstance, type TargetPeer } from './connectors.js';
import { outboxEntriesFor } from './events.js';
import type { DeliveryTarget } from './outbox-worker.js';
import { isSyntheticGroup, type ConnectionPolicy } from './policies.js';

export interface PreCommitOptions {
  store: Store;
  connectorsOf(connection: string): readonly string[];
  instance(id: string): ConnectorInstance | undefined;
  /** The other connectors, of any connection, that write the same target as `id` (none by default). */
  peersOf?(id: string): readonly TargetPeer[];
  target(id: string): DeliveryTarget | undefined;
  /** Whether a connector instance applies operations before the SCIM response (`mode: sync`). */
  isSync(id: string): boolean;
  policyFor(connection: string): ConnectionPolicy;
  logger: { warn(o: object, m?: string): void };
  /** How long a target lookup may hold a create (default 5 s); past it the create goes on and the delivery checks again. */
  lookupTimeoutMs?: number;
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });

/** The SCIM error an IdP sees when a sync connector refuses an operation. */
export function scimErrorForRefusal(connector: string, err: unknown): ScimError {
  const e = classifyError(err);
  const why = `connector "${connector}" refused the change: ${e.message}`;
  if (e.retryable) {
    return ScimError.unavailable(`The target of connector "${connector}" could not be reached (${e.message}). Nothing was changed; retry later.`);
  }
  if (e.code === 'already_exists' || e.code === 'conflict') return ScimError.uniqueness(`${why}. Nothing was changed.`);
  if (e.code === 'not_found') return ScimError.notFound(`${why}. Nothing was changed.`);
  return ScimError.invalidValue(`${why}. Nothing was changed.`);
}

export function createPreCommit(opts: PreCommitOptions): (event: ResourceEvent, actor: Actor | undefined) => Promise<PreparedChange | undefined> {
  const lookupTimeout = opts.lookupTimeoutMs ?? 5_000;

  async function claimCheck(event: ResourceEvent, changes: OutboxChange[], checked: string[]): Promise<void> {
    if (event.type !== 'User' || event.before || !event.after) return;
    const userName = typeof event.after.userName === 'string' ? event.after.userName : '';
    const policy = opts.policyFor(event.connection);
    for (const id of opts.connectorsOf(event.connection)) {
      const instance = opts.instance(id);
      if (!instance?.host.manifest.capabilities.lookup) continue;
      let found;
      try {
        found = await withTimeout(findExistingAccount(instance, event.after, policy.principal), lookupTimeout, `looking up "${userName}" in connector "${id}"`);
      } catch (err) {
        // A target that is down must not fail the IdP: the delivery looks again before it creates.
        opts.logger.warn({ connector: id, err: instance.host.redact((err as Error).message) }, 'claim check skipped: the target could not be searched; the delivery checks again');
        continue;
      }
      checked.push(id);
      if (!found) continue;
      const standing = await accountStanding(opts.store, event.connection, id, opts.peersOf?.(id) ?? [], found, event.id);
      if (!standing.own && standing.otherConnection) {
        // The admin learns which account and whose; the IdP, another tenant maybe, does not.
        opts.logger.warn(
          { connection: event.connection, connector: id, key: found.key, managedBy: standing.otherConnection, existingAccounts: policy.existingAccounts },
          policy.existingAccounts === 'refuse' ? 'claim refused: the account belongs to a user of another connection' : 'claim: taking over an account of another connection (existingAccounts: link)',
        );
      }
      if (!standing.own && policy.existingAccounts === 'refuse') {
        throw ScimError.uniqueness(
          standing.otherConnection
            ? `An account matching this user already exists in the target of connector "${id}" and is managed by another connection of this gateway: it is not taken over. The gateway's administrator can see which account in the gateway's log.`
            : `An account "${userName}" already exists in the target of connector "${id}" (${found.key}), and ${standing.reason}. ` +
                `Remove or rename it there, or set connections.${event.connection}.policies.existingAccounts to "link" to take it over.`,
        );
      }
      changes.push({ op: 'link', connector: id, resourceId: event.id, key: found.key });
    }
  }

  async function applySync(event: ResourceEvent, changes: OutboxChange[], handled: string[], claimChecked: readonly string[]): Promise<void> {
    const sync = opts.connectorsOf(event.connection).filter((id) => opts.isSync(id));
    if (sync.length === 0) return;
    if (event.type === 'Group' && isSyntheticGroup(opts.policyFor(event.connection), event.before ?? event.after)) return;
    const at = new Date().toISOString();
    for (const id of sync) {
      const target = opts.target(id);
      const entries = outboxEntriesFor(event, [id], at, undefined, claimChecked).flatMap((c) => (c.op === 'outbox.add' ? [c.entry] : []));
      if (!target || entries.length === 0) continue;
      // A create whose claim check could not reach the target cannot be applied now either.
      if (entries.some((e) => e.kind === 'createUser' && !e.claimChecked) && opts.instance(id)?.host.manifest.capabilities.lookup) {
        throw ScimError.unavailable(`The target of connector "${id}" could not be searched before the create. Nothing was changed; retry later.`);
      }
      // A link found by the claim check counts as the key the create goes to.
      let key = changes.find((c): c is Extract<OutboxChange, { op: 'link' }> => c.op === 'link' && c.connector === id && c.resourceId === event.id)?.key ?? undefined;
      key ??= await opts.store.linkOf(id, event.id);
      for (const entry of entries) {
        try {
          const result = await target.deliver({ ...entry, attempts: 0 } as OutboxEntry, key ?? undefined);
          if (result.key !== undefined) {
            key = result.key ?? undefined;
            changes.push({ op: 'link', connector: id, resourceId: event.id, key: result.key });
          }
          changes.push({ op: 'audit', records: [auditDraftForDelivery(entry, { ok: true })] });
        } catch (err) {
          throw scimErrorForRefusal(id, err);
        }
      }
      handled.push(id);
    }
  }

  return async (event) => {
    const changes: OutboxChange[] = [];
    const handled: string[] = [];
    const claimChecked: string[] = [];
    await claimCheck(event, changes, claimChecked);
    await applySync(event, changes, handled, claimChecked);
    return changes.length === 0 && handled.length === 0 && claimChecked.length === 0 ? undefined : { changes, handled, claimChecked };
  };
}
