/** Public surface of provisioning/: connection policies, and the outbox that feeds connectors. */
import type { AttributeResolver, ChangeEffects, UserWritePolicy } from '../scim/index.js';
import { outboxEntriesFor } from './events.js';
import { auditDraftForChange } from './audit-records.js';
import type { OutboxWorker } from './outbox-worker.js';
import { BRIDGE_USER_SCHEMA } from '../scim/index.js';
import type { OutboxChange, Store } from '../store/index.js';
import { applyCreateDefaults, checkUserWrite, isSyntheticGroup, keepUnsentDefaults, roleFromGroups, roleOf, SYNTHETIC_GROUPS, type ConnectionPolicy } from './policies.js';
import { GROUP_SCHEMA, type ScimService, type WriteHook } from '../scim/index.js';
import { createHookRunner, type HookRunner } from './hooks.js';

export { policySchema, DEFAULT_POLICY, SYNTHETIC_GROUPS, effectiveRoleRules, type ConnectionPolicy } from './policies.js';
export { createOutboxWorker, backoffMs, type DeliveryTarget, type FailureClass, type OutboxWorker, type OutboxWorkerOptions } from './outbox-worker.js';
export { outboxEntriesFor } from './events.js';
export { auditDraftForChange, auditDraftForDelivery, auditDraftForRefusal } from './audit-records.js';
export {
  createConnectionRegistry,
  connectionSpecSchema,
  sharedTargetMessage,
  ConnectionAdminError,
  CONNECTIONS_FILE,
  type ConnectionRegistry,
  type ConnectionSpec,
  type ConnectionView,
  type ConnectorStatus,
  type SharedTarget,
} from './connections.js';
export {
  isEnvRef,
  planSecrets,
  readAt,
  secretAccount,
  secretReaderFor,
  SecretReentryError,
  SECRET_ENV_PREFIX,
  type SecretFieldPlan,
  type SecretPlan,
  type SecretSource,
} from './connector-secrets.js';
export { hookSchema, createHookRunner, type HookConfig, type HookInput, type HookRunner } from './hooks.js';
export { createPreCommit, scimErrorForRefusal, type PreCommitOptions } from './pre-commit.js';
export { reconcile, createReconciler, type DriftReport, type Reconciler } from './reconcile.js';
export {
  builtInConnectorTypes,
  classifyConnectorFailure,
  connectorInstanceSchema,
  connectorLogger,
  deliveryTargetFor,
  startConnectorInstance,
  DEFAULT_USER_MAPPING,
  type ConnectorInstance,
  type ConnectorInstanceConfig,
  type TargetPeer,
} from './connectors.js';

/**
 * The SCIM service's effects: one outbox entry per connector of the connection and, when an audit
 * log is kept, the change's audit record, all in the change's own commit; then a kick to the worker.
 */
export function createProvisioningEffects(
  connectorsOf: (connection: string) => readonly string[],
  worker: Pick<OutboxWorker, 'kick'>,
  options: {
    audit?: boolean;
    policyFor?: (connection: string) => ConnectionPolicy;
    /** Claim protection and sync connectors (pre-commit.ts). */
    prepare?: ChangeEffects['prepare'];
  } = {},
): ChangeEffects {
  // Synthetic role groups stay in the gateway: their members' roles travel on the users.
  const local = (event: Parameters<ChangeEffects['changesFor']>[0]): boolean =>
    event.type === 'Group' && options.policyFor !== undefined && isSyntheticGroup(options.policyFor(event.connection), event.before ?? event.after);
  return {
    ...(options.prepare ? { prepare: options.prepare } : {}),
    changesFor(event, actor, prepared) {
      const handled = prepared?.handled ?? [];
      const targets = handled.length === 0 ? connectorsOf(event.connection) : connectorsOf(event.connection).filter((id) => !handled.includes(id));
      const changes: OutboxChange[] = local(event) ? [] : outboxEntriesFor(event, targets, new Date().toISOString(), undefined, prepared?.claimChecked);
      if (options.audit) changes.push({ op: 'audit', records: [auditDraftForChange(event, actor)] });
      return changes;
    },
    committed: () => worker.kick(),
  };
}

/** The policy engine the SCIM service calls on every user write, per connection. */
export function createPolicyEngine(store: Store, userResolver: AttributeResolver, policyFor: (connection: string) => ConnectionPolicy): UserWritePolicy {
  return {
    onCreate: (connection, data) => applyCreateDefaults(policyFor(connection), data),
    onUpdate: (connection, data, previous) => keepUnsentDefaults(data, previous, policyFor(connection)),
    deleteMode: (connection) => policyFor(connection).deleteMode,
    roleFromGroups: (connection, names) => roleFromGroups(policyFor(connection), names),
    isSyntheticGroup: (connection, data) => isSyntheticGroup(policyFor(connection), data),
    guarded(connection, current) {
      const role = policyFor(connection).lastOwnerRole;
      return role !== '' && roleOf(current) === role && current.active !== false;
    },
    check(connection, before, after, id) {
      return checkUserWrite(policyFor(connection), {
        connection,
        async countActiveWithRole(role, exceptId) {
          const result = await store.query({
            connection,
            type: 'User',
            filter: {
              kind: 'and',
              left: { kind: 'compare', path: { schema: BRIDGE_USER_SCHEMA, attr: 'role' }, op: 'eq', value: role },
              right: { kind: 'compare', path: { attr: 'active' }, op: 'eq', value: true },
            },
            resolver: userResolver,
            startIndex: 1,
            count: 0,
          });
          const self = await store.get(connection, 'User', exceptId);
          const selfCounted = self !== undefined && roleOf(self.data) === role && self.data.active !== false;
          return result.totalResults - (selfCounted ? 1 : 0);
        },
      }, before, after, id);
    },
  };
}

/** Creates the synthetic role groups (`Admins`, `Users`) of a connection that has them, if missing. */
export async function ensureSyntheticGroups(service: ScimService, connection: string, policy: ConnectionPolicy): Promise<void> {
  if (!policy.syntheticGroups) return;
  for (const name of SYNTHETIC_GROUPS) {
    const found = await service.query(connection, 'Group', {
      filter: { kind: 'compare', path: { attr: 'displayName' }, op: 'eq', value: name },
      startIndex: 1,
      count: 1,
    });
    if (found.totalResults > 0) continue;
    await service.create({ connection, actor: { kind: 'system', id: 'synthetic-groups', name: 'synthetic role groups' } }, 'Group', { schemas: [GROUP_SCHEMA], displayName: name });
  }
}

/** The service's hook lookup: one runner per connection policy (a changed connection gets a new one). */
export function createHookLookup(policyFor: (connection: string) => ConnectionPolicy, logger: { warn(o: object, m?: string): void }): (connection: string) => WriteHook | undefined {
  const runners = new WeakMap<ConnectionPolicy, HookRunner>();
  return (connection) => {
    const policy = policyFor(connection);
    if (!policy.hook) return undefined;
    let runner = runners.get(policy);
    if (!runner) {
      runner = createHookRunner(connection, policy.hook, logger);
      runners.set(policy, runner);
    }
    return runner;
  };
}
