/**
 * The file backend: `secrets.enc.json` in the data dir, every entry sealed with AES-256-GCM under
 * a 32-byte key kept in a separate 0600 key file (`secrets.key` by default, or a path given apart
 * so it can live off the data disk). Used where no OS keychain is reachable, or when forced.
 *
 * Every change is a read-modify-write under a lock file with a durable replace, and every read
 * re-reads the file when it changed on disk, so a CLI and a running gateway can share it.
 */
import * as fs from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { assertAccount, assertSecretValue, SECRET_SERVICE } from './account.js';
import { acquireFileLock, createFileDurably, isTempFileOf, realIo, replaceFileDurably, SerialQueue, syncDir, type FileOwner, type SecretsIo } from './durable.js';
import { SecretStoreError } from './errors.js';
import {
  emptySecretsFile,
  generateKey,
  keyFromBytes,
  openEntry,
  parseSecretsFile,
  sealEntry,
  serializeSecretsFile,
  type SecretsFileData,
  type SecretsKey,
} from './file-format.js';
import type { SecretBackendSetting, SecretsLogger, SecretStore, SecretStoreStatus } from './types.js';

/** The encrypted file's name in the data dir. */
export const SECRETS_FILE = 'secrets.enc.json';
/** The key file's default name in the data dir. */
export const KEY_FILE = 'secrets.key';

/** Options of `openFileSecretStore`. */
export interface FileSecretStoreOptions {
  dataDir: string;
  /** Where the key lives; default `<dataDir>/secrets.key`. */
  keyFile?: string;
  logger?: SecretsLogger;
  /** For describe(): the configured setting, and why the keychain was not used. */
  requested?: SecretBackendSetting;
  fallbackReason?: string;
}

/** Knobs for tests. */
export interface FileSecretStoreInternals {
  /** File operations, replaced to observe or break writes. */
  io?: SecretsIo;
}

/** Result of `rotateKey`. */
export interface KeyRotation {
  previousKeyId?: string;
  keyId: string;
  /** How many secrets were re-encrypted. */
  entries: number;
}

/** The file backend's store, with key rotation. */
export interface FileSecretStore extends SecretStore {
  readonly backend: 'file';
  readonly file: string;
  readonly keyFile: string;
  /** Re-encrypts every secret under a new key, then replaces the key file. */
  rotateKey(): Promise<KeyRotation>;
}

const silentLogger: SecretsLogger = { info: () => undefined, warn: () => undefined };

interface Snapshot {
  data: SecretsFileData;
  /** Identity of the file content read (`missing` when there is no file). */
  stamp: string;
}

