/**
 * Public surface of the connector SDK: what a connector author imports. The gateway imports this
 * too; nothing here imports the gateway. The conformance kit lives in `./conformance.js` so that
 * vitest never enters the runtime import path.
 */
export type {
  Capability,
  Connector,
  ConnectorCapabilities,
  ConnectorDefinition,
  ConnectorLogger,
  ConnectorManifest,
  ConnectorOperation,
  InitContext,
  KeyResult,
  OperationContext,
  OperationKind,
  Preview,
  PreviewRequest,
  SecretReader,
  TargetEntry,
  TargetGroup,
  TargetIdentity,
  TargetKey,
  TargetUser,
  TargetValue,
  TestResult,
  UserQuery,
} from './types.js';
export {
  AlreadyExistsError,
  ConflictError,
  ConnectorConfigError,
  ConnectorContractError,
  ConnectorError,
  ERROR_CODES,
  NotFoundError,
  PermanentError,
  TransientError,
  type ConfigIssue,
  type ConnectorErrorOptions,
  type SdkErrorCode,
} from './errors.js';
export {
  REDACTED,
  describeSecretFields,
  redact,
  redactDeep,
  secret,
  secretFields,
  staticSecrets,
  type SecretField,
  type SecretMeta,
} from './secrets.js';
export { CAPABILITY_METHODS, defineConnector, validateConnector } from './define.js';
export { newEndpoints, normalizeEndpoint, resolveTargetIdentity, secretsMayFollow, type ResolvedTargetIdentity } from './identity.js';
export { DEFAULT_INHERITED_ENV, childEnvironment, envNameSchema } from './env.js';
export {
  NETWORK_ERROR_CODES,
  OPERATION_CAPABILITY,
  classifyError,
  connectorOperationSchema,
  createConnectorHost,
  describeOperation,
  silentLogger,
  type ApplyResult,
  type ConnectorHost,
  type ConnectorHostOptions,
  type DryRunPlan,
  type OperationEvent,
} from './host.js';
