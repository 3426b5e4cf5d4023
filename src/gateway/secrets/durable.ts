/**
 * Durable file replacement and a cross-process lock for the encrypted secrets file. The CLI may
 * set a secret while the gateway runs, so every change is a locked read-modify-write whose new
 * content replaces the old in one rename: a reader sees the old file or the new one, never half.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SecretStoreError } from './errors.js';

/** File operations, replaceable by tests to observe their order or inject failures. */
export interface SecretsIo {
  open(path: string, flags: string, mode?: number): Promise<FileHandle>;
  rename(from: string, to: string): Promise<void>;
  link(existing: string, target: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

/** The real file system. */
export const realIo: SecretsIo = {
  open: (path, flags, mode) => fs.open(path, flags, mode),
  rename: (from, to) => fs.rename(from, to),
  link: (existing, target) => fs.link(existing, target),
  unlink: (path) => fs.unlink(path),
};

/** A temp name beside `target`, unique per process and call. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Whether `name` is a temp file `tempPathFor(target)` would make (left behind by a crash). */
export function isTempFileOf(target: string, name: string): boolean {
  const prefix = `.${basename(target)}.`;
  return name.startsWith(prefix) && name.endsWith('.tmp');
}

/** Who a written file should belong to (set when root writes a service user's files). */
export interface FileOwner {
  uid: number;
  gid: number;
}

/** Writes `data` to a new file and fsyncs it before closing. */
async function writeSynced(io: SecretsIo, path: string, data: Buffer, mode: number, owner?: FileOwner): Promise<void> {
  const handle = await io.open(path, 'wx', mode);
  try {
    await handle.chmod(mode); // the umask must not widen or narrow what we ask for
    if (owner) await handle.chown(owner.uid, owner.gid); // before the rename: never visible as root's
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsyncs a directory so a rename or link in it survives a power cut. */
export async function syncDir(io: SecretsIo, dir: string): Promise<void> {
  if (process.platform === 'win32') return; // directories cannot be opened for fsync there
  const handle = await io.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `target` durably: temp file, fsync, rename over the target, fsync the directory. */
export async function replaceFileDurably(io: SecretsIo, target: string, data: Buffer, mode = 0o600, owner?: FileOwner): Promise<void> {
  const tmp = tempPathFor(target);
  try {
    await writeSynced(io, tmp, data, mode, owner);
    await io.rename(tmp, target);
  } catch (err) {
    await io.unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(io, dirname(target));
}

/**
 * Creates `target` durably only if it does not exist yet (a link does not replace): resolves to
 * false when another process created it first.
 */
export async function createFileDurably(io: SecretsIo, target: string, data: Buffer, mode = 0o600, owner?: FileOwner): Promise<boolean> {
  const tmp = tempPathFor(target);
  try {
    await writeSynced(io, tmp, data, mode, owner);
    try {
      await io.link(tmp, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  } finally {
    await io.unlink(tmp).catch(() => undefined);
  }
  await syncDir(io, dirname(target));
  return true;
}

const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 5_000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a lock file was left by a process that died, or is older than any real holder. */
async function isStale(lock: string): Promise<boolean> {
  try {
    const [text, s] = await Promise.all([fs.readFile(lock, 'utf8'), fs.stat(lock)]);
    const pid = Number.parseInt(text, 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid)) return true;
    return Date.now() - s.mtimeMs > STALE_LOCK_MS;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** Takes `lock` (O_EXCL create), waiting up to 5 s; resolves to its release function. */
export async function acquireFileLock(lock: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await fs.open(lock, 'wx', 0o600);
      try {
        await handle.writeFile(String(process.pid));
      } finally {
        await handle.close();
      }
      return () => fs.rm(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await isStale(lock)) {
      await fs.rm(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new SecretStoreError('locked-by-other-process', `${lock} is held by another process; try again, or remove it if no scim-bridge process is running.`);
    }
    await new Promise((r) => setTimeout(r, 15 + Math.random() * 20));
  }
}

/** Runs tasks one after another (per store instance), whatever each one's outcome. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every task queued so far has settled. */
  async drain(): Promise<void> {
    await this.tail;
  }
}
