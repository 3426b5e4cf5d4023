/**
 * Turns one PatchOp into resolved steps: every attribute named (in `path`, in the keys of a no-path
 * value, inside value filters) is resolved against the schema, read-only targets are refused, and
 * member values are validated. parsePatchRequest runs this to fail early; applyPatch runs it again
 * because callers (Bulk) may build PatchOps themselves.
 */
import { parsePath } from '../filter/index.js';
import type { AttrPath, FilterNode } from '../filter/ast.js';
import type { AttributeDef, ResolvedAttribute } from '../schemas/attribute.js';
import { ScimError } from '../errors.js';
import type { Member } from '../../store/types.js';
import { copyJson, isForbiddenKey, isPlainObject } from './json.js';
import { normalizeMemberValues } from './members.js';
import { CORE_URN_PREFIX, type PatchContext, type PatchOp } from './types.js';

export type OpKind = PatchOp['op'];
export type SubAttr = { canonical: string; def: AttributeDef };

/** A path into the resource JSON: a top-level attribute, optionally filtered, optionally a sub-attribute. */
export interface AttrTarget {
  kind: 'attr' | 'members';
  /** The top-level attribute (never with `sub`). */
  parent: ResolvedAttribute;
  sub?: SubAttr;
  filter?: FilterNode;
  label: string;
}

type Target = AttrTarget | { kind: 'id' | 'meta' | 'schemas'; label: string };

export type Step =
  | { kind: 'skip' }
  | { kind: 'attr'; op: OpKind; target: AttrTarget; value: unknown; hasValue: boolean }
  | {
      kind: 'members';
      op: OpKind;
      target: AttrTarget;
      /** Member values named by the step (counted against maxMembersPerRequest). */
      count: number;
      replaceAll?: Member[];
      remove?: string[];
      add?: Member[];
      /** Set when the step needs the whole member list (a filter other than `value eq "x"`, or a sub-attribute). */
      exotic?: { value: unknown; hasValue: boolean };
    };

const SCHEMAS_HINT = 'the attributes of each resource type are listed at /Schemas';

/** Readable form of a parsed path, for messages when the client's text is not at hand. */
export function formatPath(path: AttrPath): string {
  return `${path.schema ? path.schema + ':' : ''}${path.attr}${path.filter ? '[…]' : ''}${path.subAttr ? '.' + path.subAttr : ''}`;
}

function isCoreQualified(schema: string | undefined): boolean {
  return schema === undefined || schema.toLowerCase().startsWith(CORE_URN_PREFIX);
}

/** `value eq "x"` (the only member filter that can be applied without reading the member list): returns x. */
export function simpleMemberId(filter: FilterNode): string | undefined {
  if (filter.kind !== 'compare' || filter.op !== 'eq' || typeof filter.value !== 'string') return undefined;
  const p = filter.path;
  if (p.schema !== undefined || p.filter !== undefined || p.subAttr !== undefined) return undefined;
  return p.attr.toLowerCase() === 'value' ? filter.value : undefined;
}

/** Whether a path on `members` needs the current member list (see needsMemberList). */
export function isExoticMemberPath(path: AttrPath): boolean {
  if (path.attr.toLowerCase() !== 'members' || !isCoreQualified(path.schema)) return false;
  if (path.subAttr !== undefined) return true;
  return path.filter !== undefined && simpleMemberId(path.filter) === undefined;
}

function checkName(name: string | undefined, label: string): void {
  if (name !== undefined && isForbiddenKey(name)) throw ScimError.invalidPath(`The path "${label}" names "${name}", which is not allowed.`);
}

function checkFilter(filter: FilterNode, parent: ResolvedAttribute, ctx: PatchContext, label: string, depth = 0): void {
  if (depth > 64) throw ScimError.invalidPath(`The value filter in "${label}" is nested too deeply.`);
  switch (filter.kind) {
    case 'and':
    case 'or':
      checkFilter(filter.left, parent, ctx, label, depth + 1);
      checkFilter(filter.right, parent, ctx, label, depth + 1);
      return;
    case 'not':
      checkFilter(filter.filter, parent, ctx, label, depth + 1);
      return;
    case 'valuePath':
      throw ScimError.invalidPath(`"${label}": a value filter cannot contain another value filter.`);
    case 'compare':
    case 'present': {
      const p = filter.path;
      checkName(p.schema, label);
      checkName(p.attr, label);
      checkName(p.subAttr, label);
      if (p.subAttr !== undefined || p.filter !== undefined || ctx.resolver.resolveSub(parent, p.attr) === undefined) {
        throw ScimError.invalidPath(
          `"${label}": the filter names "${formatPath(p)}", which is not a sub-attribute of "${parent.canonical}"; ${SCHEMAS_HINT}.`,
        );
      }
      return;
    }
  }
}

