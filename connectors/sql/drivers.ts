/**
 * One small interface over the three drivers (pg, mysql2, better-sqlite3): run a statement with
 * positional parameters, run a function in one transaction, list a table's columns. The drivers
 * are imported when a dialect is first used, so the gateway never loads a driver it does not need
 * (better-sqlite3 is a native module).
 */
import type { Pool as PgPool, PoolClient as PgClient, PoolConfig as PgPoolConfig } from 'pg';
import type { Pool as MysqlPool, PoolConnection as MysqlConnection, PoolOptions as MysqlPoolOptions } from 'mysql2/promise';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { NETWORK_ERROR_CODES } from '../sdk/index.js';

/** The SQL dialects the connector speaks; `mysql` covers MariaDB. */
export type Dialect = 'postgres' | 'mysql' | 'sqlite';

/** What a statement may be given as a parameter (booleans become 1/0 for SQLite). */
export type SqlParam = string | number | boolean | null;

/** A statement ready to run: SQL text with positional parameters, and their values. */
export interface SqlStatement {
  sql: string;
  params: SqlParam[];
}

/** The outcome of one statement; rows are normalised to JSON-friendly values. */
export interface SqlResult {
  rows: Record<string, unknown>[];
  /** Rows inserted, updated or deleted (matched rows for MySQL: the driver asks for FOUND_ROWS). */
  affected: number;
  /** MySQL's LAST_INSERT_ID for an auto-increment column, as a string; absent elsewhere or when 0. */
  insertId?: string;
  /** Column names of the result set, in order. */
  columns: string[];
}

/** Runs statements inside one transaction. */
export interface SqlSession {
  run(statement: SqlStatement): Promise<SqlResult>;
}

/** A connection pool (or, for SQLite, one connection) to one database. */
export interface SqlDriver {
  readonly dialect: Dialect;
  /** `postgres://scim@db.example.org:5432/app`, `mysql://...`, `sqlite:/var/lib/app.db`: for messages, never with a password. */
  readonly label: string;
  /** BEGIN; fn; COMMIT, or ROLLBACK when fn throws. A connection that broke is discarded. */
  transaction<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
  /** One statement outside a transaction (reads). */
  query(statement: SqlStatement): Promise<SqlResult>;
  /** Column names of a table (quoted name), or throws the driver's "no such table" error. */
  columnsOf(quotedTable: string): Promise<string[]>;
  close(): Promise<void>;
}

/** Everything a driver needs to connect; secrets included, so never log this object. */
export interface DriverSettings {
  dialect: Dialect;
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  /** TLS: `ca` is the PEM read from the configured CA file. */
  ssl?: { ca?: string; rejectUnauthorized: boolean; servername?: string };
  /** SQLite database file. */
  file?: string;
  poolSize: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  /** SQLite only: how long to wait for a lock held by another process (blocks the event loop meanwhile). */
  busyTimeoutMs: number;
  /** Errors of idle pooled connections (a restarted server): logged, never thrown. */
  onIdleError(err: Error): void;
}

/** The label shown in messages. */
export function driverLabel(s: Pick<DriverSettings, 'dialect' | 'host' | 'port' | 'database' | 'user' | 'file'>): string {
  if (s.dialect === 'sqlite') return `sqlite:${s.file ?? ''}`;
  const port = s.port ?? (s.dialect === 'postgres' ? 5432 : 3306);
  const host = s.host?.includes(':') ? `[${s.host}]` : s.host;
  return `${s.dialect}://${s.user ? `${s.user}@` : ''}${host}:${port}/${s.database ?? ''}`;
}

/** Driver values -> JSON-friendly ones (dates as ISO text, big integers as strings). */
export function normalizeValue(v: unknown): unknown {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return v;
}

function normalizeRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = normalizeValue(v);
  return out;
}

/**
 * Whether the connection an error came from is unusable (discard it rather than ROLLBACK on it):
 * a socket error, mysql2's fatal/protocol errors, PostgreSQL's connection-class SQLSTATEs, pg's
 * own messages for a dead or timed-out client.
 */