async function stampOf(path: string): Promise<string> {
  try {
    const s = await fs.stat(path, { bigint: true });
    return `${s.ino}:${s.mtimeNs}:${s.ctimeNs}:${s.size}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
}

/** Reads a key file, refusing one that group or others may read; undefined when absent. */
export async function readKeyFile(keyFile: string): Promise<SecretsKey | undefined> {
  let st: import('node:fs').Stats;
  try {
    st = await fs.stat(keyFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (!st.isFile()) throw new SecretStoreError('key-file-invalid', `${keyFile} is not a regular file; it must hold the 32-byte secrets key.`);
  // Windows has no mode bits to check: there the key file relies on the profile directory's ACL.
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw new SecretStoreError(
      'key-file-permissions',
      `${keyFile} is accessible to group or others (mode ${mode}); the secrets key must be private to its owner. Run: chmod 600 ${keyFile}`,
    );
  }
  return keyFromBytes(await fs.readFile(keyFile), keyFile);
}

/**
 * When root writes (`sudo scim-bridge …`), the owner a file must keep so the service user can
 * still read it: the replaced file's owner, or for a new file its directory's. Undefined
 * otherwise (the file is simply ours).
 */
async function ownerToKeep(target: string): Promise<FileOwner | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  for (const path of [target, dirname(target)]) {
    try {
      const s = await fs.stat(path);
      return s.uid !== 0 || s.gid !== 0 ? { uid: s.uid, gid: s.gid } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return undefined;
}

class FileStore implements FileSecretStore {
  readonly backend = 'file' as const;
  readonly file: string;
  readonly keyFile: string;
  private readonly pendingKeyFile: string;
  private readonly lockFile: string;
  private readonly dataDir: string;
  private readonly io: SecretsIo;
  private readonly logger: SecretsLogger;
  private readonly requested: SecretBackendSetting;
  private readonly fallbackReason?: string;
  private readonly queue = new SerialQueue();
  private key?: SecretsKey;
  private snapshot: Snapshot = { data: emptySecretsFile(), stamp: 'unread' };
  private tempFilesSwept = false;
  private closed = false;

  constructor(options: FileSecretStoreOptions, internals: FileSecretStoreInternals) {
    this.dataDir = resolve(options.dataDir);
    this.file = join(this.dataDir, SECRETS_FILE);
    this.keyFile = resolve(options.keyFile ?? join(this.dataDir, KEY_FILE));
    this.pendingKeyFile = `${this.keyFile}.new`;
    this.lockFile = `${this.file}.lock`;
    this.io = internals.io ?? realIo;
    this.logger = options.logger ?? silentLogger;
    this.requested = options.requested ?? 'file';
    this.fallbackReason = options.fallbackReason;
  }

  /** Loads key and file, finishing a key rotation that a crash interrupted. */
  async open(): Promise<void> {
    const consistent = await this.tryLoad();
    if (consistent) return;
    await fs.mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    await this.withLock(async () => {
      await this.recoverRotation();
      if (!(await this.tryLoad())) await this.failMismatch();
    });
  }

  describe(): SecretStoreStatus {
    const status: SecretStoreStatus = {
      backend: 'file',
      requested: this.requested,
      service: SECRET_SERVICE,
      location: `encrypted file ${this.file} (key in ${this.keyFile})`,
      file: this.file,
      keyFile: this.keyFile,
    };
    if (this.fallbackReason !== undefined) {
      status.fallbackReason = this.fallbackReason;
      status.warning =
        `Connector secrets are kept in the encrypted file ${this.file} because ${this.fallbackReason}. ` +
        `Anyone who can read both that file and the key file ${this.keyFile} can read the secrets: keep the key file at mode 0600, ` +
        `back it up apart from the data directory, and see docs/secrets.md for moving secrets into an OS keychain.`;
    }
    return status;
  }

  async get(account: string): Promise<string | undefined> {
    this.assertOpen();
    assertAccount(account);
    const { data } = await this.read();
    const entry = Object.hasOwn(data.entries, account) ? data.entries[account] : undefined;
    if (!entry) return undefined;
    return openEntry(await this.keyFor(entry.kid), account, entry, this.file);
  }

  async has(account: string): Promise<boolean> {
    this.assertOpen();
    assertAccount(account);
    return Object.hasOwn((await this.read()).data.entries, account);
  }

  async list(): Promise<string[]> {
    this.assertOpen();
    return Object.keys((await this.read()).data.entries).sort();
  }

  async set(account: string, value: string): Promise<void> {
    this.assertOpen();
    assertAccount(account);
    assertSecretValue(account, value);
    await this.mutate(async (data, key) => {
      data.entries[account] = sealEntry(key, account, value);
      return true;
    });
  }

  async delete(account: string): Promise<boolean> {
    this.assertOpen();
    assertAccount(account);
    return this.mutate(async (data) => {
      if (!Object.hasOwn(data.entries, account)) return false;
      delete data.entries[account];
      return true;
    });
  }

  async rotateKey(): Promise<KeyRotation> {
    this.assertOpen();
    return this.queue.run(() =>
      this.withLock(async () => {
        await this.recoverRotation();
        const { data } = await this.readFresh();
        const oldKey = this.key;
        // Decrypt everything first: a damaged entry stops the rotation before anything changes.
        const plain = new Map<string, string>();
        for (const [account, entry] of Object.entries(data.entries)) plain.set(account, openEntry(await this.keyFor(entry.kid), account, entry, this.file));
        const next = generateKey();
        await fs.mkdir(dirname(this.keyFile), { recursive: true, mode: 0o700 });
        // Crash-safe order: new key beside the old, secrets under the new key, then the key swap.
        // A crash in between leaves `<keyFile>.new` matching the file; open() finishes the swap.
        await replaceFileDurably(this.io, this.pendingKeyFile, next.bytes, 0o600, await ownerToKeep(this.keyFile));
        const rotated = emptySecretsFile();
        for (const [account, value] of plain) rotated.entries[account] = sealEntry(next, account, value, new Date(data.entries[account].updatedAt));
        plain.clear();
        if (Object.keys(rotated.entries).length > 0 || (await stampOf(this.file)) !== 'missing') await this.writeFile(rotated);
        await this.io.rename(this.pendingKeyFile, this.keyFile);
        await syncDir(this.io, dirname(this.keyFile));
        this.key = next;
        const entries = Object.keys(rotated.entries).length;
        this.logger.info({ keyFile: this.keyFile, keyId: next.id, previousKeyId: oldKey?.id, entries }, 'secrets key rotated');
        return { previousKeyId: oldKey?.id, keyId: next.id, entries };
      }),
    );
  }

  async close(): Promise<void> {
    await this.queue.drain();
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('The secret store is closed.');
  }

  /** Loads the key and the file; false when they do not belong together (rotation or wrong key). */
  private async tryLoad(): Promise<boolean> {
    this.key = await readKeyFile(this.keyFile);
    const snap = await this.readSnapshot();
    const kids = new Set(Object.values(snap.data.entries).map((e) => e.kid));
    if (kids.size === 0) {
      this.snapshot = snap;
      return !(await this.exists(this.pendingKeyFile));
    }
    if (!this.key) {
      if (await this.exists(this.pendingKeyFile)) return false;
      throw new SecretStoreError(
        'key-file-invalid',
        `${this.file} holds encrypted secrets but the key file ${this.keyFile} is missing. Restore the key file from your backup (or point keyFile at it); without it the secrets cannot be read.`,
      );
    }
    this.snapshot = snap;
    return kids.size === 1 && kids.has(this.key.id) && !(await this.exists(this.pendingKeyFile));
  }

  /** Under the lock: completes or discards a rotation that a crash interrupted. */
  private async recoverRotation(): Promise<void> {
    const pending = await readKeyFile(this.pendingKeyFile);
    if (!pending) return;
    const snap = await this.readSnapshot();
    const kids = new Set(Object.values(snap.data.entries).map((e) => e.kid));
    if (kids.size > 0 && [...kids].every((k) => k === pending.id)) {
      // The secrets were re-encrypted under the new key before the crash: finish the swap.
      await this.io.rename(this.pendingKeyFile, this.keyFile);
      await syncDir(this.io, dirname(this.keyFile));
      this.logger.warn({ keyFile: this.keyFile, keyId: pending.id }, 'finished a secrets key rotation that was interrupted');
    } else {
      // The crash came before the secrets were rewritten: the old key still applies.
      await this.io.unlink(this.pendingKeyFile);
      this.logger.warn({ keyFile: this.pendingKeyFile }, 'removed the new key of a secrets key rotation that was interrupted before it changed anything');
    }
  }

  private async failMismatch(): Promise<never> {
    const kids = [...new Set(Object.values(this.snapshot.data.entries).map((e) => e.kid))];
    throw new SecretStoreError(
      'key-mismatch',
      `The key file ${this.keyFile} (key id ${this.key?.id ?? 'none'}) does not match ${this.file} (encrypted with key id ${kids.join(', ')}). ` +
        `Restore the key file that belongs to this secrets file, or move ${this.file} aside and set the secrets again.`,
    );
  }

  private async exists(path: string): Promise<boolean> {
    return (await stampOf(path)) !== 'missing';
  }

  private async readSnapshot(): Promise<Snapshot> {
    for (let attempt = 0; ; attempt++) {
      const stamp = await stampOf(this.file);
      if (stamp === 'missing') return { data: emptySecretsFile(), stamp };
      let text: string;
      try {
        text = await fs.readFile(this.file, 'utf8');
      } catch (err) {
        // Replaced between stat and read: read the new one.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 3) continue;
        throw err;
      }
      if ((await stampOf(this.file)) !== stamp && attempt < 3) continue;
      return { data: parseSecretsFile(text, this.file), stamp };
    }
  }

  /** The file's content, re-read only when it changed on disk (another process may write it). */
  private async read(): Promise<Snapshot> {
    if ((await stampOf(this.file)) !== this.snapshot.stamp) this.snapshot = await this.readSnapshot();
    return this.snapshot;
  }

  private async readFresh(): Promise<Snapshot> {
    this.snapshot = await this.readSnapshot();
    return this.snapshot;
  }

  /**
   * The key an entry was sealed with. Another process may have rotated the key since we loaded
   * it: re-read the key file, and during its last step the pending one, before calling it a mismatch.
   */
  private async keyFor(kid: string): Promise<SecretsKey> {
    if (this.key?.id === kid) return this.key;
    const current = await readKeyFile(this.keyFile);
    if (current) this.key = current;
    if (current?.id === kid) return current;
    const pending = await readKeyFile(this.pendingKeyFile).catch(() => undefined);
    if (pending?.id === kid) return pending;
    if (!current) {
      throw new SecretStoreError('key-file-invalid', `The key file ${this.keyFile} is missing; restore it from your backup to read the secrets in ${this.file}.`);
    }
    throw new SecretStoreError(
      'key-mismatch',
      `The key file ${this.keyFile} (key id ${current.id}) does not match the secrets in ${this.file} (key id ${kid}). Restore the key file that belongs to this secrets file.`,
    );
  }

  private async withLock<T>(task: () => Promise<T>): Promise<T> {
    await fs.mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const release = await acquireFileLock(this.lockFile);
    try {
      return await task();
    } finally {
      await release();
    }
  }

  /** The key for new entries, creating the key file on the first write. Under the lock. */
  private async ensureKey(): Promise<SecretsKey> {
    const onDisk = await readKeyFile(this.keyFile);
    if (onDisk) return (this.key = onDisk);
    await fs.mkdir(dirname(this.keyFile), { recursive: true, mode: 0o700 });
    const fresh = generateKey();
    if (await createFileDurably(this.io, this.keyFile, fresh.bytes, 0o600, await ownerToKeep(this.keyFile))) {
      this.logger.info({ keyFile: this.keyFile, keyId: fresh.id }, 'created the secrets key file');
      return (this.key = fresh);
    }
    const other = await readKeyFile(this.keyFile);
    if (!other) throw new SecretStoreError('key-file-invalid', `${this.keyFile} vanished while it was being created; try again.`);
    return (this.key = other);
  }

  /** Locked read-modify-write: `edit` changes a fresh copy and says whether to write it. */
  private mutate<T extends boolean>(edit: (data: SecretsFileData, key: SecretsKey) => Promise<T>): Promise<T> {
    return this.queue.run(() =>
      this.withLock(async () => {
        await this.recoverRotation();
        const { data } = await this.readFresh();
        for (const entry of Object.values(data.entries)) await this.keyFor(entry.kid);
        const key = await this.ensureKey();
        const copy: SecretsFileData = { ...data, entries: { ...data.entries } };
        const changed = await edit(copy, key);
        if (changed) await this.writeFile(copy);
        return changed;
      }),
    );
  }

  private async writeFile(data: SecretsFileData): Promise<void> {
    await this.sweepTempFiles();
    try {
      await replaceFileDurably(this.io, this.file, serializeSecretsFile(data), 0o600, await ownerToKeep(this.file));
    } finally {
      // Whatever happened, the next read goes to the disk.
      this.snapshot = { data: this.snapshot.data, stamp: 'unread' };
    }
    this.snapshot = { data, stamp: await stampOf(this.file) };
  }

  /** Removes temp files a crashed writer left (we hold the lock: no writer is active). */
  private async sweepTempFiles(): Promise<void> {
    if (this.tempFilesSwept) return;
    this.tempFilesSwept = true;
    for (const target of [this.file, this.keyFile, this.pendingKeyFile]) {
      const dir = dirname(target);
      let names: string[];
      try {
        names = await fs.readdir(dir);
      } catch {
        continue;
      }
      for (const name of names) if (isTempFileOf(target, name)) await fs.rm(join(dir, name), { force: true });
    }
  }
}

/** Opens (without creating anything yet) the encrypted-file store of a data dir. */
export async function openFileSecretStore(options: FileSecretStoreOptions, internals: FileSecretStoreInternals = {}): Promise<FileSecretStore> {
  const store = new FileStore(options, internals);
  await store.open();
  return store;
}
