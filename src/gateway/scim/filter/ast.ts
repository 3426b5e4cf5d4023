/**
 * The AST of SCIM filters (RFC7644 §3.4.2.2) and attribute paths (RFC7644 §3.5.2 PATCH `path`).
 * Names keep the spelling the client wrote; resolution against a schema is a separate step,
 * so that the same AST can be evaluated in memory or translated to SQL by a store.
 */

export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';

/** A literal in a comparison: a JSON string, number, true/false or null. */
export type CompareValue = string | number | boolean | null;

/**
 * `[schemaUrn:]attr[.subAttr]`, or with a value filter `attr[filter][.subAttr]`.
 * Examples:
 *   userName                                   -> { attr: 'userName' }
 *   name.givenName                             -> { attr: 'name', subAttr: 'givenName' }
 *   urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value
 *                                              -> { schema: 'urn:…:enterprise:2.0:User', attr: 'manager', subAttr: 'value' }
 *   emails[type eq "work"].value               -> { attr: 'emails', filter: <type eq "work">, subAttr: 'value' }
 *   members[value eq "abc"]                    -> { attr: 'members', filter: <value eq "abc"> }
 * Inside `filter`, paths name sub-attributes of `attr` (`type`, `value`), with no schema.
 */
export interface AttrPath {
  schema?: string;
  attr: string;
  filter?: FilterNode;
  subAttr?: string;
}

export type FilterNode =
  | { kind: 'compare'; path: AttrPath; op: CompareOp; value: CompareValue }
  | { kind: 'present'; path: AttrPath }
  | { kind: 'and'; left: FilterNode; right: FilterNode }
  | { kind: 'or'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; filter: FilterNode }
  /** `emails[type eq "work"]` used as a whole filter term: true when some element matches. */
  | { kind: 'valuePath'; path: AttrPath & { filter: FilterNode } };

/** Limits that protect the parser from hostile input; advertised in discovery. */
export interface FilterLimits {
  /** Maximum filter string length in characters. */
  maxLength: number;
  /** Maximum nesting depth of parentheses, `not` and value filters. */
  maxDepth: number;
}

export const DEFAULT_FILTER_LIMITS: FilterLimits = { maxLength: 4096, maxDepth: 16 };
