/**
 * Applies planned PATCH steps to a copy of a resource's JSON (RFC7644 §3.5.2), with the behaviour
 * Entra ID and Okta rely on (docs/idp/wire-behaviour.md): string booleans, creation of filtered elements, manager
 * as a plain id, member deltas instead of member lists.
 */
import { compileElementFilter } from '../filter/index.js';
import type { FilterNode } from '../filter/ast.js';
import type { AttributeDef, AttributeResolver, ResolvedAttribute } from '../schemas/attribute.js';
import { ScimError } from '../errors.js';
import type { Member, ScimJson } from '../../store/types.js';
import {
  deepEqual,
  deleteCI,
  findKey,
  getCI,
  isAssigned,
  isPlainObject,
  setCanonical,
  type JsonObject,
} from './json.js';
import { MemberTracker, normalizeMemberValues } from './members.js';
import { memberCount, planOp, tooManyMembers, type AttrTarget, type OpKind, type Step } from './plan.js';
import { ENTERPRISE_USER_URN, type PatchContext, type PatchOp, type PatchResult } from './types.js';
import { coerceBoolean } from '../resources/index.js';

/** Coercions that need the schema; everything else is type-checked by the caller on the whole result. */
function coerceSimple(def: AttributeDef, v: unknown): unknown {
  // Entra sends string booleans ("True", "False", any case): coerce them (docs/idp/wire-behaviour.md).
  return def.type === 'boolean' ? (coerceBoolean(v) ?? v) : v;
}

/**
 * Canonicalizes the keys of a complex value (RFC7643 §2.1) and coerces its sub-attributes.
 * Unknown sub-attributes are dropped, as the resource normalizer drops them on POST; readOnly ones
 * are ignored (RFC7643 §2.2). With keepNulls, null marks a sub-attribute to unassign.
 */
function coerceComplex(parent: ResolvedAttribute, obj: JsonObject, resolver: AttributeResolver, keepNulls: boolean): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) {
    const sub = resolver.resolveSub(parent, k);
    if (!sub || sub.def.mutability === 'readOnly') continue;
    if (v === null) {
      if (keepNulls) out[sub.canonical] = null;
      continue;
    }
    out[sub.canonical] = sub.def.multiValued && Array.isArray(v) ? v.map((x) => coerceSimple(sub.def, x)) : coerceSimple(sub.def, v);
  }
  return out;
}

function coerceElement(parent: ResolvedAttribute, el: unknown, resolver: AttributeResolver): unknown {
  if (parent.def.type !== 'complex') return coerceSimple(parent.def, el);
  // A non-object element is left for the schema validation to refuse with a precise message.
  return isPlainObject(el) ? coerceComplex(parent, el, resolver, false) : el;
}

/** Sets the given sub-attributes, unassigns those given as null, leaves the others unchanged. */
function mergeInto(target: JsonObject, patch: JsonObject): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) deleteCI(target, k);
    else setCanonical(target, k, v);
  }
}

