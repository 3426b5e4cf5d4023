/**
 * Files for the `csv` connector: atomic rewrite (temp file in the same directory, fsync, rename,
 * fsync of the directory), writes serialised within the process, a lock file against another
 * gateway instance on the same file, and the one place where file-system errors become SDK errors.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { PermanentError, TransientError } from '../sdk/index.js';

/** errno codes that a retry may fix: a share that comes back, a full disk that gets space. */
const TRANSIENT_FS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EBUSY', 'EAGAIN', 'ESTALE', 'EMFILE', 'ENFILE', 'ETIMEDOUT', 'EHOSTDOWN', 'ENOTCONN']);

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Whether a directory exists (false also when the path is not a directory). */
async function directoryExists(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Maps a file-system error to an SDK error naming the path: a missing directory (an unmounted
 * share) and disk trouble are transient; permissions and the rest are permanent.
 */
export async function fsError(err: unknown, path: string, action: string): Promise<Error> {
  if (err instanceof TransientError || err instanceof PermanentError) return err;
  const code = errnoOf(err);
  const dir = dirname(path);
  if ((code === 'ENOENT' || code === 'ENOTDIR') && !(await directoryExists(dir))) {
    return new TransientError(`cannot ${action} ${path}: directory ${dir} does not exist (is the share mounted?)`, { code: 'directory_missing', cause: err });
  }
  if (code && TRANSIENT_FS.has(code)) return new TransientError(`cannot ${action} ${path}: ${code}`, { code: 'file_unavailable', cause: err });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new PermanentError(`cannot ${action} ${path}: ${code} (give the gateway's account write access to ${dir})`, { code: 'no_permission', cause: err });
  }
  return new PermanentError(`cannot ${action} ${path}: ${code ?? (err as Error)?.message ?? String(err)}`, { code: 'file_error', cause: err });
}

/** Reads a file as UTF-8; a missing file (in an existing directory) reads as undefined. */
export async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' && (await directoryExists(dirname(path)))) return undefined;
    throw await fsError(err, path, 'read');
  }
}

/**
 * Replaces a file atomically: readers see the old or the new content, never a half-written one,
 * and a crash at any instant leaves one of them. The file's mode is kept.
 */
export async function writeAtomic(path: string, content: string | Buffer): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let mode: number | undefined;
  try {
    mode = (await stat(path)).mode & 0o7777;
  } catch {
    mode = undefined;
  }
  try {
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode ?? 0o644);
    try {
      await fh.writeFile(content);
      if (mode !== undefined) await fh.chmod(mode); // open()'s mode is filtered by the umask
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw await fsError(err, path, 'write');
  }
  await syncDirectory(dir);
}

/** fsync of the directory makes the rename durable (POSIX); Windows cannot open a directory for it. */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync();
  } catch {
    // Some file systems (certain network mounts) refuse fsync on a directory; the rename stands.
  } finally {
    await fh.close();
  }
}

/** What the lock holds: who took it, for the message another instance shows. */
interface LockOwner {
  pid: number;
  host: string;
  at: string;
  token: string;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return errnoOf(err) === 'EPERM';
  }
}

/** Options of the lock. */
export interface LockOptions {
  /** How long to wait for another holder before giving up with a TransientError. */
  timeoutMs: number;
  /** A lock older than this is taken over (its holder hung or died on another host). */
  staleMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The lock directory's owner (absent while it is being written) and the directory's age. */
async function readLock(lockDir: string): Promise<{ exists: boolean; owner?: LockOwner; mtimeMs?: number }> {
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(lockDir)).mtimeMs;
  } catch {
    return { exists: false };
  }
  try {
    return { exists: true, owner: JSON.parse(await readFile(join(lockDir, 'owner.json'), 'utf8')) as LockOwner, mtimeMs };
  } catch {
    return { exists: true, mtimeMs };
  }
}

async function removeLock(lockDir: string): Promise<void> {
  await rm(lockDir, { recursive: true, force: true }).catch(() => {});
}

/**
 * Removes a lock judged stale, one breaker at a time (`<lock>.break`, also by mkdir): without
 * that, two writers that judged the same lock stale could each remove it, the second one
 * removing the fresh lock the first had taken meanwhile. Under the breaker the lock is read again
 * and removed only if it is still the one judged stale.
 */
async function breakStaleLock(lockDir: string, judged: { owner?: LockOwner; mtimeMs?: number }): Promise<void> {
  const breaker = `${lockDir}.break`;
  try {
    await mkdir(breaker);
  } catch {
    // Someone else is breaking it; a breaker left by a crash is itself cleared after a while.
    const info = await stat(breaker).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > 10_000) await rm(breaker, { recursive: true, force: true }).catch(() => {});
    await sleep(10);
    return;
  }
  try {
    const again = await readLock(lockDir);
    if (again.exists && again.mtimeMs === judged.mtimeMs && again.owner?.token === judged.owner?.token) await removeLock(lockDir);
  } finally {
    await rm(breaker, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * Takes the lock `<path>.lock` (a directory: mkdir is atomic on local and network file systems,
 * where O_EXCL is not always), runs `fn`, removes the lock. A lock whose holder is a dead process
 * on this host, or older than `staleMs`, is taken over (one breaker at a time). See
 * docs/decisions/0009-rest-templates-and-csv-lock.md for why this is hand-written.
 */
export async function withLockFile<T>(path: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lockDir = `${path}.lock`;
  const me: LockOwner = { pid: process.pid, host: hostname(), at: new Date().toISOString(), token: randomBytes(8).toString('hex') };
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    let created = false;
    try {
      await mkdir(lockDir);
      created = true;
      await writeFile(join(lockDir, 'owner.json'), JSON.stringify(me));
      break;
    } catch (err) {
      if (created) await removeLock(lockDir);
      if (errnoOf(err) !== 'EEXIST') throw await fsError(err, lockDir, 'create the lock');
    }
    const { exists, owner, mtimeMs } = await readLock(lockDir);
    if (!exists) continue;
    const age = mtimeMs === undefined ? 0 : Date.now() - mtimeMs;
    const deadHere = owner !== undefined && owner.host === me.host && !pidAlive(owner.pid);
    if (deadHere || age > options.staleMs) {
      await breakStaleLock(lockDir, { owner, mtimeMs });
      continue;
    }
    if (Date.now() >= deadline) {
      const who = owner ? `process ${owner.pid} on ${owner.host} since ${owner.at}` : 'another process';
      throw new TransientError(`${path} is locked by ${who} (lock ${lockDir}); waited ${options.timeoutMs} ms`, { code: 'locked' });
    }
    await sleep(20 + Math.floor(Math.random() * 40));
  }
  try {
    return await fn();
  } finally {
    const { owner } = await readLock(lockDir);
    if (owner?.token === me.token) await removeLock(lockDir);
  }
}

/** Writes to the same file from this process run one at a time (the lock file handles other processes). */
const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier call for `key` has settled. */
export function serialised<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return run;
}

/** Checks that a directory takes a new file (a probe, as permissions alone do not tell; root passes every access check). */
export async function probeWritable(dir: string): Promise<void> {
  const probe = join(dir, `.scim-bridge-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fh = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    await fh.close();
  } catch (err) {
    throw await fsError(err, probe, 'create a file in');
  }
  await unlink(probe).catch(() => {});
}
