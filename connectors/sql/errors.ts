/**
 * Driver errors -> the SDK's TransientError (the outbox retries) or PermanentError (dead letter,
 * with a message that names the column or constraint and says what to fix). The one place that
 * reads SQLSTATEs (PostgreSQL), error numbers (MySQL/MariaDB) and result codes (SQLite).
 * Messages name the server, the user and the database, never the password.
 */
import { ConnectorError, NETWORK_ERROR_CODES, PermanentError, TransientError } from '../sdk/index.js';
import type { Dialect } from './drivers.js';

/** Where the error happened, for the message. */
export interface ErrorContext {
  dialect: Dialect;
  /** The driver label, e.g. `postgres://scim@127.0.0.1:5433/app`. */
  label: string;
  user?: string;
  host?: string;
  database?: string;
}

interface DriverError {
  code?: unknown;
  errno?: unknown;
  sqlMessage?: unknown;
  message?: unknown;
  fatal?: unknown;
  // pg's DatabaseError fields
  detail?: unknown;
  constraint?: unknown;
  column?: unknown;
  table?: unknown;
  cause?: unknown;
}

/** PostgreSQL SQLSTATEs that a retry can get past. */
const PG_TRANSIENT = new Set([
  '57P01', // admin_shutdown: the server is restarting
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or in recovery
  '53300', // too_many_connections
  '53400', // configuration_limit_exceeded
  '53200', // out_of_memory
  '53100', // disk_full
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '57014', // query_canceled: our statement_timeout
  '58000', // system_error
  '58030', // io_error
]);

/** MySQL/MariaDB error numbers that a retry can get past. */
const MYSQL_TRANSIENT = new Set([
  1040, // ER_CON_COUNT_ERROR: too many connections
  1041, // ER_OUT_OF_RESOURCES
  1053, // ER_SERVER_SHUTDOWN
  1135, // ER_CANT_CREATE_THREAD
  1158, 1159, 1160, 1161, // network read/write errors and interruptions
  1203, // ER_TOO_MANY_USER_CONNECTIONS
  1205, // ER_LOCK_WAIT_TIMEOUT
  1213, // ER_LOCK_DEADLOCK
  1317, // ER_QUERY_INTERRUPTED
  1689, // ER_LOCK_ABORTED
  1927, // ER_CONNECTION_KILLED (MariaDB)
  1969, // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
  2002, 2003, 2006, 2013, // client: cannot connect, server gone away, lost connection
  3024, // ER_QUERY_TIMEOUT (MySQL max_execution_time)
  4031, // ER_CLIENT_INTERACTION_TIMEOUT
]);

/** mysql2's own codes for a connection that failed or timed out. */
const MYSQL2_TRANSIENT_CODES = new Set(['PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR', 'PROTOCOL_ENQUEUE_AFTER_QUIT', 'ER_GET_CONNECTION_TIMEOUT']);

/** pg's messages (no code) for a connection that broke or timed out. */
const PG_TRANSIENT_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Query read timeout|not queryable|Connection terminated due to connection timeout/i;

/** TLS verification failures: permanent until the admin fixes the CA. */
const TLS_CODES = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_.*|EPROTO)$/;

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function messageOf(err: DriverError): string {
  return text(err.sqlMessage) ?? text(err.message) ?? String(err);
}

/** All string codes in the error and its cause chain / AggregateError members. */
function codes(err: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): void => {
    if (typeof e !== 'object' || e === null || seen.has(e) || depth > 6) return;
    seen.add(e);
    const rec = e as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof rec.code === 'string') out.push(rec.code);
    visit(rec.cause, depth + 1);
    if (Array.isArray(rec.errors)) for (const x of rec.errors) visit(x, depth + 1);
  };
  visit(err, 0);
  return out;
}

const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EAI_AGAIN: 'name lookup failed (temporary)',
  EPIPE: 'connection closed',
};

/** Whether the error is a unique/primary-key violation (the create race, a present member). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as DriverError;
  return e?.code === '23505' || e?.code === 'ER_DUP_ENTRY' || e?.errno === 1062 || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * Classifies a driver error. A ConnectorError passes through untouched. `cause` keeps the driver
 * error (the host reduces it to its message and redacts secrets).
 */
