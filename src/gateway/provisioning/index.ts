/** Public surface of provisioning/: connection policies, and the outbox that feeds connectors. */
import type { AttributeResolver, ChangeEffects, UserWritePolicy } from '../scim/index.js';
import { outboxEntriesFor } from './events.js';
import { auditDraftForChange } from './audit-records.js';
import type { OutboxWorker } from './outbox-worker.js';
import { BRIDGE_USER_SCHEMA } from '../scim/index.js';
import type { OutboxChange, Store } from '../store/index.js';
import { applyCreateDefaults, checkUserWrite, keepUnsentDefaults, roleOf, type ConnectionPolicy } from './policies.js';

export { policySchema, DEFAULT_POLICY, type ConnectionPolicy } from './policies.js';
export { createOutboxWorker, backoffMs, type DeliveryTarget, type FailureClass, type OutboxWorker, type OutboxWorkerOptions } from './outbox-worker.js';
export { outboxEntriesFor } from './events.js';
export { auditDraftForChange, auditDraftForDelivery, auditDraftForRefusal } from './audit-records.js';
export {
  createConnectionRegistry,
  secretAccount,
  secretReaderFor,
  connectionSpecSchema,
  ConnectionAdminError,
  CONNECTIONS_FILE,
  type ConnectionRegistry,
  type ConnectionSpec,
  type ConnectionView,
  type ConnectorStatus,
  type SecretSource,
} from './connections.js';
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
} from './connectors.js';

/**
 * The SCIM service's effects: one outbox entry per connector of the connection and, when an audit
 * log is kept, the change's audit record, all in the change's own commit; then a kick to the worker.
 */
export function createProvisioningEffects(
  connectorsOf: (connection: string) => readonly string[],
  worker: Pick<OutboxWorker, 'kick'>,
  options: { audit?: boolean } = {},
): ChangeEffects {
  return {
    changesFor(event, actor) {
      const changes: OutboxChange[] = outboxEntriesFor(event, connectorsOf(event.connection), new Date().toISOString());
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
    onUpdate: (_connection, data, previous) => keepUnsentDefaults(data, previous),
    deleteMode: (connection) => policyFor(connection).deleteMode,
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
