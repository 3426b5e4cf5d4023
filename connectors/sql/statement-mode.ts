/**
 * Templated mode: the admin writes the SQL of each operation with named placeholders; the
 * connector compiles them once (placeholders.ts), binds the operation's values as parameters and
 * runs an operation's statements in one transaction.
 *
 * Result conventions (documented in README.md): findUser/listUsers rows name their columns
 * `key`, `userName`, `active` and optionally `externalId` (case-insensitive); every other column
 * is an attribute. createUser/upsertGroup return the key as a `key` column (RETURNING, or a
 * SELECT after the INSERT) or, on MySQL/MariaDB, through the auto-increment id.
 */
import {
  NotFoundError,
  PermanentError,
  type KeyResult,
  type PreviewRequest,
  type TargetEntry,
  type TargetGroup,
  type TargetKey,
  type TargetUser,
  type TargetValue,
  type UserQuery,
} from '../sdk/index.js';
import { statementList, type StatementName, type StatementsConfig } from './config.js';
import type { Dialect, SqlDriver, SqlParam, SqlResult, SqlSession, SqlStatement } from './drivers.js';
import { isUniqueViolation } from './errors.js';
import { pick, toParam, toTargetValue, type PlannedOperation, type SqlMode, type UserWriteKind } from './mode.js';
import { compileStatement, type CompiledStatement } from './placeholders.js';

type Values = Record<string, SqlParam>;

/** Values a `:name` placeholder can take for a user operation. */
function userValues(user: TargetUser, key?: TargetKey): Values {
  const v: Values = {
    userName: user.userName,
    externalId: user.externalId ?? null,
    scimId: user.scimId,
    active: user.active,
  };
  if (key !== undefined) v.key = key;
  return v;
}

function attributeValue(attributes: Record<string, TargetValue>, name: string): SqlParam {
  return toParam(attributes[name.slice('attr.'.length)]);
}

/** A result's `active` column as a boolean; NULL or absent means the statement knows no deactivation. */
function activeFrom(v: unknown): boolean {
  if (v == null) return true;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  return !['0', 'false', 'f', 'n', 'no', 'inactive', 'disabled'].includes(String(v).trim().toLowerCase());
}

const RESERVED = new Set(['key', 'username', 'externalid', 'active', 'scimid']);

export class StatementMode implements SqlMode {
  private readonly compiled = new Map<StatementName, CompiledStatement[]>();

  constructor(
    private readonly statements: StatementsConfig,
    dialect: Dialect,
  ) {
    for (const [name, value] of Object.entries(statements) as [StatementName, string | string[] | undefined][]) {
      if (value !== undefined) this.compiled.set(name, statementList(value).map((t) => compileStatement(t, dialect)));
    }
  }

  get groupsConfigured(): boolean {
    return this.statements.upsertGroup !== undefined;
  }

  get membershipConfigured(): boolean {
    return this.statements.addMember !== undefined;
  }

  /** The statements of `name` with values bound; `attributes` feed `:attr.*`. */
  bind(name: StatementName, values: Values, attributes: Record<string, TargetValue> = {}): SqlStatement[] {
    const list = this.compiled.get(name);
    if (!list) throw new PermanentError(`statements.${name} is not configured`, { code: 'sql_statement_missing' });
    return list.map((c) => ({
      sql: c.sql,
      params: c.names.map((n) => (n.startsWith('attr.') ? attributeValue(attributes, n) : (values[n] ?? null))),
    }));
  }

  private async runAll(s: SqlSession, statements: SqlStatement[]): Promise<SqlResult[]> {
    const results: SqlResult[] = [];
    for (const st of statements) results.push(await s.run(st));
    return results;
  }

  /** The `key` column of the last statement that returned rows, else MySQL's insert id. */
  private keyOf(results: SqlResult[]): string | undefined {
    for (let i = results.length - 1; i >= 0; i--) {
      const row = results[i].rows[0];
      const key = row ? pick(row, 'key') : undefined;
      if (key != null) return String(key);
    }
    for (let i = results.length - 1; i >= 0; i--) if (results[i].insertId) return results[i].insertId;
    return undefined;
  }

  /**
   * Whether the statements found nothing to act on: none affected or returned a row. (Any one
   * touching a row counts, so `[delete memberships, delete user]` works in either order.)
   */
  private missed(results: SqlResult[]): boolean {
    return results.every((r) => r.affected === 0 && r.rows.length === 0);
  }

  private async raceSafe<T>(attempt: () => Promise<T>): Promise<T> {
    try {
      return await attempt();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      return attempt();
    }
  }