/** Resolves a path against the schema; unknown names are 400 invalidPath. */
export function resolveTarget(path: AttrPath, ctx: PatchContext, label: string): Target {
  checkName(path.schema, label);
  checkName(path.attr, label);
  checkName(path.subAttr, label);
  if (isCoreQualified(path.schema) && path.filter === undefined) {
    // id, meta and schemas are common attributes (RFC7643 §3.1) handled apart from the schema.
    const a = path.attr.toLowerCase();
    if (a === 'id' && path.subAttr === undefined) return { kind: 'id', label };
    if (a === 'meta') return { kind: 'meta', label };
    if (a === 'schemas' && path.subAttr === undefined) return { kind: 'schemas', label };
  }
  const parent = ctx.resolver.resolve(path.schema, path.attr);
  if (!parent) throw ScimError.invalidPath(`Unknown attribute "${label}" for a ${ctx.type}; ${SCHEMAS_HINT}.`);
  let sub: SubAttr | undefined;
  if (path.subAttr !== undefined) {
    sub = ctx.resolver.resolve(path.schema, path.attr, path.subAttr)?.sub ?? ctx.resolver.resolveSub(parent, path.subAttr);
    if (!sub) throw ScimError.invalidPath(`Unknown sub-attribute "${path.subAttr}" of "${parent.canonical}" in "${label}"; ${SCHEMAS_HINT}.`);
  }
  if (path.filter !== undefined) {
    if (!parent.def.multiValued || parent.def.type !== 'complex') {
      throw ScimError.invalidPath(`"${label}": a value filter applies only to multi-valued complex attributes, and "${parent.canonical}" is not one.`);
    }
    checkFilter(path.filter, parent, ctx, label);
  }
  const isMembers = ctx.type === 'Group' && parent.extension === undefined && parent.canonical.toLowerCase() === 'members';
  return { kind: isMembers ? 'members' : 'attr', parent, sub, filter: path.filter, label };
}

function mutabilityError(label: string, what: string): ScimError {
  return ScimError.mutability(`Attribute "${label}" is readOnly and cannot be ${what} (RFC7643 §2.2).`);
}

function planTarget(op: OpKind, target: Target, value: unknown, hasValue: boolean, ctx: PatchContext, where: string): Step {
  switch (target.kind) {
    case 'schemas':
      // `schemas` is computed on output from the attributes present; a client's copy is ignored.
      return { kind: 'skip' };
    case 'id':
      // Okta sends the group's own id in its replace value: ignore it when it is unchanged.
      if (op !== 'remove' && value === ctx.id) return { kind: 'skip' };
      throw ScimError.mutability(`Attribute "id" is readOnly: it is assigned by the gateway and cannot be ${op === 'remove' ? 'removed' : 'changed'} (RFC7643 §3.1).`);
    case 'meta':
      throw mutabilityError(target.label, op === 'remove' ? 'removed' : 'set');
    case 'attr':
      if (target.parent.def.mutability === 'readOnly' || target.sub?.def.mutability === 'readOnly') {
        throw mutabilityError(target.label, op === 'remove' ? 'removed' : 'set');
      }
      return { kind: 'attr', op, target, value, hasValue };
    case 'members':
      return planMembers(op, target, value, hasValue, where);
  }
}