export function classifySqlError(err: unknown, ctx: ErrorContext): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const e = (err ?? {}) as DriverError;
  const raw = messageOf(e);
  const transient = (what: string, code = 'sql_unavailable'): TransientError =>
    new TransientError(`${ctx.label}: ${what}`, { code, cause: err });
  const permanent = (what: string, code: string): PermanentError => new PermanentError(`${ctx.label}: ${what}`, { code, cause: err });

  const all = codes(err);
  const network = all.find((c) => NETWORK_ERROR_CODES.has(c) || c === 'ENOTFOUND');
  if (network === 'ENOTFOUND') return permanent(`host "${ctx.host ?? '?'}" not found (DNS): check connection.host`, 'sql_host_not_found');
  if (network) return transient(`cannot reach the database server: ${NETWORK_WORDS[network] ?? network} (${network})`, 'target_unreachable');
  const tls = all.find((c) => TLS_CODES.test(c));
  if (tls) {
    return permanent(
      `TLS handshake failed (${tls}: ${raw}): set connection.ssl.caFile to the CA that signed the server's certificate, or check connection.host against the certificate's name`,
      'sql_tls',
    );
  }

  if (/does not support (SSL|secure connection)/i.test(raw)) {
    return permanent('the server does not accept TLS connections: remove connection.ssl, or enable TLS on the server', 'sql_tls');
  }

  switch (ctx.dialect) {
    case 'postgres':
      return classifyPostgres(e, raw, ctx, transient, permanent);
    case 'mysql':
      return classifyMysql(e, raw, ctx, transient, permanent);
    case 'sqlite':
      return classifySqlite(e, raw, ctx, transient, permanent);
  }
}

type Make<T> = (what: string, code: string) => T;
type MakeTransient = (what: string, code?: string) => TransientError;

function authMessage(ctx: ErrorContext): string {
  return `authentication failed for user "${ctx.user ?? '?'}" on host ${ctx.host ?? '?'}: check connection.user and the password (connection.password), and that the server lets this user connect from the gateway's address`;
}

function classifyPostgres(e: DriverError, raw: string, ctx: ErrorContext, transient: MakeTransient, permanent: Make<PermanentError>): ConnectorError {
  const code = text(e.code);
  if (!code || !/^[0-9A-Z]{5}$/.test(code)) {
    if (PG_TRANSIENT_MESSAGES.test(raw)) return transient(`the connection failed: ${raw}`);
    // pg's own wording when the server asks for a password the config does not have.
    if (/client password must be a string|SASL/i.test(raw)) {
      return permanent(`the server wants a password for user "${ctx.user ?? '?'}" and none is set: set connection.password`, 'sql_auth_failed');
    }
    return permanent(raw, 'sql_error');
  }
  const constraint = text(e.constraint);
  const column = text(e.column);
  if (PG_TRANSIENT.has(code) || code.startsWith('08')) return transient(`${raw} (SQLSTATE ${code})`);
  if (code === '28P01' || code === '28000') return permanent(authMessage(ctx), 'sql_auth_failed');
  if (code === '3D000') return permanent(`database "${ctx.database ?? '?'}" does not exist: check connection.database`, 'sql_no_database');
  switch (code) {
    case '23505': {
      const cols = /Key \(([^)]*)\)=/.exec(text(e.detail) ?? '')?.[1];
      return permanent(
        `unique constraint "${constraint ?? '?'}"${cols ? ` on (${cols})` : ''} refused the row: another row already has this value; fix the value in the identity provider or the other row`,
        'sql_unique_violation',
      );
    }
    case '23502':
      return permanent(
        `column "${column ?? '?'}" must not be NULL: map an attribute to it in the connector's mapping, or give the column a DEFAULT`,
        'sql_not_null_violation',
      );
    case '23514':
      return permanent(`check constraint "${constraint ?? '?'}" refused the row (${raw}): fix the mapped value or the constraint`, 'sql_check_violation');
    case '23503':
      return permanent(`foreign key "${constraint ?? '?'}" refused the row (${raw})`, 'sql_foreign_key_violation');
    case '42703':
      return permanent(`${raw}: add the column, or change the connector's mapping / table settings so no value goes to it`, 'sql_unknown_column');
    case '42P01':
      return permanent(`${raw}: create the table or fix the table name in the connector's settings`, 'sql_unknown_table');
    case '42501':
      return permanent(`${raw}: GRANT the needed privileges to "${ctx.user ?? '?'}"`, 'sql_permission_denied');
    case '42601':
      return permanent(`syntax error in a statement (${raw}): check the templated statements`, 'sql_syntax_error');
  }
  return permanent(`${raw} (SQLSTATE ${code})`, 'sql_error');
}

