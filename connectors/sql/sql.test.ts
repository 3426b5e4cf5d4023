/**
 * The sql connector against real databases started by this file: PostgreSQL and MariaDB (private
 * servers in temp dirs, test/servers/) and SQLite (a temp file). The conformance kit runs table
 * mode and templated mode on all three; the rest covers injection attempts,
 * identifier validation, error classification (killed server, wrong password, constraint
 * violations, timeouts), preview and paging. Every check reads the database directly.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConnectorConformance, type ConformanceTarget } from '../sdk/conformance.js';
import { ConnectorConfigError, createConnectorHost, PermanentError, TransientError, type ConnectorHost, type TargetUser } from '../sdk/index.js';
import { startMariadb, type MariadbServer } from '../../test/servers/mariadb.js';
import { startPostgres, type PostgresServer } from '../../test/servers/postgres.js';
import { createSqlConnector, sqlConfigSchema, type SqlConfig } from './index.js';

let pgServer: PostgresServer;
let maria: MariadbServer;
let sqliteDir: string;
/** The test CA that signed PostgreSQL's certificate (for 127.0.0.1). */
let caFile: string;

/** A throw-away CA and a server certificate for 127.0.0.1, made with the openssl CLI. */
async function makeCertificates(dir: string): Promise<{ caFile: string; certPem: string; keyPem: string }> {
  const run = promisify(execFile);
  const f = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=scim-bridge test CA']);
  await run('openssl', ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('san.ext')]);
  return { caFile: f('ca.crt'), certPem: readFileSync(f('server.crt'), 'utf8'), keyPem: readFileSync(f('server.key'), 'utf8') };
}

beforeAll(async () => {
  sqliteDir = mkdtempSync(join(tmpdir(), 'scim-sqlite-'));
  const certs = await makeCertificates(sqliteDir);
  caFile = certs.caFile;
  [pgServer, maria] = await Promise.all([startPostgres({ tls: { certPem: certs.certPem, keyPem: certs.keyPem } }), startMariadb()]);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([pgServer?.close(), maria?.close()]);
  rmSync(sqliteDir, { recursive: true, force: true });
});

const definition = createSqlConnector();

/** Users with the column-style attribute names this connector's default mapping uses. */
function sampleUser(n: number): TargetUser {
  const id = randomUUID();
  const userName = `conf.user${n}.${id.slice(0, 8)}`;
  return {
    scimId: id,
    externalId: `ext-${id}`,
    userName,
    active: true,
    attributes: { given_name: 'Ada', family_name: `Lovelace${n}`, email: `${userName}@example.org` },
  };
}

const ATTRS = ['given_name', 'family_name', 'email'] as const;
function attributesOf(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(ATTRS.map((a) => [a, row[a] ?? null]));
}

// ---- PostgreSQL, table mode -------------------------------------------------------------------

const PG_SCHEMA = [
  `CREATE TABLE users (
     id serial PRIMARY KEY,
     user_name text NOT NULL,
     external_id text,
     scim_id text UNIQUE,
     active boolean NOT NULL DEFAULT true,
     given_name text, family_name text, email text, display_name text, title text, department text, employee_number text)`,
  'CREATE UNIQUE INDEX users_user_name_lower ON users (lower(user_name))',
  'CREATE TABLE groups (id serial PRIMARY KEY, display_name text NOT NULL, scim_id text UNIQUE)',
  `CREATE TABLE group_members (
     group_id int NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
     user_id int NOT NULL REFERENCES users (id) ON DELETE CASCADE,
     PRIMARY KEY (group_id, user_id))`,
  'GRANT ALL ON ALL TABLES IN SCHEMA public TO scim',
  'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO scim',
];

function pgTableConfig(): SqlConfig {
  return {
    dialect: 'postgres',
    connection: { host: '127.0.0.1', port: pgServer.port, database: 'app', user: pgServer.user },
    // A page of 2 makes listUsers walk several pages in the conformance run.
    pageSize: 2,
    table: {
      users: {
        table: 'users',
        keyColumn: 'id',
        userNameColumn: 'user_name',
        externalIdColumn: 'external_id',
        scimIdColumn: 'scim_id',
        activeColumn: 'active',
        columns: ['given_name', 'family_name', 'email', 'display_name', 'title', 'department', 'employee_number'],
      },
      groups: { table: 'groups', keyColumn: 'id', displayNameColumn: 'display_name', scimIdColumn: 'scim_id' },
      memberships: { table: 'group_members', groupColumn: 'group_id', memberColumn: 'user_id' },
    },
  } as SqlConfig;
}

let pgReady: Promise<void> | undefined;
/** Creates the PostgreSQL tables once (several suites share them). */
function pgTables(): Promise<void> {
  pgReady ??= (async () => {
    for (const sql of PG_SCHEMA) await pgServer.admin(sql);
  })();
  return pgReady;
}

function pgTarget(db = 'app'): ConformanceTarget {
  return {
    async readUser(key) {
      const [row] = await pgServer.admin('SELECT * FROM users WHERE id = $1', [Number(key)], db);
      return row && { userName: String(row.user_name), active: row.active === true, attributes: attributesOf(row) as TargetUser['attributes'] };
    },
    async readGroup(key) {
      const [row] = await pgServer.admin('SELECT * FROM groups WHERE id = $1', [Number(key)], db);
      return row && { displayName: String(row.display_name) };
    },
    async readGroupMembers(key) {
      return (await pgServer.admin('SELECT user_id FROM group_members WHERE group_id = $1', [Number(key)], db)).map((r) => String(r.user_id));
    },
    async countUsers(userName) {
      const [row] = await pgServer.admin('SELECT count(*)::int AS n FROM users WHERE lower(user_name) = lower($1)', [userName], db);
      return Number(row.n);
    },
    stop: () => pgServer.stop(),
    start: () => pgServer.start(),
    async reset() {
      await pgServer.admin('TRUNCATE group_members, groups, users RESTART IDENTITY CASCADE', [], db);
    },
  };
}

