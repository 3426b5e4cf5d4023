/**
 * The `sql` connector: provisions users (and optionally groups and memberships) into a
 * PostgreSQL, MySQL/MariaDB or SQLite database, either by describing the tables (table mode) or
 * with the admin's own statements per operation (templated mode). Values always travel as
 * parameters; each operation is one transaction. Admin docs: README.md.
 */
import { readFile } from 'node:fs/promises';
import {
  defineConnector,
  PermanentError,
  type Connector,
  type ConnectorDefinition,
  type ConnectorLogger,
  type ConnectorManifest,
  type ConnectorOperation,
  type InitContext,
  type KeyResult,
  type Preview,
  type TargetEntry,
  type TargetGroup,
  type TargetKey,
  type TargetUser,
  type TestResult,
  type UserQuery,
} from '../sdk/index.js';
import { normalizeDialect, sqlConfigSchema, sqlTargetIdentity, type SqlConfig } from './config.js';
import { driverLabel, openDriver, type Dialect, type DriverSettings, type SqlDriver } from './drivers.js';
import { classifySqlError, type ErrorContext } from './errors.js';
import type { PlannedOperation, SqlMode, UserWriteKind } from './mode.js';
import { StatementMode } from './statement-mode.js';
import { TableMode } from './table-mode.js';

export { sqlConfigSchema, type SqlConfig } from './config.js';
export type { Dialect, DriverSettings, SqlDriver } from './drivers.js';

/** Clients the connector uses; tests or embedders may replace the driver factory. */
export interface SqlConnectorDeps {
  /** Opens a pool for the settings; default: pg, mysql2 or better-sqlite3, imported on first use. */
  openDriver?: (settings: DriverSettings) => Promise<SqlDriver>;
}

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

/** The sql manifest. Target attribute names are column names in table mode, hence snake_case defaults. */
export const sqlManifest: ConnectorManifest<SqlConfig> = {
  type: 'sql',
  displayName: 'SQL database (PostgreSQL, MySQL/MariaDB, SQLite)',
  version: '1.0.0',
  description:
    'Writes users, groups and memberships to database tables: describe the tables and columns, or write your own statements for each operation. Parameters only, one transaction per operation.',
  configSchema: sqlConfigSchema,
  capabilities: {
    create: true,
    update: true,
    deactivate: true,
    reactivate: true,
    delete: true,
    groups: true,
    membership: true,
    read: true,
    lookup: true,
    dryRun: true,
  },
  defaultMapping: {
    given_name: 'name.givenName',
    family_name: 'name.familyName',
    display_name: 'displayName',
    // The primary address, else the first one.
    email: 'emails.value',
    title: 'title',
    department: `${ENTERPRISE}:department`,
    employee_number: `${ENTERPRISE}:employeeNumber`,
  },  targetIdentity: sqlTargetIdentity,
};

/** Key returned for a group when no groups table or statements are configured. */
function unmanagedGroupKey(group: TargetGroup): TargetKey {
  return `unmanaged-group:${group.scimId}`;
}

class SqlConnector implements Connector<SqlConfig> {
  private config!: SqlConfig;
  private dialect!: Dialect;
  private password: string | undefined;
  private mode!: SqlMode;
  private logger!: ConnectorLogger;
  private driver: Promise<SqlDriver> | undefined;

  constructor(private readonly deps: SqlConnectorDeps) {}

  private get label(): string {
    const c = this.config.connection;
    return driverLabel({ dialect: this.dialect, host: c.host, port: c.port, database: c.database, user: c.user, file: c.file });
  }

  private get errorContext(): ErrorContext {
    const c = this.config.connection;
    const ctx: ErrorContext = { dialect: this.dialect, label: this.label };
    if (c.user) ctx.user = c.user;
    if (c.host) ctx.host = c.host;
    if (c.database) ctx.database = c.database;
    return ctx;
  }

