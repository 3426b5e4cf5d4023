/**
 * Public surface of the SCIM filter module: parsing of filters (RFC7644 §3.4.2.2) and PATCH
 * paths (RFC7644 §3.5.2), compilation to predicates, and helpers for stores and PATCH.
 * Import from here, never from parser.ts / evaluate.ts directly.
 */
export type { AttrPath, CompareOp, CompareValue, FilterLimits, FilterNode } from './ast.js';
export { DEFAULT_FILTER_LIMITS } from './ast.js';
export { parseFilter, parsePath } from './parser.js';
export { formatFilter, formatPath } from './format.js';
export { compileFilter, compileElementFilter, matchElement, equalityTerms } from './evaluate.js';
export type { CompileOptions, EqualityTerm } from './evaluate.js';