runConnectorConformance(
  'sql (PostgreSQL, table mode)',
  async () => {
    await pgTables();
    return {
      definition,
      config: pgTableConfig(),
      secrets: { 'connection.password': pgServer.password },
      wrongSecrets: { 'connection.password': 'not-the-password' },
      hostLabel: `postgres://scim@127.0.0.1:${pgServer.port}/app`,
      sampleUser,
    };
  },
  pgTarget(),
);

// ---- PostgreSQL, templated mode ---------------------------------------------------------------

function pgStatementsConfig(database: string): SqlConfig {
  const cols = 'id AS key, user_name AS "userName", external_id AS "externalId", active, given_name, family_name, email';
  return {
    dialect: 'postgres',
    connection: { host: '127.0.0.1', port: pgServer.port, database, user: pgServer.user },
    pageSize: 2,
    statements: {
      createUser:
        'INSERT INTO users (user_name, external_id, scim_id, active, given_name, family_name, email) VALUES (:userName, :externalId, :scimId, :active, :attr.given_name, :attr.family_name, :attr.email) RETURNING id AS key',
      updateUser:
        'UPDATE users SET user_name = :userName, external_id = :externalId, active = :active, given_name = :attr.given_name, family_name = :attr.family_name, email = :attr.email WHERE id = :key',
      // deactivateUser is left out on purpose: it defaults to updateUser with :active = false.
      reactivateUser: 'UPDATE users SET active = true WHERE id = :key',
      deleteUser: 'DELETE FROM users WHERE id = :key',
      findUser: `SELECT ${cols} FROM users WHERE lower(user_name) = lower(:userName) OR external_id = :externalId ORDER BY id LIMIT 1`,
      listUsers: `SELECT ${cols} FROM users ORDER BY id LIMIT :limit OFFSET :offset`,
      upsertGroup:
        'INSERT INTO groups (scim_id, display_name) VALUES (:scimId, :displayName) ON CONFLICT (scim_id) DO UPDATE SET display_name = EXCLUDED.display_name RETURNING id AS key',
      deleteGroup: 'DELETE FROM groups WHERE id = :key',
      addMember: 'INSERT INTO group_members (group_id, user_id) VALUES (:groupKey, :memberKey) ON CONFLICT DO NOTHING',
      removeMember: 'DELETE FROM group_members WHERE group_id = :groupKey AND user_id = :memberKey',
    },
  } as SqlConfig;
}

let tmplReady: Promise<void> | undefined;
function pgTemplatedDatabase(): Promise<void> {
  tmplReady ??= (async () => {
    await pgServer.createDatabase('tmpl');
    for (const sql of PG_SCHEMA) await pgServer.admin(sql, [], 'tmpl');
  })();
  return tmplReady;
}

runConnectorConformance(
  'sql (PostgreSQL, templated statements)',
  async () => {
    await pgTemplatedDatabase();
    return {
      definition,
      config: pgStatementsConfig('tmpl'),
      secrets: { 'connection.password': pgServer.password },
      wrongSecrets: { 'connection.password': 'wrong-password' },
      hostLabel: `postgres://scim@127.0.0.1:${pgServer.port}/tmpl`,
      sampleUser,
    };
  },
  pgTarget('tmpl'),
);

// ---- MariaDB, table mode: the key is the userName, active is a text status ------------------------

const MARIA_SCHEMA = [
  `CREATE TABLE users (
     user_name VARCHAR(190) NOT NULL PRIMARY KEY,
     external_id VARCHAR(190) NULL,
     scim_id CHAR(36) NULL UNIQUE,
     status VARCHAR(16) NOT NULL DEFAULT 'active',
     given_name VARCHAR(100), family_name VARCHAR(100), email VARCHAR(190), display_name VARCHAR(190),
     title VARCHAR(100), department VARCHAR(100), employee_number VARCHAR(50)) ENGINE=InnoDB`,
  'CREATE TABLE `groups` (id INT AUTO_INCREMENT PRIMARY KEY, display_name VARCHAR(190) NOT NULL, scim_id CHAR(36) UNIQUE) ENGINE=InnoDB',
  // No foreign keys: the connector itself follows renames and deletes in the membership table.
  'CREATE TABLE group_members (group_id INT NOT NULL, user_name VARCHAR(190) NOT NULL, PRIMARY KEY (group_id, user_name)) ENGINE=InnoDB',
];

function mariaTableConfig(): SqlConfig {
  return {
    dialect: 'mariadb',
    connection: { host: '127.0.0.1', port: maria.port, database: 'app', user: maria.user },
    table: {
      users: {
        table: 'users',
        keyColumn: 'user_name',
        userNameColumn: 'user_name',
        externalIdColumn: 'external_id',
        scimIdColumn: 'scim_id',
        activeColumn: 'status',
        activeValue: 'active',
        inactiveValue: 'disabled',
        columns: ['given_name', 'family_name', 'email', 'display_name', 'title', 'department', 'employee_number'],
      },
      groups: { table: 'groups', keyColumn: 'id', displayNameColumn: 'display_name', scimIdColumn: 'scim_id' },
      memberships: { table: 'group_members', groupColumn: 'group_id', memberColumn: 'user_name' },
    },
  } as SqlConfig;
}

let mariaReady: Promise<void> | undefined;
function mariaTables(): Promise<void> {
  mariaReady ??= (async () => {
    for (const sql of MARIA_SCHEMA) await maria.admin(sql);
  })();
  return mariaReady;
}

