/**
 * SCIM PATCH engine (RFC7644 §3.5.2), schema-aware and tolerant of what Entra ID and Okta send
 * (docs/decisions/0002-hand-written-patch-engine.md). Group membership comes out as an O(change)
 * MemberDelta, never as a rewritten member list.
 */
export type { MemberDelta, PatchContext, PatchLimits, PatchOp, PatchResult } from './types.js';
export { PATCH_OP_SCHEMA } from './types.js';
export { parsePatchRequest, needsMemberList } from './parse.js';
export { applyPatch } from './apply.js';
/** Structural equality of JSON values, key order ignored (also what the service compares writes with). */
export { deepEqual } from './json.js';