function brokenConnection(err: unknown): boolean {
  const e = err as { code?: unknown; fatal?: unknown; message?: unknown };
  if (e?.fatal === true) return true;
  if (typeof e?.code === 'string') return NETWORK_ERROR_CODES.has(e.code) || /^(PROTOCOL_|57P0|08)/.test(e.code);
  return typeof e?.message === 'string' && /Connection terminated|not queryable|Query read timeout/i.test(e.message);
}

/** Opens the driver for the dialect (lazily imported). Does not connect yet. */
export async function openDriver(s: DriverSettings): Promise<SqlDriver> {
  switch (s.dialect) {
    case 'postgres':
      return openPostgres(s);
    case 'mysql':
      return openMysql(s);
    case 'sqlite':
      return openSqlite(s);
  }
}

async function openPostgres(s: DriverSettings): Promise<SqlDriver> {
  const { default: pg } = await import('pg');
  const config: PgPoolConfig = {
    host: s.host,
    port: s.port ?? 5432,
    database: s.database,
    user: s.user,
    max: s.poolSize,
    connectionTimeoutMillis: s.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    // Server side: the statement is cancelled (57014, retried). Client side: a hung server.
    statement_timeout: s.statementTimeoutMs,
    query_timeout: s.statementTimeoutMs + 5_000,
    application_name: 'scim-bridge',
    keepAlive: true,
  };
  if (s.password !== undefined) config.password = s.password;
  if (s.ssl) config.ssl = { rejectUnauthorized: s.ssl.rejectUnauthorized, ...(s.ssl.ca ? { ca: s.ssl.ca } : {}), ...(s.ssl.servername ? { servername: s.ssl.servername } : {}) };
  const pool: PgPool = new pg.Pool(config);
  pool.on('error', (err) => s.onIdleError(err));

  const run = async (client: PgClient | PgPool, st: SqlStatement): Promise<SqlResult> => {
    const res = await client.query({ text: st.sql, values: st.params });
    return {
      rows: (res.rows ?? []).map(normalizeRow),
      affected: res.rowCount ?? 0,
      columns: (res.fields ?? []).map((f) => f.name),
    };
  };

  return {
    dialect: 'postgres',
    label: driverLabel(s),
    async transaction(fn) {
      const client = await pool.connect();
      // A checked-out client has no pool listener: a server going away between statements would
      // otherwise be an unhandled 'error' event. The failed query reports it.
      const swallow = (): void => undefined;
      client.on('error', swallow);
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await fn({ run: (st) => run(client, st) });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        broken = brokenConnection(err);
        if (!broken) await client.query('ROLLBACK').catch(() => (broken = true));
        throw err;
      } finally {
        client.removeListener('error', swallow);
        client.release(broken ? true : undefined);
      }
    },
    query: (st) => run(pool, st),
    async columnsOf(table) {
      return (await run(pool, { sql: `SELECT * FROM ${table} WHERE 1 = 0`, params: [] })).columns;
    },
    async close() {
      await pool.end();
    },
  };
}