runConnectorConformance(
  'sql (MariaDB, table mode)',
  async () => {
    await mariaTables();
    return {
      definition,
      config: mariaTableConfig(),
      secrets: { 'connection.password': maria.password },
      wrongSecrets: { 'connection.password': 'not-the-password' },
      hostLabel: `mysql://scim@127.0.0.1:${maria.port}/app`,
      sampleUser,
      normalizeKey: (k) => k.toLowerCase(),
    };
  },
  {
    async readUser(key) {
      const [row] = await maria.admin<Record<string, unknown>>('SELECT * FROM users WHERE user_name = ?', [key]);
      return row && { userName: String(row.user_name), active: row.status === 'active', attributes: attributesOf(row) as TargetUser['attributes'] };
    },
    async readGroup(key) {
      const [row] = await maria.admin<Record<string, unknown>>('SELECT * FROM `groups` WHERE id = ?', [Number(key)]);
      return row && { displayName: String(row.display_name) };
    },
    async readGroupMembers(key) {
      return (await maria.admin<Record<string, unknown>>('SELECT user_name FROM group_members WHERE group_id = ?', [Number(key)])).map((r) => String(r.user_name));
    },
    async countUsers(userName) {
      const [row] = await maria.admin<Record<string, unknown>>('SELECT count(*) AS n FROM users WHERE user_name = ?', [userName]);
      return Number(row.n);
    },
    stop: () => maria.stop(),
    start: () => maria.start(),
    async reset() {
      for (const t of ['group_members', '`groups`', 'users']) await maria.admin(`DELETE FROM ${t}`);
    },
  },
);

// ---- MariaDB, templated mode: the auto-increment id comes back as the insert id ----------------------

const MARIA_AUTO_ID_SCHEMA = [
  `CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, user_name VARCHAR(190) NOT NULL UNIQUE, external_id VARCHAR(190), scim_id CHAR(36) UNIQUE,
     active TINYINT(1) NOT NULL DEFAULT 1, given_name VARCHAR(100), family_name VARCHAR(100), email VARCHAR(190)) ENGINE=InnoDB`,
  'CREATE TABLE `groups` (id INT AUTO_INCREMENT PRIMARY KEY, display_name VARCHAR(190) NOT NULL, scim_id CHAR(36) NOT NULL UNIQUE) ENGINE=InnoDB',
  'CREATE TABLE group_members (group_id INT NOT NULL, user_id INT NOT NULL, PRIMARY KEY (group_id, user_id)) ENGINE=InnoDB',
];

/** The MySQL/MariaDB example of README.md, verbatim. */
function mariaStatementsConfig(database: string): SqlConfig {
  const cols = 'id AS `key`, user_name AS userName, external_id AS externalId, active, given_name, family_name, email';
  return {
    dialect: 'mariadb',
    connection: { host: '127.0.0.1', port: maria.port, database, user: maria.user },
    pageSize: 2,
    statements: {
      createUser:
        'INSERT INTO users (user_name, external_id, scim_id, active, given_name, family_name, email) VALUES (:userName, :externalId, :scimId, :active, :attr.given_name, :attr.family_name, :attr.email)',
      updateUser:
        'UPDATE users SET user_name = :userName, external_id = :externalId, active = :active, given_name = :attr.given_name, family_name = :attr.family_name, email = :attr.email WHERE id = :key',
      deleteUser: 'DELETE FROM users WHERE id = :key',
      findUser: `SELECT ${cols} FROM users WHERE user_name = :userName OR external_id = :externalId LIMIT 1`,
      listUsers: `SELECT ${cols} FROM users WHERE (:afterKey IS NULL OR id > :afterKey) ORDER BY id LIMIT :limit`,
      upsertGroup:
        'INSERT INTO `groups` (scim_id, display_name) VALUES (:scimId, :displayName) ON DUPLICATE KEY UPDATE display_name = VALUES(display_name), id = LAST_INSERT_ID(id)',
      deleteGroup: 'DELETE FROM `groups` WHERE id = :key',
      addMember: 'INSERT INTO group_members (group_id, user_id) VALUES (:groupKey, :memberKey) ON DUPLICATE KEY UPDATE group_id = group_id',
      removeMember: 'DELETE FROM group_members WHERE group_id = :groupKey AND user_id = :memberKey',
    },
  } as SqlConfig;
}

let mariaTmplReady: Promise<void> | undefined;
function mariaTemplatedDatabase(): Promise<void> {
  mariaTmplReady ??= (async () => {
    await maria.createDatabase('tmpl');
    for (const sql of MARIA_AUTO_ID_SCHEMA) await maria.admin(sql, [], 'tmpl');
  })();
  return mariaTmplReady;
}

runConnectorConformance(
  'sql (MariaDB, templated statements)',
  async () => {
    await mariaTemplatedDatabase();
    return {
      definition,
      config: mariaStatementsConfig('tmpl'),
      secrets: { 'connection.password': maria.password },
      wrongSecrets: { 'connection.password': 'not-the-password' },
      hostLabel: `mysql://scim@127.0.0.1:${maria.port}/tmpl`,
      sampleUser,
    };
  },
  {
    async readUser(key) {
      const [row] = await maria.admin<Record<string, unknown>>('SELECT * FROM users WHERE id = ?', [Number(key)], 'tmpl');
      return row && { userName: String(row.user_name), active: row.active === 1, attributes: attributesOf(row) as TargetUser['attributes'] };
    },
    async readGroup(key) {
      const [row] = await maria.admin<Record<string, unknown>>('SELECT * FROM `groups` WHERE id = ?', [Number(key)], 'tmpl');
      return row && { displayName: String(row.display_name) };
    },
    async readGroupMembers(key) {
      return (await maria.admin<Record<string, unknown>>('SELECT user_id FROM group_members WHERE group_id = ?', [Number(key)], 'tmpl')).map((r) => String(r.user_id));
    },
    async countUsers(userName) {
      return Number((await maria.admin<Record<string, unknown>>('SELECT count(*) AS n FROM users WHERE user_name = ?', [userName], 'tmpl'))[0].n);
    },
    stop: () => maria.stop(),
    start: () => maria.start(),
    async reset() {
      for (const t of ['group_members', '`groups`', 'users']) await maria.admin(`DELETE FROM ${t}`, [], 'tmpl');
    },
  },
);

