/** Public types of the PATCH engine (RFC7644 §3.5.2). */
import type { AttrPath } from '../filter/ast.js';
import type { AttributeResolver } from '../schemas/attribute.js';
import type { Member, ScimJson } from '../../store/types.js';

/** Limits on one PATCH request, advertised in discovery; exceeding one is 400 tooMany. */
export interface PatchLimits {
  maxOperations: number;
  maxMembersPerRequest: number;
}

/** What the engine needs to know about the resource being patched. */
export interface PatchContext {
  type: 'User' | 'Group';
  resolver: AttributeResolver;
  /** The resource's id: an `id` of the same value in a request is ignored (Okta group pushes). */
  id: string;
  limits: PatchLimits;
}

/** One validated operation; `path` is parsed, `value` is a safe copy of the client's JSON. */
export interface PatchOp {
  op: 'add' | 'replace' | 'remove';
  path?: AttrPath;
  /** The path as the client wrote it, for error messages. */
  pathText?: string;
  value?: unknown;
}

/** Membership change of a group, O(change): `replaceAll` (if set) first clears the list; `add` and
 * `remove` never name the same id. */
export interface MemberDelta {
  replaceAll?: Member[];
  add: Member[];
  remove: string[];
}

/** Result of applyPatch. */
export interface PatchResult {
  /** The patched copy of the resource JSON. */
  data: ScimJson;
  /** Groups only, and only when some operation touched `members`. */
  members?: MemberDelta;
  /** False when `data` deep-equals the input and there is no member delta (the caller may skip the write). */
  changed: boolean;
}

export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const ENTERPRISE_USER_URN = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
/** Prefix of the core schema URNs, which qualify top-level names (`urn:…:core:2.0:User:userName`). */
export const CORE_URN_PREFIX = 'urn:ietf:params:scim:schemas:core:2.0:';