  async init(ctx: InitContext<SqlConfig>): Promise<void> {
    // Offline: the pool is opened on first use, so a down database never stops the gateway.
    this.config = ctx.config;
    this.dialect = normalizeDialect(ctx.config.dialect);
    this.logger = ctx.logger;
    this.password = await ctx.secrets.get('connection.password');
    this.mode = ctx.config.table
      ? new TableMode(ctx.config.table, this.dialect, (m) => this.logger.warn(m))
      : new StatementMode(ctx.config.statements!, this.dialect);
  }

  private async settings(): Promise<DriverSettings> {
    const c = this.config.connection;
    const s: DriverSettings = {
      dialect: this.dialect,
      poolSize: this.config.poolSize,
      statementTimeoutMs: this.config.statementTimeoutMs,
      connectTimeoutMs: this.config.connectTimeoutMs,
      busyTimeoutMs: c.busyTimeoutMs,
      onIdleError: (err) => this.logger.warn(`idle connection to ${this.label} failed; it will be replaced: ${err.message}`),
    };
    if (c.host) s.host = c.host;
    if (c.port) s.port = c.port;
    if (c.database) s.database = c.database;
    if (c.user) s.user = c.user;
    if (c.file) s.file = c.file;
    if (this.password !== undefined) s.password = this.password;
    if (c.ssl) {
      let ca: string | undefined;
      if (c.ssl.caFile) {
        try {
          ca = await readFile(c.ssl.caFile, 'utf8');
        } catch (err) {
          throw new PermanentError(`${this.label}: cannot read connection.ssl.caFile ${c.ssl.caFile}: ${(err as Error).message}`, { code: 'sql_tls' });
        }
      }
      s.ssl = { rejectUnauthorized: c.ssl.rejectUnauthorized, ...(ca ? { ca } : {}), ...(c.ssl.serverName ? { servername: c.ssl.serverName } : {}) };
    }
    return s;
  }

  /** The pool, opened once; a failed open is forgotten so the next call tries again. */
  private db(): Promise<SqlDriver> {
    this.driver ??= this.settings()
      .then((s) => (this.deps.openDriver ?? openDriver)(s))
      .catch((err: unknown) => {
        this.driver = undefined;
        throw err;
      });
    return this.driver;
  }

  /** Every database call goes through here: one place maps driver errors to the SDK's. */
  private async call<T>(work: (db: SqlDriver) => Promise<T>): Promise<T> {
    try {
      return await work(await this.db());
    } catch (err) {
      throw classifySqlError(err, this.errorContext);
    }
  }

  async test(): Promise<TestResult> {
    const label = this.label;
    try {
      const db = await this.db();
      // SQLite's SELECT 1 never touches the file; reading the schema does (and meets a lock).
      await db.query({ sql: this.dialect === 'sqlite' ? 'SELECT count(*) FROM sqlite_master' : 'SELECT 1', params: [] });
      const problems = await this.mode.check(db);
      if (problems.length > 0) return { ok: false, message: `connected to ${label}; ${problems.join('; ')}` };
      return { ok: true, message: `connected to ${label}; ${this.mode.describe()}` };
    } catch (err) {
      const e = classifySqlError(err, this.errorContext);
      const reason = e.message.startsWith(`${label}: `) ? e.message.slice(label.length + 2) : e.message;
      return { ok: false, message: `cannot use ${label}: ${reason}`, details: { code: e.code, retryable: e.retryable } };
    }
  }

  async dispose(): Promise<void> {
    const driver = this.driver;
    this.driver = undefined;
    if (driver) await (await driver.catch(() => undefined))?.close();
  }

  createUser(user: TargetUser): Promise<KeyResult> {
    return this.call((db) => this.mode.createUser(db, user));
  }

  private write(kind: UserWriteKind, key: TargetKey, user: TargetUser): Promise<KeyResult> {
    return this.call((db) => this.mode.writeUser(db, kind, key, user));
  }

  updateUser(key: TargetKey, user: TargetUser): Promise<KeyResult> {
    return this.write('updateUser', key, user);
  }

  deactivateUser(key: TargetKey, user: TargetUser): Promise<KeyResult> {
    return this.write('deactivateUser', key, { ...user, active: false });
  }

