/**
 * Small JSON helpers for the PATCH engine: safe copying of client values (no prototype keys, bounded
 * depth, JSON types only), deep equality, and case-insensitive key access (RFC7643 §2.1: attribute
 * names are case-insensitive, the stored JSON uses the canonical spelling).
 */
import { ScimError } from '../errors.js';

/** Keys that could reach Object.prototype if ever assigned; refused wherever a client names a key. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Deeper values are refused: nothing in a SCIM resource nests beyond a few levels, and deep
 * recursion on hostile input must end in a 400, not a RangeError. */
export const MAX_VALUE_DEPTH = 32;

export type JsonObject = Record<string, unknown>;

/** True for a non-null, non-array object. */
export function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True for `__proto__`, `constructor` and `prototype`, in any case (no real attribute is named so). */
export function isForbiddenKey(key: string): boolean {
  return FORBIDDEN_KEYS.has(key.toLowerCase());
}

/**
 * Copies a client value, refusing anything that is not plain JSON, prototype keys at any depth, and
 * nesting beyond MAX_VALUE_DEPTH. `undefined` members of objects are dropped, as JSON would.
 * @param where human description for error messages (`Operations[2].value`)
 */
export function copyJson(value: unknown, where: string, depth = 0): unknown {
  if (depth > MAX_VALUE_DEPTH) throw ScimError.invalidValue(`${where} is nested more than ${MAX_VALUE_DEPTH} levels deep.`);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw ScimError.invalidValue(`${where} holds a number that is not finite.`);
    return value;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const el: unknown = value[i];
      out[i] = el === undefined ? null : copyJson(el, where, depth + 1);
    }
    return out;
  }
  if (isPlainObject(value)) {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw ScimError.invalidValue(`${where} is not a JSON value.`);
    const out: JsonObject = {};
    for (const key of Object.keys(value)) {
      if (isForbiddenKey(key)) throw ScimError.invalidValue(`The key "${key}" is not allowed (in ${where}).`);
      const v = value[key];
      if (v === undefined) continue;
      out[key] = copyJson(v, where, depth + 1);
    }
    return out;
  }
  throw ScimError.invalidValue(`${where} is not a JSON value.`);
}

/** Structural equality of JSON values (key order ignored). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as JsonObject;
  const bo = b as JsonObject;
  const ak = Object.keys(ao);
  if (ak.length !== Object.keys(bo).length) return false;
  for (const k of ak) {
    if (!Object.prototype.hasOwnProperty.call(bo, k) || !deepEqual(ao[k], bo[k])) return false;
  }
  return true;
}

/** The key of `obj` naming `name`: the exact spelling if present, else a case-insensitive match. */
export function findKey(obj: JsonObject, name: string): string | undefined {
  if (Object.prototype.hasOwnProperty.call(obj, name)) return name;
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return k;
  return undefined;
}

/** Value of `name` in `obj`, found case-insensitively. */
export function getCI(obj: JsonObject, name: string): unknown {
  const k = findKey(obj, name);
  return k === undefined ? undefined : obj[k];
}

/** Sets `obj[canonical]`, first deleting any other spelling of the same name (RFC7643 §2.1). */
export function setCanonical(obj: JsonObject, canonical: string, value: unknown): void {
  if (isForbiddenKey(canonical)) throw ScimError.invalidPath(`The attribute name "${canonical}" is not allowed.`);
  deleteCI(obj, canonical, canonical);
  obj[canonical] = value;
}

/** Deletes every spelling of `name` in `obj` (except `keep`, if given). */
export function deleteCI(obj: JsonObject, name: string, keep?: string): void {
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k !== keep && k.toLowerCase() === lower) delete obj[k];
}

/** Whether a value counts as assigned: RFC7643 §2.5 treats null and [] as unassigned. */
export function isAssigned(v: unknown): boolean {
  return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
}
