/**
 * The PostgreSQL store: public surface of store/postgres (re-exported by ../index.ts).
 * Several gateway instances may share one database; see docs/scaling.md.
 */
export { PostgresStore, readSnapshot } from './postgres-store.js';
export type { PostgresStoreOptions, PostgresStoreLogger } from './postgres-store.js';
export { PostgresAuditLog, writePostgresAuditFiles } from './audit-log.js';
export { redactUrl, redactMessage, checkDatabaseUrl } from './connection.js';
export { readInstanceId } from './instance-id.js';
export type { PasswordSource } from './connection.js';
export { MIGRATIONS } from './migrations.js';
export { migrateLowdbToPostgres } from './migrate-lowdb.js';
export type { MigrateOptions, MigrationReport } from './migrate-lowdb.js';