async function openMysql(s: DriverSettings): Promise<SqlDriver> {
  const { default: mysql } = await import('mysql2/promise');
  const options: MysqlPoolOptions = {
    host: s.host,
    port: s.port ?? 3306,
    database: s.database,
    user: s.user,
    connectionLimit: s.poolSize,
    connectTimeout: s.connectTimeoutMs,
    waitForConnections: true,
    enableKeepAlive: true,
    // BIGINT ids as strings: keys are strings anyway, and no precision is lost past 2^53.
    supportBigNumbers: true,
    bigNumberStrings: true,
    multipleStatements: false,
    charset: 'utf8mb4',
  };
  if (s.password !== undefined) options.password = s.password;
  if (s.ssl) options.ssl = { rejectUnauthorized: s.ssl.rejectUnauthorized, ...(s.ssl.ca ? { ca: s.ssl.ca } : {}) };
  const pool: MysqlPool = mysql.createPool(options);
  const lockWaitSeconds = Math.max(1, Math.ceil(s.statementTimeoutMs / 1000));
  pool.pool.on('connection', (conn) => {
    conn.on('error', (err: Error) => s.onIdleError(err));
    // Lock waits end with ER_LOCK_WAIT_TIMEOUT (retried) well before InnoDB's 50 s default.
    conn.query(`SET SESSION innodb_lock_wait_timeout = ${lockWaitSeconds}`, () => undefined);
  });

  const run = async (conn: MysqlConnection | MysqlPool, st: SqlStatement): Promise<SqlResult> => {
    // execute(): a server-side prepared statement, the values travel apart from the SQL text.
    const [result, fields] = await conn.execute({ sql: st.sql, timeout: s.statementTimeoutMs }, st.params);
    if (Array.isArray(result)) {
      return {
        rows: (result as Record<string, unknown>[]).map(normalizeRow),
        affected: 0,
        columns: (fields ?? []).map((f) => f.name),
      };
    }
    const header = result as { affectedRows?: number; insertId?: number | string };
    const insertId = header.insertId !== undefined && String(header.insertId) !== '0' ? String(header.insertId) : undefined;
    return { rows: [], affected: header.affectedRows ?? 0, columns: [], ...(insertId ? { insertId } : {}) };
  };

  return {
    dialect: 'mysql',
    label: driverLabel(s),
    async transaction(fn) {
      const conn = await pool.getConnection();
      let broken = false;
      try {
        await conn.query('START TRANSACTION');
        const result = await fn({ run: (st) => run(conn, st) });
        await conn.query('COMMIT');
        return result;
      } catch (err) {
        broken = brokenConnection(err);
        if (!broken) await conn.query('ROLLBACK').catch(() => (broken = true));
        throw err;
      } finally {
        if (broken) conn.destroy();
        else conn.release();
      }
    },
    query: (st) => run(pool, st),
    async columnsOf(table) {
      const [, fields] = await pool.query(`SELECT * FROM ${table} WHERE 1 = 0`);
      return (fields ?? []).map((f) => f.name);
    },
    async close() {
      await pool.end();
    },
  };
}

async function openSqlite(s: DriverSettings): Promise<SqlDriver> {
  const { default: Database } = await import('better-sqlite3');
  let db: SqliteDatabase | undefined;
  // better-sqlite3 is synchronous and has one connection: statements of concurrent operations
  // must not interleave inside each other's transactions, so every call takes its turn.
  let turn: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => T | Promise<T>): Promise<T> => {
    const next = turn.then(work, work);
    turn = next.catch(() => undefined);
    return next;
  };
  const open = (): SqliteDatabase => {
    // Opened on first use, not in init: a missing file shows in test() and in the operation's error.
    db ??= new Database(s.file!, { fileMustExist: true, timeout: s.busyTimeoutMs });
    return db;
  };
  const bind = (params: SqlParam[]): (string | number | null)[] => params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
  const run = (st: SqlStatement): SqlResult => {
    const stmt = open().prepare(st.sql);
    if (stmt.reader) {
      const rows = stmt.all(...bind(st.params)) as Record<string, unknown>[];
      return { rows: rows.map(normalizeRow), affected: rows.length, columns: stmt.columns().map((c) => c.name) };
    }
    const info = stmt.run(...bind(st.params));
    return { rows: [], affected: info.changes, columns: [] };
  };

  return {
    dialect: 'sqlite',
    label: driverLabel(s),
    transaction(fn) {
      return serial(async () => {
        const conn = open();
        // IMMEDIATE takes the write lock now, so a batch job holding it fails fast as SQLITE_BUSY.
        conn.exec('BEGIN IMMEDIATE');
        try {
          const result = await fn({ run: async (st) => run(st) });
          conn.exec('COMMIT');
          return result;
        } catch (err) {
          if (conn.inTransaction) conn.exec('ROLLBACK');
          throw err;
        }
      });
    },
    query: (st) => serial(() => run(st)),
    columnsOf: (table) => serial(() => open().prepare(`SELECT * FROM ${table} WHERE 1 = 0`).columns().map((c) => c.name)),
    async close() {
      await serial(() => db?.close());
      db = undefined;
    },
  };
}