  private userStatements(kind: UserWriteKind): StatementName {
    return this.compiled.has(kind) ? kind : 'updateUser';
  }

  async createUser(db: SqlDriver, user: TargetUser): Promise<KeyResult> {
    return this.raceSafe(() =>
      db.transaction(async (s) => {
        // Create of an existing user = update: findUser first, in the same transaction.
        const found = (await this.runAll(s, this.bind('findUser', { userName: user.userName, externalId: null }))).at(-1)?.rows[0];
        const existing = found ? pick(found, 'key') : undefined;
        if (existing != null) {
          const key = String(existing);
          const results = await this.runAll(s, this.bind('updateUser', userValues(user, key), user.attributes));
          return { key: this.keyOf(results) ?? key };
        }
        const results = await this.runAll(s, this.bind('createUser', userValues(user), user.attributes));
        const key = this.keyOf(results);
        if (key === undefined) {
          throw new PermanentError(
            `${db.label}: statements.createUser returned no key: end it with RETURNING <id> AS key (PostgreSQL, SQLite, MariaDB) or add a SELECT <id> AS \`key\` ... statement after the INSERT`,
            { code: 'sql_no_key' },
          );
        }
        return { key };
      }),
    );
  }

  async writeUser(db: SqlDriver, kind: UserWriteKind, key: TargetKey, user: TargetUser): Promise<KeyResult> {
    const name = this.userStatements(kind);
    return db.transaction(async (s) => {
      const results = await this.runAll(s, this.bind(name, userValues(user, key), user.attributes));
      if (this.missed(results)) throw new NotFoundError(`${db.label}: statements.${name} found no user with key ${key}`);
      return { key: this.keyOf(results) ?? key };
    });
  }

  async deleteUser(db: SqlDriver, key: TargetKey): Promise<void> {
    await db.transaction(async (s) => {
      if (this.missed(await this.runAll(s, this.bind('deleteUser', { key })))) throw new NotFoundError(`${db.label}: statements.deleteUser found no user with key ${key}`);
    });
  }

  async upsertGroup(db: SqlDriver, group: TargetGroup, key: TargetKey | undefined): Promise<KeyResult> {
    return this.raceSafe(() =>
      db.transaction(async (s) => {
        const results = await this.runAll(s, this.bind('upsertGroup', { key: key ?? null, displayName: group.displayName, scimId: group.scimId }, group.attributes));
        const newKey = this.keyOf(results) ?? key;
        if (newKey === undefined) {
          throw new PermanentError(`${db.label}: statements.upsertGroup returned no key: end it with RETURNING <id> AS key, or add a SELECT <id> AS \`key\` ... statement`, { code: 'sql_no_key' });
        }
        return { key: newKey };
      }),
    );
  }

  async deleteGroup(db: SqlDriver, key: TargetKey): Promise<void> {
    await db.transaction(async (s) => {
      if (this.missed(await this.runAll(s, this.bind('deleteGroup', { key })))) throw new NotFoundError(`${db.label}: statements.deleteGroup found no group with key ${key}`);
    });
  }

  async addMembers(db: SqlDriver, groupKey: TargetKey, memberKeys: TargetKey[]): Promise<void> {
    await this.members(db, 'addMember', groupKey, memberKeys);
  }

  async removeMembers(db: SqlDriver, groupKey: TargetKey, memberKeys: TargetKey[]): Promise<void> {
    await this.members(db, 'removeMember', groupKey, memberKeys);
  }

  /** One statement run per member, all in one transaction; the statements themselves must be idempotent. */
  private async members(db: SqlDriver, name: 'addMember' | 'removeMember', groupKey: TargetKey, memberKeys: TargetKey[]): Promise<void> {
    const unique = [...new Set(memberKeys)];
    if (unique.length === 0) return;
    await db.transaction(async (s) => {
      for (const memberKey of unique) await this.runAll(s, this.bind(name, { key: groupKey, groupKey, memberKey }));
    });
  }

  private entry(row: Record<string, unknown>): TargetEntry | undefined {
    const key = pick(row, 'key');
    if (key == null) return undefined;
    const attributes: Record<string, TargetValue> = {};
    for (const [k, v] of Object.entries(row)) if (!RESERVED.has(k.toLowerCase())) attributes[k] = toTargetValue(v);
    const active = activeFrom(pick(row, 'active'));
    const user: Partial<TargetUser> = { userName: String(pick(row, 'userName') ?? ''), active, attributes };
    const externalId = pick(row, 'externalId');
    if (externalId != null) user.externalId = String(externalId);
    const scimId = pick(row, 'scimId');
    if (scimId != null) user.scimId = String(scimId);
    return { key: String(key), user };
  }

