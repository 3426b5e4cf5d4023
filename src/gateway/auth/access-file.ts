/**
 * `access.json` in the data dir: connections and SCIM token records (hashes only). It is small
 * and shared between processes: the CLI edits it while a gateway runs, so every edit is a
 * locked read-modify-write with an atomic, fsynced replace, and the gateway reloads on change.
 */
import { chownSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readPrivateFile } from '../data-dir.js';

export const ACCESS_FILE = 'access.json';
const LOCK_FILE = 'access.lock';
const STALE_LOCK_MS = 10_000;

const tokenRecord = z.object({
  id: z.string(),
  name: z.string(),
  connection: z.string(),
  /** sha256 of the token, hex. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  /** The first characters of the token, safe to show (`scb_AbCd`). */
  prefix: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().optional(),
  lastUsedAt: z.string().optional(),
  revokedAt: z.string().optional(),
  /** Set by rotation: the token that replaces this one (which stays valid until its grace period ends). */
  replacedBy: z.string().optional(),
});
export type TokenRecord = z.infer<typeof tokenRecord>;

const connectionRecord = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  /** When the connection's IdP made its first authenticated request (Onyx's "Connected"). */
  firstRequestAt: z.string().optional(),
});
export type ConnectionRecord = z.infer<typeof connectionRecord>;

const accessData = z.object({
  format: z.literal(1),
  /** Counts edits, so a command can tell when the running gateway has read its own (access.seen). */
  revision: z.number().int().min(0).default(0),
  connections: z.array(connectionRecord),
  tokens: z.array(tokenRecord),
});
export type AccessData = z.infer<typeof accessData>;

function emptyAccess(): AccessData {
  return { format: 1, revision: 0, connections: [{ id: 'default', name: 'default', createdAt: new Date().toISOString() }], tokens: [] };
}

/**
 * Reads access.json; creates the default connection when the file does not exist yet. A file (or
 * data directory) another local user could have written is refused: their token would work.
 */
export function readAccess(dataDir: string): AccessData {
  const file = join(dataDir, ACCESS_FILE);
  const text = readPrivateFile(dataDir, ACCESS_FILE);
  if (text === undefined) return emptyAccess();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON; restore it from a backup of the data directory, or move it aside to start with no tokens (users and groups are kept).`);
  }
  const result = accessData.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`${file} is damaged at "${issue.path.join('.')}": ${issue.message}. Restore it from a backup.`);
  }
  return result.data;
}

/** Writes durably: temp file, fsync, rename, fsync the directory. */
export function writeFileDurably(dir: string, name: string, content: string, mode = 0o600): void {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  keepOwner(tmp, join(dir, name));
  renameSync(tmp, join(dir, name));
  if (process.platform === 'win32') return; // directories cannot be fsynced there
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** When root edits a service's file (`sudo scim-bridge token create`), the file keeps its owner,
 * so the service can still read it. */
function keepOwner(tmp: string, target: string): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  try {
    const s = statSync(target);
    if (s.uid !== 0 || s.gid !== 0) chownSync(tmp, s.uid, s.gid);
  } catch {
    /* new file: owned by whoever created it */
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The inode of an access.lock whose process is gone, else undefined. Without this, a gateway killed during an
 * edit (it writes last-used times every few seconds) could not start again for STALE_LOCK_MS,
 * longer than a start waits: the kill -9 test saw exactly that.
 */
function staleLock(lock: string): number | undefined {
  const s = statSync(lock);
  const age = Date.now() - s.mtimeMs;
  const text = readFileSync(lock, 'utf8').trim();
  let stale: boolean;
  if (age > STALE_LOCK_MS) stale = true;
  // killed between creating the file and writing its pid (a live holder writes it at once)
  else if (!/^\d+$/.test(text)) stale = age > 1_000;
  // edits here are synchronous, so a lock with our own pid is a previous incarnation's (a
  // container restarted with the same pid)
  else if (Number(text) === process.pid) stale = true;
  else {
    try {
      process.kill(Number(text), 0);
      stale = false;
    } catch (err) {
      stale = (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }
  return stale ? s.ino : undefined;
}

function acquireLock(dataDir: string): () => void {
  const lock = join(dataDir, LOCK_FILE);
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      const fd = openSync(lock, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        const stale = staleLock(lock);
        // left by a process that died mid-edit; removed only if it is still that file, not a
        // lock another process took over meanwhile
        if (stale !== undefined && statSync(lock).ino === stale) rmSync(lock, { force: true });
        if (stale !== undefined) continue;
      } catch {
        continue; // gone meanwhile: try again
      }
      if (Date.now() > deadline) throw new Error(`${lock} is held by another process; try again, or remove it if no scim-bridge process is running.`);
      sleepSync(20);
    }
  }
}

/** Locked read-modify-write of access.json. `edit` may return a value passed back to the caller. */
export function updateAccess<T>(dataDir: string, edit: (data: AccessData) => T): T {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const release = acquireLock(dataDir);
  try {
    const data = readAccess(dataDir);
    const result = edit(data);
    data.revision += 1;
    writeFileDurably(dataDir, ACCESS_FILE, JSON.stringify(data, null, 2) + '\n');
    return result;
  } finally {
    release();
  }
}

/** Identity of the file's current content and permissions (ctime: chmod, chown), to notice another process's edit cheaply. */
export function accessFileStamp(dataDir: string): string {
  try {
    const s = statSync(join(dataDir, ACCESS_FILE));
    return `${s.ino}:${s.mtimeMs}:${s.ctimeMs}:${s.size}`;
  } catch {
    return 'missing';
  }
}

/**
 * `access.seen`: which revision of access.json the running gateway (its pid) is enforcing. The
 * gateway writes it after each reload; a command that revoked a token waits for it.
 */
export const ACCESS_SEEN_FILE = 'access.seen';

const accessSeen = z.object({ pid: z.number().int().positive(), revision: z.number().int().min(0) });
export type AccessSeen = z.infer<typeof accessSeen>;

export function writeAccessSeen(dataDir: string, seen: AccessSeen): void {
  writeFileDurably(dataDir, ACCESS_SEEN_FILE, JSON.stringify(seen) + '\n');
}

/** What the gateway last said it enforces; undefined when no gateway has (or the file is unreadable). */
export function readAccessSeen(dataDir: string): AccessSeen | undefined {
  try {
    const parsed = accessSeen.safeParse(JSON.parse(readFileSync(join(dataDir, ACCESS_SEEN_FILE), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Removes access.seen if it is this process's (a gateway stopping). */
export function removeAccessSeen(dataDir: string, pid: number): void {
  if (readAccessSeen(dataDir)?.pid === pid) rmSync(join(dataDir, ACCESS_SEEN_FILE), { force: true });
}
