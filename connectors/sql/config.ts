/**
 * The sql connector's configuration: which database (dialect + connection), and either table mode
 * (a users table, optionally groups and memberships, described by table and column names) or
 * templated statements per operation. Everything an admin can get wrong is refused here, at
 * start-up, with the key named: a bad identifier, a misspelled placeholder, a missing setting.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { normalizeEndpoint, secret, type TargetIdentity } from '../sdk/index.js';
import { identifierProblem, tableNameProblem } from './identifiers.js';
import { compileStatement, TemplateError } from './placeholders.js';
import type { Dialect } from './drivers.js';

const identifier = z.string().superRefine((name, ctx) => {
  const problem = identifierProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const tableName = z.string().superRefine((name, ctx) => {
  const problem = tableNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const scalar = z.union([z.boolean(), z.number(), z.string()]);

const sslSchema = z
  .object({
    /** PEM file of the CA that signed the server's certificate; default: the system's CAs. */
    caFile: z.string().min(1).optional(),
    /** Refuse a certificate that does not verify; turn off only to diagnose. */
    rejectUnauthorized: z.boolean().default(true),
    /** Name to verify the certificate against when it differs from `host` (PostgreSQL). */
    serverName: z.string().min(1).optional(),
  })
  .strict();

const connectionSchema = z
  .object({
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    database: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    /** Kept in the OS keychain (or `{"$env": "NAME"}` in the config file); optional for trust/peer setups. */
    password: secret(z.string().min(1), { optional: true }),
    /** TLS to the server; absent = plain TCP. */
    ssl: sslSchema.optional(),
    /** SQLite: the database file (must exist). */
    file: z.string().min(1).optional(),
    /** SQLite: how long to wait for another process's lock (the gateway waits meanwhile); then retried later. */
    busyTimeoutMs: z.number().int().min(0).max(10_000).default(250),
  })
  .strict();

const usersTableSchema = z
  .object({
    table: tableName.default('users'),
    /** The column whose value is the target key: an auto id, or the same column as userName/scimId. */
    keyColumn: identifier.default('id'),
    userNameColumn: identifier.default('user_name'),
    externalIdColumn: identifier.optional(),
    /** The gateway's SCIM id: tells this gateway's rows from others on a userName clash. */
    scimIdColumn: identifier.optional(),
    /** A column holding `activeValue` / `inactiveValue`; the default when no deactivatedAtColumn is set is `active`. */
    activeColumn: identifier.optional(),
    activeValue: scalar.default(true),
    inactiveValue: scalar.default(false),
    /** Instead of activeColumn: NULL while active, the time of deactivation otherwise. */
    deactivatedAtColumn: identifier.optional(),
    /**
     * The attribute columns this connector manages (target attribute = column name). With it, an
     * attribute the user lacks is written as NULL and other attributes are ignored; without it,
     * every mapped attribute is written to the column of the same name.
     */
    columns: z.array(identifier).optional(),
  })
  .strict()
  .superRefine((u, ctx) => {
    if (u.activeColumn && u.deactivatedAtColumn) {
      ctx.addIssue({ code: 'custom', path: ['deactivatedAtColumn'], message: 'give activeColumn or deactivatedAtColumn, not both' });
    }
    const special = new Set([u.keyColumn, u.userNameColumn, u.externalIdColumn, u.scimIdColumn, u.activeColumn ?? (u.deactivatedAtColumn ? undefined : 'active'), u.deactivatedAtColumn]);
    for (const [i, c] of (u.columns ?? []).entries()) {
      if (special.has(c)) ctx.addIssue({ code: 'custom', path: ['columns', i], message: `"${c}" is already the key, userName, externalId, scimId or active column` });
    }
  });

const groupsTableSchema = z
  .object({
    table: tableName.default('groups'),
    keyColumn: identifier.default('id'),
    displayNameColumn: identifier.default('display_name'),
    scimIdColumn: identifier.optional(),
  })
  .strict();