  reactivateUser(key: TargetKey, user: TargetUser): Promise<KeyResult> {
    return this.write('reactivateUser', key, { ...user, active: true });
  }

  deleteUser(key: TargetKey): Promise<void> {
    return this.call((db) => this.mode.deleteUser(db, key));
  }

  // Without groups configured the target has no groups: group operations change nothing there,
  // rather than filling the dead-letter queue with operations no configuration can ever accept.
  upsertGroup(group: TargetGroup, key: TargetKey | undefined): Promise<KeyResult> {
    if (!this.mode.groupsConfigured) return Promise.resolve({ key: key ?? unmanagedGroupKey(group) });
    return this.call((db) => this.mode.upsertGroup(db, group, key));
  }

  async deleteGroup(key: TargetKey): Promise<void> {
    if (!this.mode.groupsConfigured) return;
    return this.call((db) => this.mode.deleteGroup(db, key));
  }

  async addMembers(groupKey: TargetKey, memberKeys: TargetKey[]): Promise<void> {
    if (!this.mode.membershipConfigured || memberKeys.length === 0) return;
    return this.call((db) => this.mode.addMembers(db, groupKey, memberKeys));
  }

  async removeMembers(groupKey: TargetKey, memberKeys: TargetKey[]): Promise<void> {
    if (!this.mode.membershipConfigured || memberKeys.length === 0) return;
    return this.call((db) => this.mode.removeMembers(db, groupKey, memberKeys));
  }

  async *listUsers(): AsyncIterable<TargetEntry> {
    // Page by page: a 100k-row table is never held in memory at once.
    let db: SqlDriver;
    try {
      db = await this.db();
    } catch (err) {
      throw classifySqlError(err, this.errorContext);
    }
    const pages = this.mode.listUsers(db, this.config.pageSize)[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<TargetEntry>;
      try {
        next = await pages.next();
      } catch (err) {
        throw classifySqlError(err, this.errorContext);
      }
      if (next.done) return;
      yield next.value;
    }
  }

  findUser(query: UserQuery): Promise<TargetEntry | undefined> {
    return this.call((db) => this.mode.findUser(db, query));
  }

  async preview(op: ConnectorOperation): Promise<Preview> {
    const planned = toPlanned(op);
    const requests = this.mode.preview(planned).map((r) => ({ ...r, description: `${this.label}: ${r.description}` }));
    if (requests.length === 0) {
      const what = op.kind === 'addMembers' || op.kind === 'removeMembers' ? 'memberships are' : 'groups are';
      return { summary: `${what} not configured for ${this.label}: nothing would be sent`, requests: [{ description: `${this.label}: no statement (${what} not configured)` }] };
    }
    return { summary: `${requests.length} statement(s) in one transaction on ${this.label}`, requests };
  }
}

function toPlanned(op: ConnectorOperation): PlannedOperation {
  switch (op.kind) {
    case 'createUser':
      return { kind: op.kind, user: op.user };
    case 'updateUser':
      return { kind: op.kind, key: op.key, user: op.user };
    case 'deactivateUser':
      return { kind: op.kind, key: op.key, user: { ...op.user, active: false } };
    case 'reactivateUser':
      return { kind: op.kind, key: op.key, user: { ...op.user, active: true } };
    case 'deleteUser':
    case 'deleteGroup':
      return { kind: op.kind, key: op.key };
    case 'upsertGroup':
      return op.key === undefined ? { kind: op.kind, group: op.group } : { kind: op.kind, key: op.key, group: op.group };
    case 'addMembers':
    case 'removeMembers':
      return { kind: op.kind, key: op.key, memberKeys: op.memberKeys };
  }
}

/** Creates the sql connector definition; `deps` lets tests replace the driver factory. */
export function createSqlConnector(deps: SqlConnectorDeps = {}): ConnectorDefinition<SqlConfig> {
  return defineConnector(sqlManifest, () => new SqlConnector(deps));
}