// ---- SQLite, table mode: deactivated_at column, groups keyed by SCIM id, no column list ----------

const SQLITE_SCHEMA = `
  CREATE TABLE users (id INTEGER PRIMARY KEY, user_name TEXT NOT NULL COLLATE NOCASE UNIQUE, external_id TEXT, scim_id TEXT UNIQUE,
                      deactivated_at TEXT, given_name TEXT, family_name TEXT, email TEXT);
  CREATE TABLE groups (scim_id TEXT PRIMARY KEY, display_name TEXT NOT NULL);
  CREATE TABLE group_members (group_id TEXT NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (group_id, user_id));`;

function sqliteConfig(file: string): SqlConfig {
  return {
    dialect: 'sqlite',
    // A short busy timeout: the target-down case holds an exclusive lock, and waiting blocks the event loop.
    connection: { file, busyTimeoutMs: 50 },
    table: {
      users: { table: 'users', keyColumn: 'id', userNameColumn: 'user_name', externalIdColumn: 'external_id', scimIdColumn: 'scim_id', deactivatedAtColumn: 'deactivated_at' },
      groups: { table: 'groups', keyColumn: 'scim_id', displayNameColumn: 'display_name', scimIdColumn: 'scim_id' },
      memberships: { table: 'group_members', groupColumn: 'group_id', memberColumn: 'user_id' },
    },
  } as SqlConfig;
}

{
  let file = '';
  let reader: Database.Database | undefined;
  let locker: Database.Database | undefined;
  const db = (): Database.Database => (reader ??= new Database(file));
  runConnectorConformance(
    'sql (SQLite, table mode)',
    async () => {
      file = join(sqliteDir, 'conformance.db');
      db().exec(SQLITE_SCHEMA);
      return {
        definition,
        config: sqliteConfig(file),
        secrets: {},
        hostLabel: `sqlite:${file}`,
        sampleUser,
        teardown: async () => {
          locker?.close();
          reader?.close();
        },
      };
    },
    {
      async readUser(key) {
        const row = db().prepare('SELECT * FROM users WHERE id = ?').get(Number(key)) as Record<string, unknown> | undefined;
        return row && { userName: String(row.user_name), active: row.deactivated_at === null, attributes: attributesOf(row) as TargetUser['attributes'] };
      },
      async readGroup(key) {
        const row = db().prepare('SELECT * FROM groups WHERE scim_id = ?').get(key) as Record<string, unknown> | undefined;
        return row && { displayName: String(row.display_name) };
      },
      async readGroupMembers(key) {
        return (db().prepare('SELECT user_id FROM group_members WHERE group_id = ?').all(key) as Record<string, unknown>[]).map((r) => String(r.user_id));
      },
      async countUsers(userName) {
        return Number((db().prepare('SELECT count(*) AS n FROM users WHERE lower(user_name) = lower(?)').get(userName) as { n: number }).n);
      },
      // "Down" for a file database: another process holds an exclusive lock, so every access is SQLITE_BUSY.
      async stop() {
        locker = new Database(file);
        locker.exec('BEGIN EXCLUSIVE');
      },
      async start() {
        if (locker?.inTransaction) locker.exec('ROLLBACK');
        locker?.close();
        locker = undefined;
      },
      async reset() {
        db().exec('DELETE FROM group_members; DELETE FROM groups; DELETE FROM users;');
      },
    },
  );
}

// ---- SQLite, templated mode ----------------------------------------------------------------------

const SQLITE_AUTO_ID_SCHEMA = `
  CREATE TABLE users (id INTEGER PRIMARY KEY, user_name TEXT NOT NULL COLLATE NOCASE UNIQUE, external_id TEXT, scim_id TEXT UNIQUE,
                      active INTEGER NOT NULL DEFAULT 1, given_name TEXT, family_name TEXT, email TEXT);
  CREATE TABLE groups (id INTEGER PRIMARY KEY, scim_id TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL);
  CREATE TABLE group_members (group_id INTEGER NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (group_id, user_id));`;

/** The SQLite example of README.md, verbatim. */
function sqliteStatementsConfig(file: string): SqlConfig {
  const cols = 'id AS key, user_name AS userName, external_id AS externalId, active, given_name, family_name, email';
  return {
    dialect: 'sqlite',
    connection: { file, busyTimeoutMs: 50 },
    pageSize: 2,
    statements: {
      createUser:
        'INSERT INTO users (user_name, external_id, scim_id, active, given_name, family_name, email) VALUES (:userName, :externalId, :scimId, :active, :attr.given_name, :attr.family_name, :attr.email) RETURNING id AS key',
      updateUser:
        'UPDATE users SET user_name = :userName, external_id = :externalId, active = :active, given_name = :attr.given_name, family_name = :attr.family_name, email = :attr.email WHERE id = :key',
      deleteUser: ['DELETE FROM group_members WHERE user_id = :key', 'DELETE FROM users WHERE id = :key'],
      findUser: `SELECT ${cols} FROM users WHERE user_name = :userName OR external_id = :externalId LIMIT 1`,
      listUsers: `SELECT ${cols} FROM users ORDER BY id LIMIT :limit OFFSET :offset`,
      upsertGroup:
        'INSERT INTO groups (scim_id, display_name) VALUES (:scimId, :displayName) ON CONFLICT (scim_id) DO UPDATE SET display_name = excluded.display_name RETURNING id AS key',
      deleteGroup: 'DELETE FROM groups WHERE id = :key',
      addMember: 'INSERT INTO group_members (group_id, user_id) VALUES (:groupKey, :memberKey) ON CONFLICT DO NOTHING',
      removeMember: 'DELETE FROM group_members WHERE group_id = :groupKey AND user_id = :memberKey',
    },
  } as SqlConfig;
}