  async *listUsers(db: SqlDriver, pageSize: number): AsyncIterable<TargetEntry> {
    let offset = 0;
    let afterKey: SqlParam = null;
    for (;;) {
      const statements = this.bind('listUsers', { limit: pageSize, offset, afterKey });
      let rows: Record<string, unknown>[] = [];
      for (const st of statements) rows = (await db.query(st)).rows;
      for (const row of rows) {
        const e = this.entry(row);
        if (!e) throw new PermanentError(`${db.label}: statements.listUsers returned a row without a "key" column: alias the key column AS key`, { code: 'sql_no_key' });
        yield e;
      }
      if (rows.length < pageSize) return;
      offset += rows.length;
      afterKey = pick(rows[rows.length - 1], 'key') as SqlParam;
    }
  }

  async findUser(db: SqlDriver, query: UserQuery): Promise<TargetEntry | undefined> {
    const values = 'userName' in query ? { userName: query.userName, externalId: null } : { userName: null, externalId: query.externalId };
    let rows: Record<string, unknown>[] = [];
    for (const st of this.bind('findUser', values)) rows = (await db.query(st)).rows;
    if (!rows[0]) return undefined;
    const e = this.entry(rows[0]);
    if (!e) throw new PermanentError(`${db.label}: statements.findUser returned a row without a "key" column: alias the key column AS key`, { code: 'sql_no_key' });
    return e;
  }

  preview(op: PlannedOperation): PreviewRequest[] {
    const show = (description: string, list: SqlStatement[]): PreviewRequest[] => list.map((st, i) => ({ description: list.length > 1 ? `${description} (${i + 1}/${list.length})` : description, detail: { sql: st.sql, params: st.params } }));
    switch (op.kind) {
      case 'createUser':
        return [
          ...show('statements.findUser: look for the user', this.bind('findUser', { userName: op.user.userName, externalId: null })),
          ...show('if none: statements.createUser', this.bind('createUser', userValues(op.user), op.user.attributes)),
          ...show('if found: statements.updateUser (create of an existing user = update)', this.bind('updateUser', userValues(op.user, '<key found>'), op.user.attributes)),
        ];
      case 'updateUser':
      case 'deactivateUser':
      case 'reactivateUser': {
        const name = this.userStatements(op.kind);
        return show(`statements.${name}`, this.bind(name, userValues(op.user, op.key), op.user.attributes));
      }
      case 'deleteUser':
        return show('statements.deleteUser', this.bind('deleteUser', { key: op.key }));
      case 'upsertGroup':
        if (!this.groupsConfigured) return [];
        return show('statements.upsertGroup', this.bind('upsertGroup', { key: op.key ?? null, displayName: op.group.displayName, scimId: op.group.scimId }, op.group.attributes));
      case 'deleteGroup':
        if (!this.groupsConfigured) return [];
        return show('statements.deleteGroup', this.bind('deleteGroup', { key: op.key }));
      case 'addMembers':
      case 'removeMembers': {
        if (!this.membershipConfigured) return [];
        const name = op.kind === 'addMembers' ? 'addMember' : 'removeMember';
        return [...new Set(op.memberKeys)].flatMap((memberKey) => show(`statements.${name} for member ${memberKey}`, this.bind(name, { key: op.key, groupKey: op.key, memberKey })));
      }
    }
  }

  /** Runs the two read statements (findUser, listUsers with a page of 1): they must parse and their tables exist. */
  async check(db: SqlDriver): Promise<string[]> {
    const problems: string[] = [];
    const probe = async (name: StatementName, statements: SqlStatement[]): Promise<void> => {
      try {
        for (const st of statements) await db.query(st);
      } catch (err) {
        const e = err as { code?: unknown; errno?: unknown };
        // Connection-level failures belong to the caller's "cannot connect" message.
        if (typeof e.code === 'string' && /^(E[A-Z]+|PROTOCOL_|08|57P)/.test(e.code)) throw err;
        problems.push(`statements.${name} failed: ${(err as Error).message}`);
      }
    };
    await probe('findUser', this.bind('findUser', { userName: `scim-bridge-test-${Date.now()}`, externalId: null }));
    await probe('listUsers', this.bind('listUsers', { limit: 1, offset: 0, afterKey: null }));
    return problems;
  }

  describe(): string {
    return `templated statements: findUser and listUsers ran (${this.compiled.size} statements configured)`;
  }
}
