/**
 * Table mode: the admin names the tables and columns, the connector writes the SQL. Identifiers
 * come from the (validated) config or from target attribute names (validated here) and are
 * quoted; every value is a parameter. Each write is one transaction.
 */
import {
  ConflictError,
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
import type { TableModeConfig } from './config.js';
import type { Dialect, SqlDriver, SqlParam, SqlSession, SqlStatement } from './drivers.js';
import { isUniqueViolation, isUnknownTable } from './errors.js';
import { identifierProblem, quoteIdentifier } from './identifiers.js';
import { foldsCase, looseEqual, pick, toParam, toTargetValue, type PlannedOperation, type SqlMode, type UserWriteKind } from './mode.js';

/** A fixed SQL expression written by this module (never a value from outside). */
interface Raw {
  raw: string;
}
type Assignment = [column: string, value: SqlParam | Raw];

function isRaw(v: SqlParam | Raw): v is Raw {
  return typeof v === 'object' && v !== null;
}

/** Where a key comes from: the database (an auto id) or one of the user's own values. */
type KeySource = 'generated' | 'userName' | 'scimId' | 'externalId' | 'displayName';

/** Builds one statement; `p(value)` appends a parameter and returns its placeholder. */
function statement(dialect: Dialect, build: (p: (v: SqlParam) => string) => string): SqlStatement {
  const params: SqlParam[] = [];
  const sql = build((v) => {
    params.push(v);
    return dialect === 'postgres' ? `$${params.length}` : '?';
  });
  return { sql, params };
}

/** Members compared in chunks, so one IN list stays well under every driver's parameter limit. */
const CHUNK = 200;

export class TableMode implements SqlMode {
  private readonly users: TableModeConfig['users'];
  private readonly activeColumn: string | undefined;
  private readonly special: Set<string>;
  private readonly userKeySource: KeySource;
  private readonly groupKeySource: KeySource;
  private readonly warned = new Set<string>();

  constructor(
    private readonly cfg: TableModeConfig,
    private readonly dialect: Dialect,
    private readonly warn: (message: string) => void,
  ) {
    const u = cfg.users;
    this.users = u;
    this.activeColumn = u.deactivatedAtColumn ? undefined : (u.activeColumn ?? 'active');
    this.special = new Set([u.keyColumn, u.userNameColumn, u.externalIdColumn, u.scimIdColumn, this.activeColumn, u.deactivatedAtColumn].filter((c): c is string => !!c));
    this.userKeySource =
      u.keyColumn === u.userNameColumn ? 'userName' : u.keyColumn === u.scimIdColumn ? 'scimId' : u.keyColumn === u.externalIdColumn ? 'externalId' : 'generated';
    const g = cfg.groups;
    this.groupKeySource = !g ? 'generated' : g.keyColumn === g.displayNameColumn ? 'displayName' : g.keyColumn === g.scimIdColumn ? 'scimId' : 'generated';
  }

  get groupsConfigured(): boolean {
    return this.cfg.groups !== undefined;
  }

  get membershipConfigured(): boolean {
    return this.cfg.memberships !== undefined;
  }

  private q(name: string): string {
    return quoteIdentifier(this.dialect, name);
  }

  private get forUpdate(): string {
    // SQLite has no row locks: BEGIN IMMEDIATE already holds the database's write lock.
    return this.dialect === 'sqlite' ? '' : ' FOR UPDATE';
  }

  private get returning(): boolean {
    return this.dialect !== 'mysql';
  }

  /** `column = value` for userName: MySQL's _ci collations already ignore case (and keep the index usable). */
  private userNameMatch(column: string, p: (v: SqlParam) => string, userName: string): string {
    return foldsCase(this.dialect) ? `${this.q(column)} = ${p(userName)}` : `lower(${this.q(column)}) = lower(${p(userName)})`;
  }

  // ---- users ----------------------------------------------------------------------------------

  private attributeAssignments(user: TargetUser): Assignment[] {
    if (this.users.columns) return this.users.columns.map((c) => [c, toParam(user.attributes[c])]);
    const out: Assignment[] = [];
    for (const [name, value] of Object.entries(user.attributes)) {
      if (this.special.has(name)) {
        if (!this.warned.has(name)) {
          this.warned.add(name);
          this.warn(`target attribute "${name}" is also the table's key, userName, externalId, scimId or active column: it is not written as an attribute; rename it in the connector's mapping`);
        }
        continue;
      }
      const problem = identifierProblem(name);
      if (problem) {
        throw new PermanentError(`target attribute ${problem}; in table mode every target attribute is a column: rename it in the connector's mapping, or list the columns in table.users.columns`, {
          code: 'sql_bad_attribute',
        });
      }
      out.push([name, toParam(value)]);
    }
    return out;
  }

  private userAssignments(user: TargetUser, forInsert: boolean): Assignment[] {
    const u = this.users;
    const out: Assignment[] = [[u.userNameColumn, user.userName]];
    if (u.externalIdColumn && u.externalIdColumn !== u.userNameColumn) out.push([u.externalIdColumn, user.externalId ?? null]);
    if (u.scimIdColumn) out.push([u.scimIdColumn, user.scimId]);
    if (this.activeColumn) out.push([this.activeColumn, (user.active ? u.activeValue : u.inactiveValue) as SqlParam]);
    if (u.deactivatedAtColumn) {
      const d = this.q(u.deactivatedAtColumn);
      // Deactivating twice keeps the first date.
      out.push([u.deactivatedAtColumn, user.active ? null : { raw: forInsert ? 'CURRENT_TIMESTAMP' : `COALESCE(${d}, CURRENT_TIMESTAMP)` }]);
    }
    return [...out, ...this.attributeAssignments(user)];
  }

  private userKeyFrom(user: TargetUser): string | undefined {
    switch (this.userKeySource) {
      case 'userName':
        return user.userName;
      case 'scimId':
        return user.scimId;
      case 'externalId':
        return user.externalId;
      default:
        return undefined;
    }
  }

  /** The row a create should reuse: same userName, or (with a scimId column) the same SCIM id. */
  lookupForCreate(user: TargetUser): SqlStatement {
    const u = this.users;
    const cols = [u.keyColumn, u.scimIdColumn].filter((c): c is string => !!c).map((c) => this.q(c));
    return statement(this.dialect, (p) => {
      let where = this.userNameMatch(u.userNameColumn, p, user.userName);
      if (u.scimIdColumn) where += ` OR ${this.q(u.scimIdColumn)} = ${p(user.scimId)}`;
      return `SELECT ${[...new Set(cols)].join(', ')} FROM ${this.q(u.table)} WHERE ${where}${this.forUpdate}`;
    });
  }

  insertUser(user: TargetUser): SqlStatement {
    const a = this.userAssignments(user, true);
    return statement(this.dialect, (p) => {
      const values = a.map(([, v]) => (isRaw(v) ? v.raw : p(v)));
      const ret = this.returning ? ` RETURNING ${this.q(this.users.keyColumn)}` : '';
      return `INSERT INTO ${this.q(this.users.table)} (${a.map(([c]) => this.q(c)).join(', ')}) VALUES (${values.join(', ')})${ret}`;
    });
  }

  lockUser(key: TargetKey): SqlStatement {
    const k = this.q(this.users.keyColumn);
    return statement(this.dialect, (p) => `SELECT ${k} FROM ${this.q(this.users.table)} WHERE ${k} = ${p(key)}${this.forUpdate}`);
  }

  updateUserRow(key: TargetKey, user: TargetUser): SqlStatement {
    const a = this.userAssignments(user, false);
    return statement(this.dialect, (p) => {
      const set = a.map(([c, v]) => `${this.q(c)} = ${isRaw(v) ? v.raw : p(v)}`).join(', ');
      return `UPDATE ${this.q(this.users.table)} SET ${set} WHERE ${this.q(this.users.keyColumn)} = ${p(key)}`;
    });
  }

  private keyByUserName(user: TargetUser): SqlStatement {
    const u = this.users;
    return statement(this.dialect, (p) => `SELECT ${this.q(u.keyColumn)} FROM ${this.q(u.table)} WHERE ${this.q(u.userNameColumn)} = ${p(user.userName)}`);
  }

  private membershipUpdate(column: 'groupColumn' | 'memberColumn', from: TargetKey, to: TargetKey): SqlStatement | undefined {
    const m = this.cfg.memberships;
    if (!m) return undefined;
    return statement(this.dialect, (p) => `UPDATE ${this.q(m.table)} SET ${this.q(m[column])} = ${p(to)} WHERE ${this.q(m[column])} = ${p(from)}`);
  }

  private membershipDelete(column: 'groupColumn' | 'memberColumn', key: TargetKey): SqlStatement | undefined {
    const m = this.cfg.memberships;
    if (!m) return undefined;
    return statement(this.dialect, (p) => `DELETE FROM ${this.q(m.table)} WHERE ${this.q(m[column])} = ${p(key)}`);
  }

  deleteUserRow(key: TargetKey): SqlStatement {
    return statement(this.dialect, (p) => `DELETE FROM ${this.q(this.users.table)} WHERE ${this.q(this.users.keyColumn)} = ${p(key)}`);
  }

  /** Columns read back by listUsers/findUser: the managed ones, or all when no column list is configured. */
  private selectList(): string {
    const u = this.users;
    if (!u.columns) return '*';
    const cols = [u.keyColumn, u.userNameColumn, u.externalIdColumn, u.scimIdColumn, this.activeColumn, u.deactivatedAtColumn, ...u.columns];
    return [...new Set(cols.filter((c): c is string => !!c))].map((c) => this.q(c)).join(', ');
  }

  /** One page of users, in key order, after `after` (keyset paging: no OFFSET scan). */
  pageOfUsers(after: SqlParam | undefined, pageSize: number): SqlStatement {
    const u = this.users;
    const k = this.q(u.keyColumn);
    const limit = Math.max(1, Math.trunc(pageSize)); // a validated integer, not outside input
    return statement(this.dialect, (p) => {
      const where = after === undefined ? '' : ` WHERE ${k} > ${p(after)}`;
      return `SELECT ${this.selectList()} FROM ${this.q(u.table)}${where} ORDER BY ${k} LIMIT ${limit}`;
    });
  }

  findStatement(query: UserQuery): SqlStatement | undefined {
    const u = this.users;
    if ('externalId' in query && !u.externalIdColumn) return undefined;
    return statement(this.dialect, (p) => {
      const where = 'userName' in query ? this.userNameMatch(u.userNameColumn, p, query.userName) : `${this.q(u.externalIdColumn!)} = ${p(query.externalId)}`;
      return `SELECT ${this.selectList()} FROM ${this.q(u.table)} WHERE ${where} ORDER BY ${this.q(u.keyColumn)} LIMIT 1`;
    });
  }

  private entry(row: Record<string, unknown>): TargetEntry {
    const u = this.users;
    const attributes: Record<string, TargetValue> = {};
    if (u.columns) {
      for (const c of u.columns) attributes[c] = toTargetValue(pick(row, c));
    } else {
      const special = new Set([...this.special].map((c) => c.toLowerCase()));
      for (const [k, v] of Object.entries(row)) if (!special.has(k.toLowerCase())) attributes[k] = toTargetValue(v);
    }
    const active = this.activeColumn ? !looseEqual(pick(row, this.activeColumn), u.inactiveValue) : pick(row, u.deactivatedAtColumn!) == null;
    const user: Partial<TargetUser> = { userName: String(pick(row, u.userNameColumn) ?? ''), active, attributes };
    const externalId = u.externalIdColumn ? pick(row, u.externalIdColumn) : undefined;
    if (externalId != null) user.externalId = String(externalId);
    const scimId = u.scimIdColumn ? pick(row, u.scimIdColumn) : undefined;
    if (scimId != null) user.scimId = String(scimId);
    return { key: String(pick(row, u.keyColumn)), user };
  }

  /** Runs `attempt`; on a unique violation (another writer got there first) runs it once more, when its lookup will see the row. */
  private async raceSafe<T>(attempt: () => Promise<T>): Promise<T> {
    try {
      return await attempt();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      return attempt();
    }
  }

  private async updateIn(s: SqlSession, db: SqlDriver, key: TargetKey, user: TargetUser): Promise<TargetKey> {
    if ((await s.run(this.lockUser(key))).rows.length === 0) {
      throw new NotFoundError(`${db.label}: no row in ${this.users.table} with ${this.users.keyColumn} = ${key}`);
    }
    await s.run(this.updateUserRow(key, user));
    const next = this.userKeyFrom(user) ?? key;
    const move = next !== key ? this.membershipUpdate('memberColumn', key, next) : undefined;
    if (move) await s.run(move);
    return next;
  }

  async createUser(db: SqlDriver, user: TargetUser): Promise<KeyResult> {
    const u = this.users;
    return this.raceSafe(() =>
      db.transaction(async (s) => {
        const rows = (await s.run(this.lookupForCreate(user))).rows;
        const mine = u.scimIdColumn ? rows.find((r) => String(pick(r, u.scimIdColumn!)) === user.scimId) : undefined;
        const row = mine ?? rows[0];
        if (row) {
          const owner = u.scimIdColumn ? pick(row, u.scimIdColumn) : null;
          if (owner != null && String(owner) !== user.scimId) {
            throw new ConflictError(
              `${db.label}: ${u.table}.${u.userNameColumn} "${user.userName}" already belongs to another user (${u.scimIdColumn} ${String(owner)}): resolve the duplicate userName in the identity provider or the table`,
            );
          }
          // Create of an existing user = update (a retried create, or a row made before the gateway).
          return { key: await this.updateIn(s, db, String(pick(row, u.keyColumn)), user) };
        }
        const inserted = await s.run(this.insertUser(user));
        let key: unknown = inserted.rows[0] ? pick(inserted.rows[0], u.keyColumn) : undefined;
        key ??= this.userKeyFrom(user) ?? inserted.insertId;
        if (key == null) key = (await s.run(this.keyByUserName(user))).rows.map((r) => pick(r, u.keyColumn))[0];
        if (key == null) throw new PermanentError(`${db.label}: the new row's ${u.keyColumn} could not be read back: make it an auto-increment/identity column or the userName column`, { code: 'sql_no_key' });
        return { key: String(key) };
      }),
    );
  }

  async writeUser(db: SqlDriver, _kind: UserWriteKind, key: TargetKey, user: TargetUser): Promise<KeyResult> {
    return db.transaction(async (s) => ({ key: await this.updateIn(s, db, key, user) }));
  }

  async deleteUser(db: SqlDriver, key: TargetKey): Promise<void> {
    await db.transaction(async (s) => {
      const memberships = this.membershipDelete('memberColumn', key);
      if (memberships) await s.run(memberships);
      if ((await s.run(this.deleteUserRow(key))).affected === 0) {
        throw new NotFoundError(`${db.label}: no row in ${this.users.table} with ${this.users.keyColumn} = ${key}`);
      }
    });
  }

  // ---- groups ---------------------------------------------------------------------------------

  private get groups(): NonNullable<TableModeConfig['groups']> {
    if (!this.cfg.groups) throw new Error('groups are not configured');
    return this.cfg.groups;
  }

  private groupKeyFrom(group: TargetGroup): string | undefined {
    return this.groupKeySource === 'displayName' ? group.displayName : this.groupKeySource === 'scimId' ? group.scimId : undefined;
  }

  lockGroup(key: TargetKey): SqlStatement {
    const g = this.groups;
    return statement(this.dialect, (p) => `SELECT ${this.q(g.keyColumn)} FROM ${this.q(g.table)} WHERE ${this.q(g.keyColumn)} = ${p(key)}${this.forUpdate}`);
  }

  lookupGroup(group: TargetGroup): SqlStatement {
    const g = this.groups;
    const [col, value] = g.scimIdColumn ? [g.scimIdColumn, group.scimId] : [g.displayNameColumn, group.displayName];
    return statement(this.dialect, (p) => `SELECT ${this.q(g.keyColumn)} FROM ${this.q(g.table)} WHERE ${this.q(col)} = ${p(value)}${this.forUpdate}`);
  }

  private groupAssignments(group: TargetGroup): Assignment[] {
    const g = this.groups;
    const out: Assignment[] = [[g.displayNameColumn, group.displayName]];
    if (g.scimIdColumn && g.scimIdColumn !== g.displayNameColumn) out.push([g.scimIdColumn, group.scimId]);
    return out;
  }

  insertGroup(group: TargetGroup): SqlStatement {
    const g = this.groups;
    const a = this.groupAssignments(group);
    return statement(this.dialect, (p) => {
      const ret = this.returning ? ` RETURNING ${this.q(g.keyColumn)}` : '';
      return `INSERT INTO ${this.q(g.table)} (${a.map(([c]) => this.q(c)).join(', ')}) VALUES (${a.map(([, v]) => p(v as SqlParam)).join(', ')})${ret}`;
    });
  }

  updateGroupRow(key: TargetKey, group: TargetGroup): SqlStatement {
    const g = this.groups;
    const a = this.groupAssignments(group);
    return statement(this.dialect, (p) => `UPDATE ${this.q(g.table)} SET ${a.map(([c, v]) => `${this.q(c)} = ${p(v as SqlParam)}`).join(', ')} WHERE ${this.q(g.keyColumn)} = ${p(key)}`);
  }

  deleteGroupRow(key: TargetKey): SqlStatement {
    const g = this.groups;
    return statement(this.dialect, (p) => `DELETE FROM ${this.q(g.table)} WHERE ${this.q(g.keyColumn)} = ${p(key)}`);
  }

  async upsertGroup(db: SqlDriver, group: TargetGroup, key: TargetKey | undefined): Promise<KeyResult> {
    const g = this.groups;
    return this.raceSafe(() =>
      db.transaction(async (s) => {
        let existing: string | undefined;
        if (key !== undefined && (await s.run(this.lockGroup(key))).rows.length > 0) existing = key;
        if (existing === undefined) {
          const row = (await s.run(this.lookupGroup(group))).rows[0];
          if (row) existing = String(pick(row, g.keyColumn));
        }
        if (existing !== undefined) {
          await s.run(this.updateGroupRow(existing, group));
          const next = this.groupKeyFrom(group) ?? existing;
          const move = next !== existing ? this.membershipUpdate('groupColumn', existing, next) : undefined;
          if (move) await s.run(move);
          return { key: next };
        }
        const inserted = await s.run(this.insertGroup(group));
        let newKey: unknown = inserted.rows[0] ? pick(inserted.rows[0], g.keyColumn) : undefined;
        newKey ??= this.groupKeyFrom(group) ?? inserted.insertId;
        if (newKey == null) {
          const again = (await s.run(this.lookupGroup(group))).rows[0];
          newKey = again ? pick(again, g.keyColumn) : undefined;
        }
        if (newKey == null) throw new PermanentError(`${db.label}: the new group's ${g.keyColumn} could not be read back: make it an auto-increment/identity column`, { code: 'sql_no_key' });
        return { key: String(newKey) };
      }),
    );
  }

  async deleteGroup(db: SqlDriver, key: TargetKey): Promise<void> {
    const g = this.groups;
    await db.transaction(async (s) => {
      const memberships = this.membershipDelete('groupColumn', key);
      if (memberships) await s.run(memberships);
      if ((await s.run(this.deleteGroupRow(key))).affected === 0) throw new NotFoundError(`${db.label}: no row in ${g.table} with ${g.keyColumn} = ${key}`);
    });
  }

  presentMembers(groupKey: TargetKey, memberKeys: TargetKey[]): SqlStatement {
    const m = this.cfg.memberships!;
    return statement(
      this.dialect,
      (p) =>
        `SELECT ${this.q(m.memberColumn)} FROM ${this.q(m.table)} WHERE ${this.q(m.groupColumn)} = ${p(groupKey)} AND ${this.q(m.memberColumn)} IN (${memberKeys.map((k) => p(k)).join(', ')})`,
    );
  }

  insertMember(groupKey: TargetKey, memberKey: TargetKey): SqlStatement {
    const m = this.cfg.memberships!;
    return statement(this.dialect, (p) => `INSERT INTO ${this.q(m.table)} (${this.q(m.groupColumn)}, ${this.q(m.memberColumn)}) VALUES (${p(groupKey)}, ${p(memberKey)})`);
  }

  deleteMembers(groupKey: TargetKey, memberKeys: TargetKey[]): SqlStatement {
    const m = this.cfg.memberships!;
    return statement(
      this.dialect,
      (p) => `DELETE FROM ${this.q(m.table)} WHERE ${this.q(m.groupColumn)} = ${p(groupKey)} AND ${this.q(m.memberColumn)} IN (${memberKeys.map((k) => p(k)).join(', ')})`,
    );
  }

  private norm(key: unknown): string {
    const s = String(key);
    return foldsCase(this.dialect) ? s.toLowerCase() : s;
  }

  async addMembers(db: SqlDriver, groupKey: TargetKey, memberKeys: TargetKey[]): Promise<void> {
    const m = this.cfg.memberships!;
    const wanted = [...new Set(memberKeys)];
    await this.raceSafe(() =>
      db.transaction(async (s) => {
        // Locking the group row serialises membership changes of one group across gateways.
        if ((await s.run(this.lockGroup(groupKey))).rows.length === 0) {
          throw new NotFoundError(`${db.label}: no row in ${this.groups.table} with ${this.groups.keyColumn} = ${groupKey}`);
        }
        for (let i = 0; i < wanted.length; i += CHUNK) {
          const chunk = wanted.slice(i, i + CHUNK);
          const present = new Set((await s.run(this.presentMembers(groupKey, chunk))).rows.map((r) => this.norm(pick(r, m.memberColumn))));
          for (const member of chunk) if (!present.has(this.norm(member))) await s.run(this.insertMember(groupKey, member));
        }
      }),
    );
  }

  async removeMembers(db: SqlDriver, groupKey: TargetKey, memberKeys: TargetKey[]): Promise<void> {
    const wanted = [...new Set(memberKeys)];
    if (wanted.length === 0) return;
    await db.transaction(async (s) => {
      for (let i = 0; i < wanted.length; i += CHUNK) await s.run(this.deleteMembers(groupKey, wanted.slice(i, i + CHUNK)));
    });
  }

  // ---- reads ----------------------------------------------------------------------------------

  async *listUsers(db: SqlDriver, pageSize: number): AsyncIterable<TargetEntry> {
    let after: SqlParam | undefined;
    for (;;) {
      const { rows } = await db.query(this.pageOfUsers(after, pageSize));
      for (const row of rows) yield this.entry(row);
      if (rows.length < pageSize) return;
      after = pick(rows[rows.length - 1], this.users.keyColumn) as SqlParam;
    }
  }

  async findUser(db: SqlDriver, query: UserQuery): Promise<TargetEntry | undefined> {
    const st = this.findStatement(query);
    if (!st) return undefined; // no externalId column: this table cannot know the IdP's id
    const row = (await db.query(st)).rows[0];
    return row ? this.entry(row) : undefined;
  }

  // ---- preview and test -------------------------------------------------------------------------

  preview(op: PlannedOperation): PreviewRequest[] {
    const r = (description: string, st: SqlStatement | undefined): PreviewRequest[] => (st ? [{ description, detail: { sql: st.sql, params: st.params } }] : []);
    const existing = '<key of the matching row>';
    switch (op.kind) {
      case 'createUser': {
        return [
          ...r('look for a row with the same userName (or SCIM id)', this.lookupForCreate(op.user)),
          ...r('if there is none: insert the user', this.insertUser(op.user)),
          ...r('if there is one: update it instead (create of an existing user = update)', this.updateUserRow(existing, op.user)),
          ...(this.userKeyFrom(op.user) === undefined && this.dialect === 'mysql' ? r('if no auto-increment id came back: read the key', this.keyByUserName(op.user)) : []),
        ];
      }
      case 'updateUser':
      case 'deactivateUser':
      case 'reactivateUser': {
        const next = this.userKeyFrom(op.user) ?? op.key;
        return [
          ...r('lock the row (missing = not found)', this.lockUser(op.key)),
          ...r(`${op.kind === 'updateUser' ? 'update' : op.kind === 'deactivateUser' ? 'deactivate' : 'reactivate'} the user`, this.updateUserRow(op.key, op.user)),
          ...(next !== op.key ? r('follow the key change in the memberships', this.membershipUpdate('memberColumn', op.key, next)) : []),
        ];
      }
      case 'deleteUser':
        return [...r('remove the user from its groups', this.membershipDelete('memberColumn', op.key)), ...r('delete the user', this.deleteUserRow(op.key))];
      case 'upsertGroup':
        if (!this.groupsConfigured) return [];
        return [
          ...(op.key ? r('lock the group row', this.lockGroup(op.key)) : []),
          ...r('look for the group', this.lookupGroup(op.group)),
          ...r('if found: update it', this.updateGroupRow(op.key ?? existing, op.group)),
          ...r('if not: insert it', this.insertGroup(op.group)),
        ];
      case 'deleteGroup':
        if (!this.groupsConfigured) return [];
        return [...r('remove its memberships', this.membershipDelete('groupColumn', op.key)), ...r('delete the group', this.deleteGroupRow(op.key))];
      case 'addMembers':
        if (!this.membershipConfigured || op.memberKeys.length === 0) return [];
        return [
          ...r('lock the group row (missing = not found)', this.lockGroup(op.key)),
          ...r('read which members are already present', this.presentMembers(op.key, op.memberKeys)),
          ...op.memberKeys.flatMap((k) => r('if absent: add the member', this.insertMember(op.key, k))),
        ];
      case 'removeMembers':
        if (!this.membershipConfigured || op.memberKeys.length === 0) return [];
        return r('remove the members (absent ones are ignored)', this.deleteMembers(op.key, op.memberKeys));
    }
  }

  async check(db: SqlDriver): Promise<string[]> {
    const u = this.users;
    const wanted: Array<[table: string, columns: string[]]> = [
      [u.table, [u.keyColumn, u.userNameColumn, u.externalIdColumn, u.scimIdColumn, this.activeColumn, u.deactivatedAtColumn, ...(u.columns ?? [])].filter((c): c is string => !!c)],
    ];
    if (this.cfg.groups) {
      const g = this.cfg.groups;
      wanted.push([g.table, [g.keyColumn, g.displayNameColumn, g.scimIdColumn].filter((c): c is string => !!c)]);
    }
    if (this.cfg.memberships) wanted.push([this.cfg.memberships.table, [this.cfg.memberships.groupColumn, this.cfg.memberships.memberColumn]]);
    const problems: string[] = [];
    for (const [table, columns] of wanted) {
      let present: string[];
      try {
        present = await db.columnsOf(this.q(table));
      } catch (err) {
        if (!isUnknownTable(err)) throw err;
        problems.push(`table "${table}" does not exist`);
        continue;
      }
      const has = new Set(present.map((c) => (this.dialect === 'postgres' ? c : c.toLowerCase())));
      for (const c of new Set(columns)) if (!has.has(this.dialect === 'postgres' ? c : c.toLowerCase())) problems.push(`table "${table}" has no column "${c}"`);
    }
    return problems;
  }

  describe(): string {
    const parts = [`users in "${this.users.table}"`];
    if (this.cfg.groups) parts.push(`groups in "${this.cfg.groups.table}"`);
    if (this.cfg.memberships) parts.push(`members in "${this.cfg.memberships.table}"`);
    return `tables found with the configured columns (${parts.join(', ')})`;
  }
}
