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
const LOCK_WAIT_MS = 15_000;
/** A lock file with no content yet is being written by its creator; only this old is it garbage. */
const UNWRITTEN_LOCK_MS = 2_000;
/** A breaker file this old was left by a process that died while breaking a stale lock. */
const STALE_BREAKER_MS = 5_000;

/** Tokens of the locks this process holds (two stores in one process tell each other apart). */
const heldTokens = new Set<string>();

interface LockState {
  ino: bigint;
  mtimeMs: number;
  pid?: number;
  token?: string;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads the lock through one handle, so identity and content belong to the same file. */
async function readLock(lock: string): Promise<LockState | undefined> {
  let handle: FileHandle;
  try {
    handle = await fs.open(lock, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = await handle.stat({ bigint: true });
    const [pidText, token] = (await handle.readFile('utf8')).trim().split(' ');
    const pid = Number.parseInt(pidText ?? '', 10);
    return { ino: st.ino, mtimeMs: Number(st.mtimeMs), pid: Number.isInteger(pid) && pid > 0 ? pid : undefined, token };
  } finally {
    await handle.close();
  }
}

/** Whether a lock's holder is gone: a dead pid, our own pid without our token (a previous incarnation, as in containers), or far too old. */
function isStale(state: LockState): boolean {
  if (state.token !== undefined && heldTokens.has(state.token)) return false;
  const age = Date.now() - state.mtimeMs;
  if (state.pid === undefined) return age > UNWRITTEN_LOCK_MS;
  if (state.pid === process.pid) return true;
  if (!pidAlive(state.pid)) return true;
  return age > STALE_LOCK_MS;
}

/**
 * Removes a stale lock, one breaker at a time (false when another process is at it): two waiters that both judged it stale must not
 * both remove "it", or the second removes the lock the first has just taken. The breaker
 * re-reads the lock under its own O_EXCL file and removes it only if it is still the same file.
 */
async function breakStaleLock(lock: string, judged: LockState): Promise<boolean> {
  const breaker = `${lock}.break`;
  let handle: FileHandle;
  try {
    handle = await fs.open(breaker, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const st = await fs.stat(breaker).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > STALE_BREAKER_MS) await fs.rm(breaker, { force: true });
    return false; // another process is breaking it: wait like any waiter
  }
  await handle.close();
  try {
    const now = await readLock(lock);
    if (now && now.ino === judged.ino && isStale(now)) await fs.rm(lock, { force: true });
  } finally {
    await fs.rm(breaker, { force: true });
  }
  return true;
}

/** Takes `lock` (O_EXCL create holding pid and a token), waiting up to 15 s; resolves to its release function. */
export async function acquireFileLock(lock: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  const token = randomBytes(8).toString('hex');
  for (;;) {
    try {
      const handle = await fs.open(lock, 'wx', 0o600);
      heldTokens.add(token);
      try {
        await handle.writeFile(`${process.pid} ${token}\n`);
      } finally {
        await handle.close();
      }
      return async () => {
        try {
          // Remove only our own lock, should a stuck write have been judged stale and taken over.
          if ((await readLock(lock).catch(() => undefined))?.token === token) await fs.rm(lock, { force: true });
        } finally {
          // Only now: while the token is held, peers in this process see the lock as live, not as
          // a previous incarnation's (same pid) to break, which would let this rm hit their lock.
          heldTokens.delete(token);
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const state = await readLock(lock);
    if (!state) continue; // released meanwhile: try again at once
    if (isStale(state) && (await breakStaleLock(lock, state))) continue;
    if (Date.now() > deadline) {
      throw new SecretStoreError(
        'locked-by-other-process',
        `${lock} is held by process ${state.pid ?? 'unknown'}; try again, or remove the file if no scim-bridge process is running.`,
      );
    }
    await new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
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