{
  let reader: Database.Database | undefined;
  let locker: Database.Database | undefined;
  let file = '';
  const db = (): Database.Database => reader!;
  runConnectorConformance(
    'sql (SQLite, templated statements)',
    async () => {
      file = join(sqliteDir, 'templated.db');
      reader = new Database(file);
      reader.exec(SQLITE_AUTO_ID_SCHEMA);
      return { definition, config: sqliteStatementsConfig(file), secrets: {}, hostLabel: `sqlite:${file}`, sampleUser, teardown: async () => void reader?.close() };
    },
    {
      async readUser(key) {
        const row = db().prepare('SELECT * FROM users WHERE id = ?').get(Number(key)) as Record<string, unknown> | undefined;
        return row && { userName: String(row.user_name), active: row.active === 1, attributes: attributesOf(row) as TargetUser['attributes'] };
      },
      async readGroup(key) {
        const row = db().prepare('SELECT * FROM groups WHERE id = ?').get(Number(key)) as Record<string, unknown> | undefined;
        return row && { displayName: String(row.display_name) };
      },
      async readGroupMembers(key) {
        return (db().prepare('SELECT user_id FROM group_members WHERE group_id = ?').all(Number(key)) as Record<string, unknown>[]).map((r) => String(r.user_id));
      },
      async countUsers(userName) {
        return Number((db().prepare('SELECT count(*) AS n FROM users WHERE lower(user_name) = lower(?)').get(userName) as { n: number }).n);
      },
      async stop() {
        locker = new Database(file);
        locker.exec('BEGIN EXCLUSIVE');
      },
      async start() {
        if (locker?.inTransaction) locker.exec('ROLLBACK');
        locker?.close();
        locker = undefined;
      },
      async reset() {
        db().exec('DELETE FROM group_members; DELETE FROM groups; DELETE FROM users;');
      },
    },
  );
}

// ---- beyond the kit -----------------------------------------------------------------------------

const INJECTIONS = [`'); DROP TABLE users;--`, `Robert"); DROP TABLE users; --`, `' OR '1'='1`, `\\'; DROP TABLE users; #`, `:userName $1 ? @x`, `ünïcödé — 🚀`];

async function host(config: SqlConfig, secrets: Record<string, string>): Promise<ConnectorHost<SqlConfig>> {
  return createConnectorHost(definition, { config, secrets });
}

let opSeq = 0;
const op = () => `op-${++opSeq}`;

