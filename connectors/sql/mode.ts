/**
 * What table mode and templated mode both provide to the connector, and the small helpers they
 * share. The connector owns the driver, error classification and test(); a mode only knows which
 * statements an operation needs.
 */
import type { KeyResult, PreviewRequest, TargetEntry, TargetGroup, TargetKey, TargetUser, TargetValue, UserQuery } from '../sdk/index.js';
import type { Dialect, SqlDriver, SqlParam } from './drivers.js';

/** The three user writes that carry a full user (desired state). */
export type UserWriteKind = 'updateUser' | 'deactivateUser' | 'reactivateUser';

/** A connector operation, without the SDK's bookkeeping fields. */
export type PlannedOperation =
  | { kind: 'createUser'; user: TargetUser }
  | { kind: UserWriteKind; key: TargetKey; user: TargetUser }
  | { kind: 'deleteUser'; key: TargetKey }
  | { kind: 'upsertGroup'; key?: TargetKey; group: TargetGroup }
  | { kind: 'deleteGroup'; key: TargetKey }
  | { kind: 'addMembers' | 'removeMembers'; key: TargetKey; memberKeys: TargetKey[] };

/** One way of turning operations into SQL. Every write runs in one transaction. */
export interface SqlMode {
  createUser(db: SqlDriver, user: TargetUser): Promise<KeyResult>;
  /** `user.active` is already what the operation wants (the connector forces it for (de)activation). */
  writeUser(db: SqlDriver, kind: UserWriteKind, key: TargetKey, user: TargetUser): Promise<KeyResult>;
  deleteUser(db: SqlDriver, key: TargetKey): Promise<void>;
  /** False when no groups are configured: group operations then change nothing. */
  readonly groupsConfigured: boolean;
  readonly membershipConfigured: boolean;
  upsertGroup(db: SqlDriver, group: TargetGroup, key: TargetKey | undefined): Promise<KeyResult>;
  deleteGroup(db: SqlDriver, key: TargetKey): Promise<void>;
  addMembers(db: SqlDriver, groupKey: TargetKey, memberKeys: TargetKey[]): Promise<void>;
  removeMembers(db: SqlDriver, groupKey: TargetKey, memberKeys: TargetKey[]): Promise<void>;
  listUsers(db: SqlDriver, pageSize: number): AsyncIterable<TargetEntry>;
  findUser(db: SqlDriver, query: UserQuery): Promise<TargetEntry | undefined>;
  /** The statements an operation would run, with their parameters; touches nothing. */
  preview(op: PlannedOperation): PreviewRequest[];
  /** Problems with the configured tables/statements, for test(); empty when all is well. */
  check(db: SqlDriver): Promise<string[]>;
  /** One line for test()'s success message. */
  describe(): string;
}

/** A mapped attribute as a statement parameter: lists travel as JSON text. */
export function toParam(v: TargetValue | undefined): SqlParam {
  if (v === undefined || v === null) return null;
  if (Array.isArray(v)) return JSON.stringify(v);
  return v;
}

/** Compares a stored flag with a configured one across drivers (true vs 1 vs '1'). */
export function looseEqual(a: unknown, b: unknown): boolean {
  const norm = (v: unknown): unknown => {
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
    return v;
  };
  return norm(a) === norm(b);
}

/** A column of a result row; exact name first, then case-insensitively (MySQL and SQLite fold case). */
export function pick(row: Record<string, unknown>, column: string): unknown {
  if (column in row) return row[column];
  const lower = column.toLowerCase();
  for (const [k, v] of Object.entries(row)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** A stored value as a mapped attribute value. */
export function toTargetValue(v: unknown): TargetValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  return JSON.stringify(v);
}

/** Whether the dialect compares text case-insensitively by default (MySQL's _ci collations). */
export function foldsCase(dialect: Dialect): boolean {
  return dialect === 'mysql';
}
