/**
 * The store: public surface. `createLowdbStore` is the embedded default (in-memory indexes,
 * fsynced journal, lowdb snapshot); code outside store/ sees only the Store interface.
 */
import { LowdbStore, type LowdbStoreInternals, type LowdbStoreOptions } from './lowdb-store.js';
import type { Store } from './types.js';
import { PostgresStore, type PostgresStoreOptions } from './postgres/index.js';

export type * from './types.js';
export type { LowdbStoreOptions, StoreLogger } from './lowdb-store.js';
export { DEFAULT_COMPACT_AFTER_BYTES } from './lowdb-store.js';
/** The data directory's lock, for maintenance that must not run beside a gateway (restore). */
export { acquireLock as acquireStoreLock, StoreLockedError } from './lock.js';

/** Creates the embedded store over a data directory; call open() before use and close() at shutdown. */
export function createLowdbStore(options: LowdbStoreOptions): Store {
  return new LowdbStore(options);
}

/**
 * Creates the PostgreSQL store (several gateway instances on one database): open() runs the
 * schema migrations. Its `auditLog` is the gateway's audit log when this store is used.
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  return new PostgresStore(options);
}
export type { PostgresStore, PostgresStoreOptions, PasswordSource } from './postgres/index.js';
export { redactUrl as redactDatabaseUrl, readSnapshot, migrateLowdbToPostgres, writePostgresAuditFiles, readInstanceId } from './postgres/index.js';
export type { MigrationReport } from './postgres/index.js';

/** Internals for tests and benchmarks; not for production code. */
export const testing = {
  /** A store with fault injection (io) and access to compaction and journal state. */
  createLowdbStore(options: LowdbStoreOptions, internals: LowdbStoreInternals = {}): LowdbStore {
    return new LowdbStore(options, internals);
  },
};
export type { LowdbStore, LowdbStoreInternals } from './lowdb-store.js';
export type { StoreIo } from './snapshot.js';