describe('sql: values are parameters, never SQL', () => {
  it('stores injection attempts verbatim in PostgreSQL (table and templated mode), MariaDB and SQLite', async () => {
    await Promise.all([pgTables(), pgTemplatedDatabase(), mariaTables()]);
    const file = join(sqliteDir, 'injection.db');
    const lite = new Database(file);
    lite.exec(SQLITE_SCHEMA);
    const setups: Array<{ name: string; config: SqlConfig; secrets: Record<string, string>; read: (key: string) => Promise<Record<string, unknown> | undefined>; tableCount: () => Promise<number> }> = [
      {
        name: 'postgres/table',
        config: pgTableConfig(),
        secrets: { 'connection.password': pgServer.password },
        read: async (key) => (await pgServer.admin('SELECT * FROM users WHERE id = $1', [Number(key)]))[0],
        tableCount: async () => (await pgServer.admin("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'users'"))[0].n as number,
      },
      {
        name: 'postgres/templated',
        config: pgStatementsConfig('tmpl'),
        secrets: { 'connection.password': pgServer.password },
        read: async (key) => (await pgServer.admin('SELECT * FROM users WHERE id = $1', [Number(key)], 'tmpl'))[0],
        tableCount: async () => (await pgServer.admin("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'users'", [], 'tmpl'))[0].n as number,
      },
      {
        name: 'mariadb/table',
        config: mariaTableConfig(),
        secrets: { 'connection.password': maria.password },
        read: async (key) => (await maria.admin<Record<string, unknown>>('SELECT * FROM users WHERE user_name = ?', [key]))[0],
        tableCount: async () => (await maria.admin<{ n: number }>("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'app' AND table_name = 'users'"))[0].n,
      },
      {
        name: 'sqlite/table',
        config: sqliteConfig(file),
        secrets: {},
        read: async (key) => lite.prepare('SELECT * FROM users WHERE id = ?').get(Number(key)) as Record<string, unknown> | undefined,
        tableCount: async () => (lite.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'users'").get() as { n: number }).n,
      },
    ];
    try {
      for (const s of setups) {
        const h = await host(s.config, s.secrets);
        try {
          for (const [i, evil] of INJECTIONS.entries()) {
            const user: TargetUser = {
              scimId: randomUUID(),
              externalId: evil,
              userName: `${evil}-${i}-${s.name}`,
              active: true,
              attributes: { given_name: evil, family_name: `${evil}'`, email: `x${i}@example.org` },
            };
            const { key } = await h.apply({ kind: 'createUser', operationId: op(), user });
            const row = await s.read(key!);
            expect(row, `${s.name}: ${evil}`).toBeDefined();
            expect(row!.user_name).toBe(user.userName);
            expect(row!.given_name).toBe(evil);
            expect(row!.family_name).toBe(`${evil}'`);
            expect(row!.external_id).toBe(evil);
            // The same user found again through the lookup, by userName and by externalId.
            expect((await h.findUser({ userName: user.userName }))?.key).toBe(key);
            expect((await h.findUser({ externalId: evil }))?.key).toBe(key);
          }
          expect(await s.tableCount()).toBe(1);
        } finally {
          await h.dispose();
        }
      }
    } finally {
      lite.close();
    }
  });
});

describe('sql: README examples', () => {
  /** The ```json blocks of README.md with the heading above each. */
  function readmeBlocks(): Array<{ heading: string; json: Record<string, unknown> }> {
    const text = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    const out: Array<{ heading: string; json: Record<string, unknown> }> = [];
    for (const m of text.matchAll(/```json\n([\s\S]*?)```/g)) {
      const heading = [...text.slice(0, m.index).matchAll(/^#+ (.*)$/gm)].pop()?.[1] ?? '';
      const body = m[1].trim();
      // Fragments (`"statements": {...}`) are wrapped to parse.
      out.push({ heading, json: JSON.parse(body.startsWith('"') ? `{${body}}` : body) as Record<string, unknown> });
    }
    return out;
  }

  it('every example config is valid, and the templated ones are the statements these tests run', () => {
    const configs: unknown[] = [];
    const fragments = new Map<string, unknown>();
    for (const { heading, json } of readmeBlocks()) {
      if (json.connections) {
        for (const c of Object.values(json.connections as Record<string, { connectors: Array<{ config: unknown }> }>)) configs.push(...c.connectors.map((x) => x.config));
      } else if (json.type === 'sql') configs.push(json.config);
      else if (json.statements) fragments.set(heading, json.statements);
    }
    expect(configs.length).toBeGreaterThanOrEqual(4);
    for (const config of configs) {
      // As the host does: a secret's place holds a reference ({"$env"}), never validated as a value.
      const c = structuredClone(config) as { connection: Record<string, unknown> };
      delete c.connection.password;
      const parsed = sqlConfigSchema.safeParse(c);
      expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    }
    const templated = configs.find((c) => (c as SqlConfig).statements) as SqlConfig;
    expect(templated.statements).toEqual(pgStatementsConfig('x').statements);
    expect(fragments.get('MySQL / MariaDB')).toEqual(mariaStatementsConfig('x').statements);
    expect(fragments.get('SQLite')).toEqual(sqliteStatementsConfig('x').statements);
  });
});

describe('sql: configuration is checked at start-up', () => {
  it('refuses a table or column name that is not a plain identifier, naming the key', async () => {
    const config = pgTableConfig();
    config.table!.users.table = 'users; DROP TABLE users; --';
    config.table!.users.columns = ['given_name', 'mail"'];
    const err = await host(config, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorConfigError);
    const message = (err as Error).message;
    expect(message).toContain('table.users.table');
    expect(message).toContain('is not an accepted table name');
    expect(message).toContain('table.users.columns.1');
  });

  it('refuses unknown placeholders, hand-written ? parameters and a listUsers that does not page', async () => {
    const config = pgStatementsConfig('tmpl');
    config.statements!.updateUser = 'UPDATE users SET user_name = :usrName WHERE id = :key';
    config.statements!.listUsers = 'SELECT id AS key FROM users';
    const err = await host(config, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorConfigError);
    expect((err as Error).message).toContain('statements.updateUser: unknown placeholder :usrName');
    expect((err as Error).message).toContain('listUsers must page');

    const my = { ...mariaTableConfig(), table: undefined, statements: { ...pgStatementsConfig('x').statements!, deleteUser: 'DELETE FROM users WHERE id = ?' } } as SqlConfig;
    const err2 = await host(my, {}).catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/statements\.deleteUser: positional parameter "\?"/);
  });

  it('refuses a target attribute that is not a column name at write time, saying to rename it', async () => {
    const file = join(sqliteDir, 'attr.db');
    new Database(file).exec(SQLITE_SCHEMA);
    const h = await host(sqliteConfig(file), {});
    try {
      const user = { ...sampleUser(1), attributes: { 'given-name; DROP TABLE users': 'x' } };
      const err = await h.apply({ kind: 'createUser', operationId: op(), user }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentError);
      expect((err as PermanentError).code).toBe('sql_bad_attribute');
      expect((err as Error).message).toContain("rename it in the connector's mapping");
    } finally {
      await h.dispose();
    }
  });
});

describe('sql: test(), preview and lookups', () => {
  it('test() names the server and a missing table or column', async () => {
    await pgTables();
    const config = pgTableConfig();
    config.table!.users.columns = ['given_name', 'mail'];
    config.table!.memberships!.table = 'no_such_table';
    const h = await host(config, { 'connection.password': pgServer.password });
    try {
      const result = await h.test();
      expect(result.ok).toBe(false);
      expect(result.message).toBe(`connected to postgres://scim@127.0.0.1:${pgServer.port}/app; table "users" has no column "mail"; table "no_such_table" does not exist`);
    } finally {
      await h.dispose();
    }
  });

  it('preview shows the SQL and its parameters, and runs nothing', async () => {
    await pgTables();
    const h = await host(pgTableConfig(), { 'connection.password': pgServer.password });
    try {
      const user = sampleUser(7);
      const plan = await h.dryRun({ kind: 'createUser', operationId: op(), user });
      expect(plan.detailed).toBe(true);
      const insert = plan.requests.find((r) => r.description.includes('insert the user'))!;
      expect(insert.description).toContain(`postgres://scim@127.0.0.1:${pgServer.port}/app`);
      const detail = insert.detail as { sql: string; params: unknown[] };
      expect(detail.sql).toMatch(/^INSERT INTO "users" \("user_name", "external_id", "scim_id", "active", "given_name", .*\) VALUES \(\$1, \$2, \$3, \$4, \$5, .*\) RETURNING "id"$/);
      expect(detail.params.slice(0, 5)).toEqual([user.userName, user.externalId, user.scimId, true, 'Ada']);
      expect(JSON.stringify(plan)).not.toContain(pgServer.password);
      expect((await pgServer.admin('SELECT count(*)::int AS n FROM users WHERE user_name = $1', [user.userName]))[0].n).toBe(0);
    } finally {
      await h.dispose();
    }
  });

  it('findUser ignores case; listUsers pages through more rows than a page', async () => {
    await pgTables();
    await pgServer.admin('TRUNCATE group_members, groups, users RESTART IDENTITY CASCADE');
    const h = await host(pgTableConfig(), { 'connection.password': pgServer.password });
    try {
      const keys: string[] = [];
      for (let i = 0; i < 5; i++) keys.push((await h.apply({ kind: 'createUser', operationId: op(), user: sampleUser(i) })).key!);
      const listed: string[] = [];
      for await (const e of h.listUsers()) listed.push(e.key);
      expect(listed).toEqual(keys);
      const [first] = await pgServer.admin<{ user_name: string }>('SELECT user_name FROM users WHERE id = $1', [Number(keys[0])]);
      const found = await h.findUser({ userName: first.user_name.toUpperCase() });
      expect(found?.key).toBe(keys[0]);
      expect(found?.user.attributes?.given_name).toBe('Ada');
    } finally {
      await h.dispose();
    }
  });

  it('groups and memberships without tables configured change nothing and say so in the preview', async () => {
    const config = pgTableConfig();
    delete config.table!.groups;
    delete config.table!.memberships;
    const h = await host(config, { 'connection.password': pgServer.password });
    try {
      const g = await h.apply({ kind: 'upsertGroup', operationId: op(), group: { scimId: 'g1', displayName: 'Ops', attributes: {} } });
      expect(g.key).toBe('unmanaged-group:g1');
      const plan = await h.dryRun({ kind: 'addMembers', operationId: op(), key: g.key!, memberKeys: ['1'] });
      expect(plan.summary).toContain('not configured');
    } finally {
      await h.dispose();
    }
  });
});

describe('sql: races and renames', () => {
  it('two gateways creating the same user at once end with one row and the same key', async () => {
    await pgTables();
    const [a, b] = await Promise.all([host(pgTableConfig(), { 'connection.password': pgServer.password }), host(pgTableConfig(), { 'connection.password': pgServer.password })]);
    try {
      for (let round = 0; round < 5; round++) {
        const user = sampleUser(round);
        const [ka, kb] = await Promise.all([a, b].map(async (h) => (await h.apply({ kind: 'createUser', operationId: op(), user })).key));
        expect(ka).toBe(kb);
        expect((await pgServer.admin('SELECT count(*)::int AS n FROM users WHERE user_name = $1', [user.userName]))[0].n).toBe(1);
      }
    } finally {
      await Promise.all([a.dispose(), b.dispose()]);
    }
  });

  it('MariaDB: renaming a user whose key is its userName moves its memberships along', async () => {
    await mariaTables();
    await maria.admin('DELETE FROM group_members');
    const h = await host(mariaTableConfig(), { 'connection.password': maria.password });
    try {
      const user = sampleUser(1);
      const { key } = await h.apply({ kind: 'createUser', operationId: op(), user });
      const { key: group } = await h.apply({ kind: 'upsertGroup', operationId: op(), group: { scimId: randomUUID(), displayName: 'Renamers', attributes: {} } });
      await h.apply({ kind: 'addMembers', operationId: op(), key: group!, memberKeys: [key!] });
      const renamed = await h.apply({ kind: 'updateUser', operationId: op(), key: key!, user: { ...user, userName: `${user.userName}.new` } });
      expect(renamed.key).toBe(`${user.userName}.new`);
      const members = await maria.admin<{ user_name: string }>('SELECT user_name FROM group_members WHERE group_id = ?', [Number(group)]);
      expect(members.map((m) => m.user_name)).toEqual([`${user.userName}.new`]);
    } finally {
      await h.dispose();
    }
  });
});

describe('sql: TLS with a CA file', () => {
  it('connects over verified TLS with connection.ssl.caFile, and refuses the certificate without it', async () => {
    await pgTables();
    const config = pgTableConfig();
    config.connection.ssl = { caFile, rejectUnauthorized: true };
    const h = await host(config, { 'connection.password': pgServer.password });
    try {
      const t = await h.test();
      expect(t.ok, t.message).toBe(true);
      await h.apply({ kind: 'createUser', operationId: op(), user: sampleUser(1) });
      // The pool keeps its connection open: the server says it is encrypted.
      const [row] = await pgServer.admin<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND usename = 'scim'");
      expect(row.n).toBeGreaterThan(0);
    } finally {
      await h.dispose();
    }

    config.connection.ssl = { rejectUnauthorized: true };
    const untrusted = await host(config, { 'connection.password': pgServer.password });
    try {
      const t = await untrusted.test();
      expect(t.ok).toBe(false);
      expect(t.message).toContain('TLS handshake failed');
      expect(t.message).toContain('connection.ssl.caFile');
      const err = await untrusted.apply({ kind: 'createUser', operationId: op(), user: sampleUser(2) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentError);
      expect((err as PermanentError).code).toBe('sql_tls');
    } finally {
      await untrusted.dispose();
    }

    config.connection.ssl = { caFile: join(sqliteDir, 'missing-ca.pem'), rejectUnauthorized: true };
    const missing = await host(config, { 'connection.password': pgServer.password });
    try {
      expect((await missing.test()).message).toContain('cannot read connection.ssl.caFile');
    } finally {
      await missing.dispose();
    }
  });
});

describe('sql: refusals are permanent and say what to fix', () => {
  it('a unique violation on another column names the constraint; NOT NULL names the column', async () => {
    await pgTables();
    await pgServer.admin('TRUNCATE group_members, groups, users RESTART IDENTITY CASCADE');
    await pgServer.admin('CREATE UNIQUE INDEX IF NOT EXISTS users_email_unique ON users (email)');
    const h = await host(pgTableConfig(), { 'connection.password': pgServer.password });
    try {
      const a = sampleUser(1);
      await h.apply({ kind: 'createUser', operationId: op(), user: a });
      const b = { ...sampleUser(2), attributes: { ...sampleUser(2).attributes, email: a.attributes.email } };
      const dup = await h.apply({ kind: 'createUser', operationId: op(), user: b }).catch((e: unknown) => e);
      expect(dup).toBeInstanceOf(PermanentError);
      expect((dup as PermanentError).code).toBe('sql_unique_violation');
      expect((dup as Error).message).toContain('unique constraint "users_email_unique" on (email)');

      await pgServer.admin('TRUNCATE group_members, groups, users RESTART IDENTITY CASCADE');
      await pgServer.admin('ALTER TABLE users ALTER COLUMN department SET NOT NULL');
      const nn = await h.apply({ kind: 'createUser', operationId: op(), user: sampleUser(3) }).catch((e: unknown) => e);
      expect(nn).toBeInstanceOf(PermanentError);
      expect((nn as Error).message).toContain('column "department" must not be NULL');
    } finally {
      await pgServer.admin('ALTER TABLE users ALTER COLUMN department DROP NOT NULL');
      await pgServer.admin('DROP INDEX users_email_unique');
      await h.dispose();
    }
  });

  it('MariaDB: an unknown column is permanent and named', async () => {
    await mariaTables();
    const config = mariaTableConfig();
    config.table!.users.columns = ['given_name', 'nickname'];
    const h = await host(config, { 'connection.password': maria.password });
    try {
      const err = await h.apply({ kind: 'createUser', operationId: op(), user: sampleUser(1) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentError);
      expect((err as PermanentError).code).toBe('sql_unknown_column');
      expect((err as Error).message).toContain("Unknown column 'nickname'");
    } finally {
      await h.dispose();
    }
  });

  it('a wrong password is a PermanentError naming the user and host, never the password', async () => {
    await Promise.all([pgTables(), mariaTables()]);
    for (const [config, real] of [
      [pgTableConfig(), pgServer.password],
      [mariaTableConfig(), maria.password],
    ] as const) {
      const wrong = 'Wr0ng-Pa55word!';
      const h = await host(config, { 'connection.password': wrong });
      try {
        const err = await h.apply({ kind: 'createUser', operationId: op(), user: sampleUser(1) }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PermanentError);
        expect(err).not.toBeInstanceOf(TransientError);
        expect((err as PermanentError).code).toBe('sql_auth_failed');
        const text = `${(err as Error).message}\n${(err as Error).stack}\n${String((err as Error).cause)}`;
        expect(text).toContain('authentication failed for user "scim" on host 127.0.0.1');
        expect(text).not.toContain(wrong);
        expect(text).not.toContain(real);
        const t = await h.test();
        expect(t.ok).toBe(false);
        expect(t.message).toContain('authentication failed for user "scim"');
        expect(t.message).not.toContain(wrong);
      } finally {
        await h.dispose();
      }
    }
    const none = await host(pgTableConfig(), {});
    try {
      expect((await none.test()).message).toContain('the server wants a password for user "scim" and none is set');
    } finally {
      await none.dispose();
    }
  });
});

describe('sql: a server that dies or stalls is transient', () => {
  it('PostgreSQL statement timeout while a row is locked -> TransientError', async () => {
    await pgTables();
    const h = await host({ ...pgTableConfig(), statementTimeoutMs: 300 }, { 'connection.password': pgServer.password });
    const { key } = await h.apply({ kind: 'createUser', operationId: op(), user: sampleUser(1) });
    const blocker = new pg.Client({ host: pgServer.dir, port: pgServer.port, user: 'postgres', database: 'app' });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT * FROM users WHERE id = $1 FOR UPDATE', [Number(key)]);
      const err = await h.apply({ kind: 'updateUser', operationId: op(), key: key!, user: sampleUser(1) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransientError);
      expect((err as Error).message).toContain('57014');
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
      await h.dispose();
    }
  });

  it('PostgreSQL killed mid-operation (kill -9) -> TransientError; works again after restart', async () => {
    await pgTables();
    const h = await host(pgTableConfig(), { 'connection.password': pgServer.password });
    try {
      const user = sampleUser(1);
      const { key } = await h.apply({ kind: 'createUser', operationId: op(), user });
      // Hold the row so the connector's update is in flight (waiting on the lock) when the server dies.
      const blocker = new pg.Client({ host: pgServer.dir, port: pgServer.port, user: 'postgres', database: 'app' });
      blocker.on('error', () => undefined);
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query('SELECT * FROM users WHERE id = $1 FOR UPDATE', [Number(key)]);
      const inFlight = h.apply({ kind: 'updateUser', operationId: op(), key: key!, user: { ...user, attributes: { ...user.attributes, given_name: 'Grace' } } }).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 300));
      await pgServer.kill();
      const err = await inFlight;
      await blocker.end().catch(() => undefined);
      expect(err).toBeInstanceOf(TransientError);
      // Idle pooled connections are dead too; the next call must also be transient, not a crash.
      const next = await h.apply({ kind: 'deleteUser', operationId: op(), key: key! }).catch((e: unknown) => e);
      expect(next).toBeInstanceOf(TransientError);
      expect((next as Error).message).toContain(`postgres://scim@127.0.0.1:${pgServer.port}/app`);
      await pgServer.start();
      await h.apply({ kind: 'updateUser', operationId: op(), key: key!, user: { ...user, attributes: { ...user.attributes, given_name: 'Grace' } } });
      expect((await pgServer.admin('SELECT given_name FROM users WHERE id = $1', [Number(key)]))[0].given_name).toBe('Grace');
    } finally {
      await pgServer.start();
      await h.dispose();
    }
  });

  it('MariaDB killed (kill -9) with pooled connections -> TransientError; works again after restart', async () => {
    await mariaTables();
    const h = await host(mariaTableConfig(), { 'connection.password': maria.password });
    try {
      const user = sampleUser(1);
      const { key } = await h.apply({ kind: 'createUser', operationId: op(), user });
      await maria.kill();
      const err = await h.apply({ kind: 'updateUser', operationId: op(), key: key!, user }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransientError);
      const listing = await (async () => {
        for await (const _ of h.listUsers()) void _;
      })().catch((e: unknown) => e);
      expect(listing).toBeInstanceOf(TransientError);
      await maria.start();
      await h.apply({ kind: 'deactivateUser', operationId: op(), key: key!, user: { ...user, active: false } });
      expect((await maria.admin<{ status: string }>('SELECT status FROM users WHERE user_name = ?', [key]))[0].status).toBe('disabled');
    } finally {
      await maria.start();
      await h.dispose();
    }
  });
});