const membershipsTableSchema = z
  .object({
    table: tableName.default('group_members'),
    /** Holds the group's key. */
    groupColumn: identifier.default('group_id'),
    /** Holds the user's key. */
    memberColumn: identifier.default('user_id'),
  })
  .strict();

const tableModeSchema = z
  .object({
    users: usersTableSchema.default(usersTableSchema.parse({})),
    groups: groupsTableSchema.optional(),
    memberships: membershipsTableSchema.optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.memberships && !t.groups) ctx.addIssue({ code: 'custom', path: ['memberships'], message: 'memberships need a groups table: add table.groups' });
  });

/** One statement, or several run in order in the same transaction. */
const statementSchema = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const statementsSchema = z
  .object({
    createUser: statementSchema,
    updateUser: statementSchema,
    /** Default: updateUser with :active bound to false. */
    deactivateUser: statementSchema.optional(),
    /** Default: updateUser with :active bound to true. */
    reactivateUser: statementSchema.optional(),
    deleteUser: statementSchema,
    findUser: statementSchema,
    listUsers: statementSchema,
    upsertGroup: statementSchema.optional(),
    deleteGroup: statementSchema.optional(),
    addMember: statementSchema.optional(),
    removeMember: statementSchema.optional(),
  })
  .strict();

/** Statement name -> the placeholders it may use (`attr.*` = any `attr.<name>`). */
export const STATEMENT_PLACEHOLDERS = {
  createUser: ['userName', 'externalId', 'scimId', 'active', 'attr.*'],
  updateUser: ['key', 'userName', 'externalId', 'scimId', 'active', 'attr.*'],
  deactivateUser: ['key', 'userName', 'externalId', 'scimId', 'active', 'attr.*'],
  reactivateUser: ['key', 'userName', 'externalId', 'scimId', 'active', 'attr.*'],
  deleteUser: ['key'],
  findUser: ['userName', 'externalId'],
  listUsers: ['limit', 'offset', 'afterKey'],
  upsertGroup: ['key', 'displayName', 'scimId', 'attr.*'],
  deleteGroup: ['key'],
  addMember: ['key', 'groupKey', 'memberKey'],
  removeMember: ['key', 'groupKey', 'memberKey'],
} as const satisfies Record<keyof z.infer<typeof statementsSchema>, readonly string[]>;

/** The sql connector's configuration schema. */
export const sqlConfigSchema = z
  .object({
    /** `postgres`, `mysql` (also MariaDB; `mariadb` is accepted as a synonym) or `sqlite`. */
    dialect: z.enum(['postgres', 'mysql', 'mariadb', 'sqlite']),
    connection: connectionSchema,
    /** Connections kept open (PostgreSQL, MySQL). */
    poolSize: z.number().int().min(1).max(100).default(4),
    /** A statement running longer is cancelled and the operation retried later. */
    statementTimeoutMs: z.number().int().min(100).max(600_000).default(15_000),
    connectTimeoutMs: z.number().int().min(100).max(120_000).default(5_000),
    /** Rows per page when listing users for reconciliation. */
    pageSize: z.number().int().min(1).max(10_000).default(500),
    /** Table mode: describe the tables, the connector writes the SQL. */
    table: tableModeSchema.optional(),
    /** Templated mode: your own statements per operation, with named placeholders. */
    statements: statementsSchema.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const dialect = normalizeDialect(c.dialect);
    const conn = c.connection;
    if (dialect === 'sqlite') {
      if (!conn.file) ctx.addIssue({ code: 'custom', path: ['connection', 'file'], message: 'SQLite needs connection.file (the database file)' });
      for (const k of ['host', 'port', 'database', 'user', 'ssl'] as const) {
        if (conn[k] !== undefined) ctx.addIssue({ code: 'custom', path: ['connection', k], message: `not used by SQLite (it reads connection.file)` });
      }
    } else {
      for (const k of ['host', 'database', 'user'] as const) {
        if (!conn[k]) ctx.addIssue({ code: 'custom', path: ['connection', k], message: `${c.dialect} needs connection.${k}` });
      }
      if (conn.file !== undefined) ctx.addIssue({ code: 'custom', path: ['connection', 'file'], message: `connection.file is for SQLite only` });
    }
    if (!c.table === !c.statements) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give either "table" (table mode) or "statements" (templated mode), not both or neither' });
    }
    if (c.statements) checkStatements(c.statements, dialect, ctx);
  });