function classifyMysql(e: DriverError, raw: string, ctx: ErrorContext, transient: MakeTransient, permanent: Make<PermanentError>): ConnectorError {
  const errno = typeof e.errno === 'number' ? e.errno : undefined;
  const code = text(e.code);
  if ((errno !== undefined && MYSQL_TRANSIENT.has(errno)) || (code && MYSQL2_TRANSIENT_CODES.has(code))) {
    return transient(`${raw}${code ? ` (${code})` : ''}`);
  }
  switch (errno) {
    case 1045:
      return permanent(authMessage(ctx), 'sql_auth_failed');
    case 1044:
      return permanent(`user "${ctx.user ?? '?'}" may not use database "${ctx.database ?? '?'}": GRANT it the privileges on that database`, 'sql_auth_failed');
    case 1049:
      return permanent(`database "${ctx.database ?? '?'}" does not exist: check connection.database`, 'sql_no_database');
    case 1062: {
      const key = /for key '([^']+)'/.exec(raw)?.[1];
      return permanent(`unique key "${key ?? '?'}" refused the row: another row already has this value; fix the value in the identity provider or the other row`, 'sql_unique_violation');
    }
    case 1048:
    case 1364: {
      const col = /(?:Column|Field) '([^']+)'/.exec(raw)?.[1];
      return permanent(`column "${col ?? '?'}" must not be NULL: map an attribute to it in the connector's mapping, or give the column a DEFAULT`, 'sql_not_null_violation');
    }
    case 3819:
    case 4025:
      return permanent(`a check constraint refused the row (${raw}): fix the mapped value or the constraint`, 'sql_check_violation');
    case 1451:
    case 1452:
      return permanent(`a foreign key refused the change (${raw})`, 'sql_foreign_key_violation');
    case 1054:
      return permanent(`${raw}: add the column, or change the connector's mapping / table settings so no value goes to it`, 'sql_unknown_column');
    case 1146:
      return permanent(`${raw}: create the table or fix the table name in the connector's settings`, 'sql_unknown_table');
    case 1142:
    case 1143:
      return permanent(`${raw}: GRANT the needed privileges to "${ctx.user ?? '?'}"`, 'sql_permission_denied');
    case 1064:
      return permanent(`syntax error in a statement (${raw}): check the templated statements`, 'sql_syntax_error');
    case 1406:
    case 1292:
    case 1366:
      return permanent(`the server refused a value (${raw}): fix the mapping or widen the column`, 'sql_bad_value');
  }
  // mysql2 marks connection-level failures fatal; they carry no server errno.
  if (e.fatal === true && errno === undefined) return transient(`the connection failed: ${raw}`);
  return permanent(`${raw}${code ? ` (${code})` : ''}`, 'sql_error');
}

function classifySqlite(e: DriverError, raw: string, ctx: ErrorContext, transient: MakeTransient, permanent: Make<PermanentError>): ConnectorError {
  const code = text(e.code) ?? '';
  if (/^SQLITE_(BUSY|LOCKED|IOERR|FULL|PROTOCOL)/.test(code)) {
    return transient(`${raw} (${code}): another process holds the database, or the disk is busy/full`);
  }
  if (code === 'SQLITE_CANTOPEN' || /Cannot open database|unable to open database/i.test(raw)) return permanent(`cannot open the database file (${raw}): check connection.file, that it exists and that the gateway may read and write it and its folder`, 'sql_cannot_open');
  if (code.startsWith('SQLITE_READONLY')) return permanent(`the database is read-only for the gateway (${raw}): give its user write access to the file and its folder`, 'sql_read_only');
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return permanent(`${raw}: another row already has this value; fix the value in the identity provider or the other row`, 'sql_unique_violation');
  }
  if (code === 'SQLITE_CONSTRAINT_NOTNULL') {
    const col = /failed: (\S+)/.exec(raw)?.[1];
    return permanent(`column ${col ?? '?'} must not be NULL: map an attribute to it in the connector's mapping, or give the column a DEFAULT`, 'sql_not_null_violation');
  }
  if (code === 'SQLITE_CONSTRAINT_CHECK') return permanent(`${raw}: fix the mapped value or the constraint`, 'sql_check_violation');
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return permanent(`a foreign key refused the change (${raw})`, 'sql_foreign_key_violation');
  if (/no such column|has no column named/i.test(raw)) return permanent(`${raw}: add the column, or change the connector's mapping / table settings so no value goes to it`, 'sql_unknown_column');
  if (/no such table/i.test(raw)) return permanent(`${raw}: create the table or fix the table name in the connector's settings`, 'sql_unknown_table');
  if (/syntax error/i.test(raw)) return permanent(`syntax error in a statement (${raw}): check the templated statements`, 'sql_syntax_error');
  return permanent(`${raw}${code ? ` (${code})` : ''}`, 'sql_error');
}

/** Whether the error says the table does not exist (for test()'s list of problems). */
export function isUnknownTable(err: unknown): boolean {
  const e = err as DriverError;
  return e?.code === '42P01' || e?.errno === 1146 || (typeof e?.message === 'string' && /no such table/i.test(e.message));
}