function planMembers(op: OpKind, target: AttrTarget, value: unknown, hasValue: boolean, where: string): Step {
  const at = `${where}.value`;
  if (target.sub !== undefined || (target.filter !== undefined && simpleMemberId(target.filter) === undefined)) {
    return { kind: 'members', op, target, count: Array.isArray(value) ? Math.max(1, value.length) : 1, exotic: { value, hasValue } };
  }
  if (target.filter !== undefined) {
    // members[value eq "x"]: Okta removes members this way, Entra too with ?aadOptscim062020.
    const id = simpleMemberId(target.filter)!;
    if (op === 'remove') return { kind: 'members', op, target, count: 1, remove: [id] };
    const add = !hasValue ? [{ value: id }] : normalizeMemberValues(value, at, id);
    if (op === 'add') return { kind: 'members', op, target, count: Math.max(1, add.length), add };
    return { kind: 'members', op, target, count: add.length + 1, remove: [id], add };
  }
  if (op === 'add') {
    const add = normalizeMemberValues(value, at);
    return { kind: 'members', op, target, count: add.length, add };
  }
  if (op === 'replace') {
    const replaceAll = normalizeMemberValues(value, at);
    return { kind: 'members', op, target, count: replaceAll.length, replaceAll };
  }
  if (hasValue && value !== null) {
    // Entra removes members with {"op":"Remove","path":"members","value":[{"value":"id"}]}: only the
    // listed ids go (RFC7644 §3.5.2.2 does not define a value here; a naive server empties the group).
    const remove = normalizeMemberValues(value, at).map((m) => m.value);
    return { kind: 'members', op, target, count: remove.length, remove };
  }
  // RFC7644 §3.5.2.2: remove with path "members" and no value removes every member.
  return { kind: 'members', op, target, count: 0, replaceAll: [] };
}

/** The targets of one key of a no-path value: a path (`name.givenName`, `urn:…:User:department`,
 * `emails[type eq "work"].value`), or an extension URN whose value holds that extension's attributes. */
function resolveValueKey(key: string, v: unknown, ctx: PatchContext): Array<{ target: Target; value: unknown }> {
  let failure: unknown;
  try {
    return [{ target: resolveTarget(parsePath(key), ctx, key), value: v }];
  } catch (e) {
    if (!(e instanceof ScimError)) throw e;
    failure = e;
  }
  if (isPlainObject(v) && key.toLowerCase().startsWith('urn:')) {
    const out: Array<{ target: Target; value: unknown }> = [];
    for (const [k2, v2] of Object.entries(v)) {
      const label = `${key}:${k2}`;
      const p = parsePath(k2);
      if (p.schema !== undefined) throw ScimError.invalidPath(`"${key}" holds "${k2}", a schema-qualified name; use the attribute name alone.`);
      out.push({ target: resolveTarget({ ...p, schema: key }, ctx, label), value: v2 });
    }
    return out;
  }
  throw failure;
}

/** Plans one operation; throws ScimError for anything the schema or RFC7644 §3.5.2 forbids.
 * @param copyValue false when `op.value` is already a validated copy (parsePatchRequest) */
export function planOp(op: PatchOp, ctx: PatchContext, where: string, copyValue = true): Step[] {
  const kind = op.op;
  if (kind !== 'add' && kind !== 'replace' && kind !== 'remove') {
    throw ScimError.invalidSyntax(`${where}.op ${JSON.stringify(String(kind)).slice(0, 40)} is not supported; use "add", "replace" or "remove" (RFC7644 §3.5.2).`);
  }
  const hasValue = op.value !== undefined;
  // The copy keeps the result from sharing objects with the caller's ops (and validates direct callers' values).
  const value = hasValue && copyValue ? copyJson(op.value, `${where}.value`) : op.value;
  if (op.path) {
    const label = op.pathText ?? formatPath(op.path);
    return [planTarget(kind, resolveTarget(op.path, ctx, label), value, hasValue, ctx, where)];
  }
  if (kind === 'remove') throw ScimError.noTarget(`${where}: "remove" needs a "path" naming what to remove (RFC7644 §3.5.2.2).`);
  if (!isPlainObject(value)) {
    throw ScimError.invalidValue(`${where}: an "${kind}" without "path" needs an object value whose keys are attribute names (RFC7644 §3.5.2.1).`);
  }
  const steps: Step[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (key.toLowerCase() === 'schemas') continue; // computed on output; clients echo it back
    for (const { target, value: tv } of resolveValueKey(key, v, ctx)) steps.push(planTarget(kind, target, tv, true, ctx, where));
  }
  return steps;
}

/** Member values a step names, for limits.maxMembersPerRequest. */
export function memberCount(step: Step): number {
  return step.kind === 'members' ? step.count : 0;
}

/** The 400 tooMany for too many member values in one request. */
export function tooManyMembers(count: number, limit: number): ScimError {
  return ScimError.tooMany(
    `The request names ${count} member values; at most ${limit} are allowed in one PATCH (maxMembersPerRequest). Split the change into several requests.`,
  );
}