/** The parsed configuration (`connection.password` is never here: read it from the secrets). */
export type SqlConfig = z.infer<typeof sqlConfigSchema>;
export type StatementsConfig = z.infer<typeof statementsSchema>;
export type StatementName = keyof StatementsConfig;
export type TableModeConfig = z.infer<typeof tableModeSchema>;

/** `mariadb` is `mysql` for the driver. */
export function normalizeDialect(d: SqlConfig['dialect']): Dialect {
  return d === 'mariadb' ? 'mysql' : d;
}

/**
 * Where an instance points: the server and database (`postgres://db.example.org:5432/hr`), or the
 * SQLite file. The password is typed again for another database too, not only another server.
 */
export function sqlTargetIdentity(c: SqlConfig): TargetIdentity {
  const dialect = normalizeDialect(c.dialect);
  if (dialect === 'sqlite') return { target: `sqlite://${resolve(c.connection.file ?? '')}` };
  const host = c.connection.host ?? '';
  const server = normalizeEndpoint(`${dialect}://${host.includes(':') ? `[${host}]` : host}`, c.connection.port);
  return { target: `${server}/${c.connection.database ?? ''}` };
}

/** A statement config as a list. */
export function statementList(s: string | string[]): string[] {
  return typeof s === 'string' ? [s] : s;
}

function checkStatements(statements: StatementsConfig, dialect: Dialect, ctx: z.RefinementCtx): void {
  for (const [name, value] of Object.entries(statements) as [StatementName, string | string[] | undefined][]) {
    if (value === undefined) continue;
    const allowed: readonly string[] = STATEMENT_PLACEHOLDERS[name];
    const used = new Set<string>();
    for (const [i, template] of statementList(value).entries()) {
      const path = typeof value === 'string' ? ['statements', name] : ['statements', name, i];
      try {
        for (const p of compileStatement(template, dialect).names) {
          used.add(p);
          const ok = allowed.includes(p) || (p.startsWith('attr.') && allowed.includes('attr.*'));
          if (!ok) {
            ctx.addIssue({ code: 'custom', path, message: `unknown placeholder :${p} (${name} may use ${allowed.map((a) => `:${a}`).join(', ')})` });
          }
        }
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        ctx.addIssue({ code: 'custom', path, message: err.message });
      }
    }
    if (name === 'listUsers' && !(used.has('limit') && (used.has('offset') || used.has('afterKey')))) {
      ctx.addIssue({
        code: 'custom',
        path: ['statements', 'listUsers'],
        message: 'listUsers must page: use :limit with :offset (LIMIT :limit OFFSET :offset) or with :afterKey (WHERE id > :afterKey ORDER BY id LIMIT :limit)',
      });
    }
  }
  const group = ['upsertGroup', 'deleteGroup'] as const;
  const members = ['addMember', 'removeMember'] as const;
  if (group.some((g) => statements[g]) && !group.every((g) => statements[g])) {
    ctx.addIssue({ code: 'custom', path: ['statements'], message: 'groups need both upsertGroup and deleteGroup' });
  }
  if (members.some((m) => statements[m]) && !(members.every((m) => statements[m]) && statements.upsertGroup)) {
    ctx.addIssue({ code: 'custom', path: ['statements'], message: 'membership needs addMember, removeMember and the group statements' });
  }
}
