/**
 * The gateway's secret store for connector credentials: the only public surface of
 * src/gateway/secrets. See docs/secrets.md for where secrets live and how the backend is chosen.
 */
export { openSecretStore, copySecrets, connectorSecrets, deleteConnectorSecrets } from './open.js';
export type { OpenSecretStoreOptions, CopyResult, ConnectorSecretReader } from './open.js';
export { openFileSecretStore, readKeyFile, SECRETS_FILE, KEY_FILE } from './file-store.js';
export type { FileSecretStore, FileSecretStoreOptions, KeyRotation } from './file-store.js';
export { SECRET_SERVICE, MAX_SECRET_BYTES, secretAccount, parseSecretAccount, isSecretAccount } from './account.js';
export type { SecretAccount } from './account.js';
export { SecretStoreError } from './errors.js';
export type { SecretStoreErrorCode } from './errors.js';
export type { SecretBackend, SecretBackendSetting, SecretStore, SecretStoreStatus, SecretsLogger } from './types.js';
export type { KeychainChild, KeychainChildLauncher } from './keychain-store.js';

import { defaultKeychainLauncher, locateKeytar, runKeychainChild } from './keychain-store.js';
import { realIo, replaceFileDurably } from './durable.js';
import { sealEntry, openEntry, keyIdOf, FORMAT_NAME, FORMAT_VERSION, CIPHER } from './file-format.js';

/** Internals for tests; not for production code. */
export const testing = {
  locateKeytar,
  runKeychainChild,
  defaultKeychainLauncher,
  realIo,
  replaceFileDurably,
  sealEntry,
  openEntry,
  keyIdOf,
  FORMAT_NAME,
  FORMAT_VERSION,
  CIPHER,
};
export type { SecretsIo } from './durable.js';
export type { FileSecretStoreInternals } from './file-store.js';
