/**
 * Choosing the backend: the OS keychain when one answers, else the encrypted file with a loud
 * warning; or what the configuration forces. Plus copying between stores and the per-connector
 * view the connector host reads secrets through.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SECRET_SERVICE, secretAccount, parseSecretAccount } from './account.js';
import { SecretStoreError, type SecretStoreErrorCode } from './errors.js';
import { openFileSecretStore, SECRETS_FILE } from './file-store.js';
import { defaultKeychainLauncher, KeychainSecretStore, loadKeytar, locateKeytar, runKeychainChild, type KeychainChildLauncher } from './keychain-store.js';
import type { SecretBackendSetting, SecretsLogger, SecretStore } from './types.js';

/** Options of `openSecretStore`. */
export interface OpenSecretStoreOptions {
  dataDir: string;
  /** `secretsBackend` from the configuration; default `auto`. */
  backend?: SecretBackendSetting;
  /** Key file of the file backend; default `<dataDir>/secrets.key`. */
  keyFile?: string;
  logger?: SecretsLogger;
  /** Deadline of the keychain probe at open; default 5000 ms. */
  probeTimeoutMs?: number;
  /** Deadline of each keychain call afterwards; default 10000 ms. */
  opTimeoutMs?: number;
  /** Keychain service name; default `scim-bridge`. Tests use their own. */
  service?: string;
  /** Module specifier of keytar; default `keytar`. Tests name a missing one. */
  keytarModule?: string;
  /**
   * Starts the keychain check's child process. Default: Node's own binary; the desktop app
   * passes one built on Electron's utility process (its runAsNode fuse is off).
   */
  launchKeychainChild?: KeychainChildLauncher;
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

const silentLogger: SecretsLogger = { info: () => undefined, warn: () => undefined };

/** Why the keychain cannot be used, or the loaded keychain store. */
type KeychainAttempt = { ok: true; store: KeychainSecretStore } | { ok: false; reason: string; code: SecretStoreErrorCode };

async function tryKeychain(options: OpenSecretStoreOptions, requested: SecretBackendSetting): Promise<KeychainAttempt> {
  const located = locateKeytar(options.keytarModule);
  if (!located.ok) return { ok: false, code: 'keychain-unavailable', reason: located.reason };
  const probeTimeoutMs = options.probeTimeoutMs ?? 5_000;
  const service = options.service ?? SECRET_SERVICE;
  const launchChild = options.launchKeychainChild ?? defaultKeychainLauncher();
  const check = await runKeychainChild(located.path, service, 'probe', probeTimeoutMs, launchChild);
  if (!check.ok) return { ok: false, code: check.code, reason: check.reason };
  let api;
  try {
    api = await loadKeytar(located.path);
  } catch (err) {
    return { ok: false, code: 'keychain-unavailable', reason: `keytar could not be loaded: ${(err as Error).message}` };
  }
  const store = new KeychainSecretStore({ api, keytarPath: located.path, service, requested, opTimeoutMs: options.opTimeoutMs ?? 10_000, listTimeoutMs: Math.max(probeTimeoutMs, 10_000), ...(launchChild ? { launchChild } : {}) });
  return { ok: true, store };
}

/**
 * Opens the secret store for a data dir. `auto` uses the OS keychain when a probe (store, read
 * back, delete, in a child process with a deadline) succeeds, unless the encrypted file already
 * holds secrets; otherwise the encrypted file, with a warning logged here and returned by
 * `describe()`. `keychain` fails when no keychain answers; `file` never touches the keychain.
 */
export async function openSecretStore(options: OpenSecretStoreOptions): Promise<SecretStore> {
  const requested = options.backend ?? 'auto';
  const logger = options.logger ?? silentLogger;
  const openFile = (fallbackReason?: string) =>
    openFileSecretStore({ dataDir: options.dataDir, keyFile: options.keyFile, logger, requested, fallbackReason });

  if (requested === 'file') {
    const store = await openFile();
    logger.info({ secretsBackend: 'file', file: store.file, keyFile: store.keyFile }, 'connector secrets: encrypted file (forced by configuration)');
    return store;
  }

  if (requested === 'keychain') {
    const attempt = await tryKeychain(options, requested);
    if (!attempt.ok) {
      throw new SecretStoreError(
        attempt.code,
        `secretsBackend is "keychain" but ${attempt.reason}. Make a keychain reachable, or set secretsBackend to "auto" or "file" (see docs/secrets.md).`,
      );
    }
    logger.info({ secretsBackend: 'keychain', location: attempt.store.describe().location }, 'connector secrets: OS keychain');
    return attempt.store;
  }

  // auto: secrets already in the file stay in use there, so none silently disappear when a
  // keychain becomes reachable later; moving them is an explicit copySecrets.
  let count = 0;
  if (await fileExists(join(options.dataDir, SECRETS_FILE))) {
    const existing = await openFileSecretStore({ dataDir: options.dataDir, keyFile: options.keyFile });
    count = (await existing.list()).length;
    await existing.close();
  }
  let reason: string;
  if (count > 0) {
    reason = `it already holds ${count} secret${count === 1 ? '' : 's'} saved there earlier (to use the keychain, move them there as docs/secrets.md describes)`;
  } else {
    const attempt = await tryKeychain(options, requested);
    if (attempt.ok) {
      logger.info({ secretsBackend: 'keychain', location: attempt.store.describe().location }, 'connector secrets: OS keychain');
      return attempt.store;
    }
    reason = attempt.reason;
  }
  const store = await openFile(reason);
  const status = store.describe();
  logger.warn({ secretsBackend: 'file', file: status.file, keyFile: status.keyFile, reason }, status.warning);
  return store;
}

/** Result of `copySecrets`. */
export interface CopyResult {
  copied: string[];
  /** Accounts left alone because the target had them and `overwrite` was false. */
  skipped: string[];
}

/**
 * Copies every secret from one store to another (e.g. from the encrypted file into the keychain
 * once one is reachable). The source is left as it was: delete from it once the copy is checked.
 */
export async function copySecrets(from: SecretStore, to: SecretStore, options: { overwrite?: boolean } = {}): Promise<CopyResult> {
  const result: CopyResult = { copied: [], skipped: [] };
  for (const account of await from.list()) {
    if (options.overwrite === false && (await to.has(account))) {
      result.skipped.push(account);
      continue;
    }
    const value = await from.get(account);
    if (value === undefined) continue; // deleted meanwhile
    await to.set(account, value);
    result.copied.push(account);
  }
  return result;
}

/** What the connector host reads secrets through (the SDK's SecretReader). */
export interface ConnectorSecretReader {
  get(field: string): Promise<string | undefined>;
}

/** A connector instance's view of the store: field paths in, `<connectorId>:<field>` accounts used. */
export function connectorSecrets(store: SecretStore, connectorId: string): ConnectorSecretReader {
  return { get: async (field) => store.get(secretAccount(connectorId, field)) };
}

/** Removes every secret of a connector instance (when it is deleted); resolves to the accounts removed. */
export async function deleteConnectorSecrets(store: SecretStore, connectorId: string): Promise<string[]> {
  const removed: string[] = [];
  for (const account of await store.list()) {
    if (parseSecretAccount(account).connectorId !== connectorId) continue;
    if (await store.delete(account)) removed.push(account);
  }
  return removed;
}