function equalValues(a: unknown, b: unknown, caseExact: boolean): boolean {
  if (!caseExact && typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase();
  return deepEqual(a, b);
}

/** For remove with a value: an element goes when it has every sub-attribute the given item has. */
function elementMatchesItem(el: unknown, item: unknown, parent: ResolvedAttribute, resolver: AttributeResolver): boolean {
  if (isPlainObject(item)) {
    if (!isPlainObject(el)) return false;
    const keys = Object.keys(item);
    if (keys.length === 0) return false; // `[{}]` must not remove everything
    return keys.every((k) => equalValues(getCI(el, k), item[k], resolver.resolveSub(parent, k)?.def.caseExact ?? true));
  }
  return equalValues(el, item, parent.def.caseExact);
}

/**
 * The element a filtered add/replace creates when nothing matches: the filter's `eq` terms (joined
 * by `and`) become its sub-attributes. Entra requires this for `emails[type eq "work"].value`.
 * Returns undefined when the filter is not made of such terms.
 */
function eqTerms(filter: FilterNode, parent: ResolvedAttribute, resolver: AttributeResolver): JsonObject | undefined {
  if (filter.kind === 'compare') {
    const p = filter.path;
    if (filter.op !== 'eq' || filter.value === null || p.schema !== undefined || p.filter !== undefined || p.subAttr !== undefined) return undefined;
    const sub = resolver.resolveSub(parent, p.attr);
    return sub ? { [sub.canonical]: coerceSimple(sub.def, filter.value) } : undefined;
  }
  if (filter.kind === 'and') {
    const l = eqTerms(filter.left, parent, resolver);
    const r = eqTerms(filter.right, parent, resolver);
    if (!l || !r) return undefined;
    for (const [k, v] of Object.entries(r)) if (k in l && !deepEqual(l[k], v)) return undefined; // unsatisfiable
    return { ...l, ...r };
  }
  return undefined;
}

function asList(value: unknown): unknown[] {
  if (value === null || value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function isEmptyObject(v: unknown): boolean {
  return isPlainObject(v) && Object.keys(v).length === 0;
}

/**
 * RFC7644 §3.5.2: setting "primary" to true on a value sets it to false on the others. `fresh`
 * holds the elements this operation wrote.
 */
function enforcePrimary(list: unknown[], fresh: Set<unknown>, parent: ResolvedAttribute, resolver: AttributeResolver): unknown[] {
  if (fresh.size === 0 || parent.def.type !== 'complex') return list;
  const sub = resolver.resolveSub(parent, 'primary');
  if (!sub || sub.def.type !== 'boolean') return list;
  const key = sub.canonical;
  const newPrimary = [...fresh].some((el) => isPlainObject(el) && getCI(el, key) === true);
  if (!newPrimary) return list;
  return list.map((el) => {
    if (fresh.has(el) || !isPlainObject(el) || getCI(el, key) !== true) return el;
    const copy = { ...el };
    setCanonical(copy, key, false);
    return copy;
  });
}

/** One operation on the elements of a multi-valued attribute; returns the new list. */
function applyToList(
  list: unknown[],
  op: OpKind,
  t: AttrTarget,
  value: unknown,
  hasValue: boolean,
  resolver: AttributeResolver,
): unknown[] {
  const { parent } = t;
  const fresh = new Set<unknown>();
  let out = list.slice();

  if (t.filter === undefined && t.sub === undefined) {
    if (op === 'remove') {
      // RFC7644 §3.5.2.2: no value removes the attribute; with a value only the listed values go.
      if (!hasValue || value === null) return [];
      const items = asList(value).map((el) => coerceElement(parent, el, resolver));
      return out.filter((el) => !items.some((it) => elementMatchesItem(el, it, parent, resolver)));
    }
    const items: unknown[] = [];
    for (const raw of asList(value)) {
      if (raw === null) continue;
      const el = coerceElement(parent, raw, resolver);
      if (!isEmptyObject(el) && !items.some((x) => deepEqual(x, el))) items.push(el);
    }
    // RFC7644 §3.5.2.3: replace of a multi-valued attribute without a filter replaces all values.
    if (op === 'replace') return items;
    // RFC7644 §3.5.2.1: add appends, skipping values already present.
    for (const el of items) {
      if (!out.some((x) => deepEqual(x, el))) {
        out.push(el);
        fresh.add(el);
      }
    }
    return enforcePrimary(out, fresh, parent, resolver);
  }

  const filter = t.filter;
  // Compiled once per operation (same semantics as matchElement): exotic member filters run over whole lists.
  const matches = filter === undefined ? () => true : compileElementFilter(filter, parent, resolver);
  const hits: number[] = [];
  out.forEach((el, i) => {
    if (matches(el)) hits.push(i);
  });
  const newElement = (): JsonObject => {
    if (filter === undefined) return {};
    const terms = eqTerms(filter, parent, resolver);
    if (!terms) {
      throw ScimError.noTarget(
        `No value of "${parent.canonical}" matches "${t.label}", and the filter cannot describe a new one (only "attr eq value" terms joined by "and" can) (RFC7644 §3.5.2.3).`,
      );
    }
    return { ...terms };
  };

  if (t.sub !== undefined) {
    const key = t.sub.canonical;
    if (op === 'remove' || value === null) {
      // RFC7644 §3.5.2.2: removes the sub-attribute of every matching value.
      for (const i of hits) {
        const el = out[i];
        if (!isPlainObject(el)) continue;
        const copy = { ...el };
        deleteCI(copy, key);
        out[i] = copy;
      }
      return out.filter((el) => !isEmptyObject(el));
    }
    const v = t.sub.def.multiValued && Array.isArray(value) ? value.map((x) => coerceSimple(t.sub!.def, x)) : coerceSimple(t.sub.def, value);
    if (hits.length === 0) {
      // RFC7644 §3.5.2.3 says noTarget here; Entra needs the value created (docs/idp/wire-behaviour.md).
      const el = newElement();
      setCanonical(el, key, v);
      out.push(el);
      fresh.add(el);
    } else {
      // RFC7644 §3.5.2.3: the sub-attribute of all matching values is replaced.
      for (const i of hits) {
        const el = out[i];
        const copy = isPlainObject(el) ? { ...el } : {};
        setCanonical(copy, key, v);
        out[i] = copy;
        fresh.add(copy);
      }
    }
    return enforcePrimary(out, fresh, parent, resolver);
  }

  // A value filter without a sub-attribute: `emails[type eq "work"]`.
  if (op === 'remove' || (op === 'replace' && value === null)) {
    const drop = new Set(hits);
    out = out.filter((_, i) => !drop.has(i));
    return out;
  }
  if (value === null || (!hasValue && op === 'add')) return out;
  if (!isPlainObject(value)) {
    throw ScimError.invalidValue(`"${t.label}" selects values of "${parent.canonical}": the value must be an object of its sub-attributes.`);
  }
  const patch = coerceComplex(parent, value, resolver, true);
  if (hits.length === 0) {
    const el = newElement();
    mergeInto(el, patch);
    out.push(el);
    fresh.add(el);
  } else {
    for (const i of hits) {
      const el = out[i];
      // RFC7644 §3.5.2.3: replace replaces each matching value (keeping the filter's eq terms so that
      // it still matches); add merges into it.
      const base: JsonObject = op === 'replace' ? { ...(eqTerms(filter!, parent, resolver) ?? {}) } : isPlainObject(el) ? { ...el } : {};
      mergeInto(base, patch);
      out[i] = base;
      fresh.add(base);
    }
  }
  return enforcePrimary(out, fresh, parent, resolver);
}

/** Entra sends manager as a plain id, `{value}` or `[{"$ref": …, "value": id}]`; stored as `{ value }`
 * (plus displayName when given). Returns null to unassign. */
function normalizeManager(v: unknown, label: string): JsonObject | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v.trim() === '' ? null : { value: v };
  if (Array.isArray(v)) return v.length === 0 ? null : normalizeManager(v[0], label);
  if (isPlainObject(v)) {
    const id = getCI(v, 'value');
    if (id === null || id === undefined || id === '') return null;
    if (typeof id !== 'string') throw ScimError.invalidValue(`"${label}.value" must be the manager's id (a string).`);
    const out: JsonObject = { value: id };
    const dn = getCI(v, 'displayName');
    if (typeof dn === 'string' && dn !== '') out.displayName = dn;
    return out;
  }
  throw ScimError.invalidValue(`"${label}" must be the manager's id, or {"value": "<id>"}.`);
}

function isManager(attr: ResolvedAttribute): boolean {
  return attr.extension?.toLowerCase() === ENTERPRISE_USER_URN.toLowerCase() && attr.canonical.toLowerCase() === 'manager';
}

function qualifiedName(attr: ResolvedAttribute): string {
  return attr.extension ? `${attr.extension}:${attr.canonical}` : attr.canonical;
}

/** The object holding an attribute: the resource itself, or its extension block. */
function containerOf(doc: JsonObject, extension: string | undefined): JsonObject | undefined {
  if (extension === undefined) return doc;
  const v = getCI(doc, extension);
  return isPlainObject(v) ? v : undefined;
}

class Patcher {
  readonly members: MemberTracker;
  /** Top-level attributes touched, for the immutable/required checks at the end. */
  private readonly touched = new Map<string, ResolvedAttribute>();

  constructor(
    readonly doc: JsonObject,
    readonly ctx: PatchContext,
    currentMembers: readonly Member[] | undefined,
  ) {
    this.members = new MemberTracker(currentMembers);
  }

  exec(step: Step): void {
    if (step.kind === 'skip') return;
    if (step.kind === 'members') return this.execMembers(step);
    this.execAttr(step.op, step.target, step.value, step.hasValue);
  }

  /** The container for writes: the extension block is created (under its canonical URN) if absent. */
  private writable(extension: string | undefined, create: boolean): JsonObject | undefined {
    if (extension === undefined) return this.doc;
    const k = findKey(this.doc, extension);
    const existing = k === undefined ? undefined : this.doc[k];
    if (!isPlainObject(existing) && !create) return undefined;
    const block: JsonObject = isPlainObject(existing) ? existing : {};
    setCanonical(this.doc, extension, block);
    return block;
  }

  private execAttr(op: OpKind, t: AttrTarget, value: unknown, hasValue: boolean): void {
    const { parent } = t;
    this.touched.set(qualifiedName(parent).toLowerCase(), parent);
    const container = this.writable(parent.extension, op !== 'remove');
    if (!container) return; // removing from an absent extension block: nothing to do
    const key = parent.canonical;
    const put = (v: unknown): void => {
      if (!isAssigned(v) || isEmptyObject(v)) deleteCI(container, key);
      else setCanonical(container, key, v);
    };

    if (parent.def.multiValued) {
      const current = getCI(container, key);
      const list = current === undefined || current === null ? [] : Array.isArray(current) ? current : [current];
      put(applyToList(list, op, t, value, hasValue, this.ctx.resolver));
      return;
    }
    if (t.sub === undefined && isManager(parent)) {
      // Set whole: merging a new id into the old object would keep the old manager's displayName.
      put(op === 'remove' ? undefined : normalizeManager(value, t.label));
      return;
    }
    if (t.sub !== undefined) {
      const current = getCI(container, key);
      const obj: JsonObject = isPlainObject(current) ? current : {};
      if (op === 'remove' || value === null) deleteCI(obj, t.sub.canonical);
      else setCanonical(obj, t.sub.canonical, coerceSimple(t.sub.def, value));
      put(obj);
      return;
    }
    // RFC7643 §2.5: null (like a removal) leaves the attribute unassigned.
    if (op === 'remove' || value === null) return put(undefined);
    if (parent.def.type === 'complex') {
      if (!isPlainObject(value)) {
        throw ScimError.invalidValue(`Attribute "${t.label}" is complex: its value must be an object of sub-attributes.`);
      }
      // RFC7644 §3.5.2.1 (add) and §3.5.2.3 (replace): the given sub-attributes replace existing
      // ones, sub-attributes not given are left unchanged.
      const current = getCI(container, key);
      const obj: JsonObject = isPlainObject(current) ? current : {};
      mergeInto(obj, coerceComplex(parent, value, this.ctx.resolver, true));
      put(obj);
      return;
    }
    put(coerceSimple(parent.def, value));
  }

  private execMembers(step: Extract<Step, { kind: 'members' }>): void {
    if (!step.exotic) {
      if (step.replaceAll) this.members.replaceAll(step.replaceAll);
      if (step.remove) this.members.remove(step.remove);
      if (step.add) this.members.add(step.add);
      return;
    }
    // Exotic filter or sub-attribute: edit the whole list (the caller passed it, see needsMemberList).
    const records: unknown[] = this.members.materialize().map((m) => ({ ...m }));
    const next = applyToList(records, step.op, step.target, step.exotic.value, step.exotic.hasValue, this.ctx.resolver);
    this.members.setFull(normalizeMemberValues(next, step.target.label));
  }

  /** Checks that need the before/after values: immutable attributes and required ones. */
  finish(original: JsonObject): void {
    for (const attr of this.touched.values()) {
      const name = qualifiedName(attr);
      const beforeC = containerOf(original, attr.extension);
      const afterC = containerOf(this.doc, attr.extension);
      const before = beforeC ? getCI(beforeC, attr.canonical) : undefined;
      const after = afterC ? getCI(afterC, attr.canonical) : undefined;
      if (attr.def.mutability === 'immutable' && isAssigned(before) && !deepEqual(before, after)) {
        throw ScimError.mutability(`Attribute "${name}" is immutable: it may be set when absent but not changed (RFC7643 §2.2).`);
      }
      if (!attr.def.multiValued && attr.def.type === 'complex' && isPlainObject(before)) {
        for (const sub of attr.def.subAttributes ?? []) {
          if (sub.mutability !== 'immutable') continue;
          const b = getCI(before, sub.name);
          const a = isPlainObject(after) ? getCI(after, sub.name) : undefined;
          if (isAssigned(b) && !deepEqual(a, b)) {
            throw ScimError.mutability(`Attribute "${name}.${sub.name}" is immutable: it may be set when absent but not changed (RFC7643 §2.2).`);
          }
        }
      }
      if (attr.def.required && !isAssigned(after)) {
        // RFC7644 §3.12: invalidValue is "a required value was missing".
        throw ScimError.invalidValue(`Attribute "${name}" is required and cannot be removed.`);
      }
      if (attr.extension !== undefined) {
        const k = findKey(this.doc, attr.extension);
        if (k !== undefined && isEmptyObject(this.doc[k])) delete this.doc[k];
      }
    }
  }
}

/** Applies all ops to a copy of `data` or throws (atomic: the input is never mutated). */
export function applyPatch(data: ScimJson, ops: PatchOp[], ctx: PatchContext, currentMembers?: Member[]): PatchResult {
  const doc = structuredClone(data);
  const patcher = new Patcher(doc, ctx, currentMembers);
  let memberValues = 0;
  ops.forEach((op, i) => {
    for (const step of planOp(op, ctx, `Operations[${i}]`)) {
      memberValues += memberCount(step);
      if (memberValues > ctx.limits.maxMembersPerRequest) throw tooManyMembers(memberValues, ctx.limits.maxMembersPerRequest);
      patcher.exec(step);
    }
  });
  patcher.finish(data);
  const members = patcher.members.result();
  const changed = members !== undefined || !deepEqual(data, doc);
  return members ? { data: doc, members, changed } : { data: doc, changed };
}
