/**
 * Group membership under PATCH. Membership is stored apart from the group JSON and may be huge
 * (50k members), so member operations become a MemberDelta without reading the list, except for
 * exotic filters (`members[display co "x"]`) where the caller must pass the current list.
 */
import { ScimError } from '../errors.js';
import type { Member } from '../../store/types.js';
import type { MemberDelta } from './types.js';
import { isPlainObject } from './json.js';

/**
 * Validates member values: `{value, display?, type?, $ref?}` or an array of them. `value` (the
 * member's id) is required; `$ref` is ignored (computed on output); duplicates collapse to the first.
 * @param defaultId used as `value` when an object has none (`add members[value eq "x"]` with `{display}`)
 */
export function normalizeMemberValues(raw: unknown, where: string, defaultId?: string): Member[] {
  if (raw === null || raw === undefined) return [];
  const list: unknown[] = Array.isArray(raw) ? raw : [raw];
  const seen = new Set<string>();
  const out: Member[] = [];
  for (let i = 0; i < list.length; i++) {
    const m = list[i];
    const at = (): string => (Array.isArray(raw) ? `${where}[${i}]` : where);
    if (!isPlainObject(m)) throw ScimError.invalidValue(`${at()} must be an object with a "value" (the member's id), e.g. {"value":"2819c223"}.`);
    // One pass over the keys (names are case-insensitive): this runs for every member of a 50k replace.
    let value: unknown;
    let t: unknown;
    let d: unknown;
    for (const k of Object.keys(m)) {
      const l = k.length === 5 || k.length === 4 || k.length === 7 ? k.toLowerCase() : '';
      if (l === 'value') value = m[k];
      else if (l === 'type') t = m[k];
      else if (l === 'display') d = m[k];
    }
    value ??= defaultId;
    if (typeof value !== 'string' || value === '') {
      throw ScimError.invalidValue(`${at()}.value must be the member's id (a non-empty string).`);
    }
    if (seen.has(value)) continue;
    seen.add(value);
    const member: Member = { value };
    if (t !== undefined && t !== null) {
      const tl = typeof t === 'string' ? t.toLowerCase() : '';
      if (tl !== 'user' && tl !== 'group') throw ScimError.invalidValue(`${at()}.type must be "User" or "Group", got ${JSON.stringify(t)}.`);
      member.type = tl === 'user' ? 'User' : 'Group';
    }
    if (typeof d === 'string' && d !== '') member.display = d;
    out.push(member);
  }
  return out;
}

type Pending = { kind: 'add'; member: Member } | { kind: 'remove' };

/**
 * Accumulates member operations in request order. In delta mode it only records per-id intents
 * (the last operation on an id wins, so add and remove stay disjoint); once the whole list is known
 * (after `replace members`, or materialized from `current` for an exotic filter) it edits that list.
 */
export class MemberTracker {
  private pending = new Map<string, Pending>();
  /** The whole list, when known. */
  private full?: Member[];
  /** True when `full` came from a client replace (so it is emitted as replaceAll). */
  private replaced = false;
  private touched = false;

  constructor(private readonly current?: readonly Member[]) {}

  add(members: Member[]): void {
    this.touched = true;
    if (this.full) {
      const ids = new Set(this.full.map((m) => m.value));
      for (const m of members) if (!ids.has(m.value)) (ids.add(m.value), this.full.push(m));
      return;
    }
    for (const m of members) {
      // Adding an id already being added keeps the first (RFC7644 §3.5.2.1: existing values are not duplicated).
      if (this.pending.get(m.value)?.kind !== 'add') this.pending.set(m.value, { kind: 'add', member: m });
    }
  }

  remove(ids: string[]): void {
    this.touched = true;
    if (this.full) {
      const drop = new Set(ids);
      this.full = this.full.filter((m) => !drop.has(m.value));
      return;
    }
    for (const id of ids) {
      this.pending.delete(id); // re-insert so the map order follows the request
      this.pending.set(id, { kind: 'remove' });
    }
  }

  replaceAll(members: Member[]): void {
    this.touched = true;
    this.pending.clear();
    this.full = [...members];
    this.replaced = true;
  }

  /** The whole list after the operations so far; needs `current` unless a replace already gave it. */
  materialize(): Member[] {
    this.touched = true;
    if (this.full) return this.full;
    if (!this.current) {
      // A caller bug, not a client error: needsMemberList() tells when the list must be passed.
      throw new Error('applyPatch: this member filter needs the current member list (check needsMemberList first).');
    }
    const list: Member[] = [];
    const ids = new Set<string>();
    for (const m of this.current) {
      if (this.pending.get(m.value)?.kind === 'remove') continue;
      list.push({ ...m });
      ids.add(m.value);
    }
    for (const p of this.pending.values()) {
      if (p.kind === 'add' && !ids.has(p.member.value)) (ids.add(p.member.value), list.push(p.member));
    }
    this.pending.clear();
    this.full = list;
    return list;
  }

  /** Replaces the known whole list (after an exotic operation edited it). */
  setFull(list: Member[]): void {
    this.full = list;
  }

  /** The delta to commit, or undefined when no operation touched members or nothing would change. */
  result(): MemberDelta | undefined {
    if (!this.touched) return undefined;
    const current = this.current;
    if (this.full) {
      if (this.replaced) {
        if (current && sameMembers(current, this.full)) return undefined;
        return { replaceAll: this.full, add: [], remove: [] };
      }
      // Materialized from `current` for an exotic filter: express the change as add/remove, unless an
      // existing member's display or type changed, which only replaceAll can carry.
      const base = new Map((current ?? []).map((m) => [m.value, m]));
      const finalIds = new Set(this.full.map((m) => m.value));
      const add: Member[] = [];
      for (const m of this.full) {
        const before = base.get(m.value);
        if (!before) add.push(m);
        else if (!memberEqual(before, m)) return { replaceAll: this.full, add: [], remove: [] };
      }
      const remove = [...base.keys()].filter((id) => !finalIds.has(id));
      return add.length || remove.length ? { add, remove } : undefined;
    }
    let add: Member[] = [];
    let remove: string[] = [];
    for (const [id, p] of this.pending) {
      if (p.kind === 'add') add.push(p.member);
      else remove.push(id);
    }
    if (current) {
      // With the list at hand, drop no-ops so `changed` is exact.
      const ids = new Set(current.map((m) => m.value));
      add = add.filter((m) => !ids.has(m.value));
      remove = remove.filter((id) => ids.has(id));
    }
    return add.length || remove.length ? { add, remove } : undefined;
  }
}

function sameMembers(a: readonly Member[], b: readonly Member[]): boolean {
  if (a.length !== b.length) return false;
  const byId = new Map(a.map((m) => [m.value, m]));
  return b.every((m) => {
    const o = byId.get(m.value);
    return o !== undefined && memberEqual(o, m);
  });
}

/** Field-wise, so that `{display: undefined}` equals an absent display. */
function memberEqual(a: Member, b: Member): boolean {
  return a.value === b.value && a.type === b.type && a.display === b.display;
}
