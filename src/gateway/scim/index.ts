/** Public surface of scim/: the SCIM 2.0 protocol (RFC7643/7644) over a Store. */
export { createScimHandler, writeScimError, SCIM_PREFIX, SCIM_CONTENT_TYPE } from './http.js';
export type { ScimAuthenticator, ScimHandlerOptions, RequestOutcome } from './http.js';
export { createScimService, KeyedMutex } from './service.js';
export type { Actor, ChangeEffects, PreparedChange, WriteHook, ResourceEvent, ScimService, ServiceLimits, UserWritePolicy, WriteContext } from './service.js';
export { ScimError, ERROR_SCHEMA } from './errors.js';
export type { ScimType, ScimErrorBody } from './errors.js';
export { createSchemaRegistry } from './schemas/registry.js';
export type { SchemaRegistry, CustomExtension } from './schemas/registry.js';
export { USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_USER_SCHEMA, BRIDGE_USER_SCHEMA } from './schemas/definitions.js';
export type { AttributeDef, AttributeResolver, ResolvedAttribute } from './schemas/attribute.js';
export type { FilterNode, AttrPath, CompareValue } from './filter/index.js';
