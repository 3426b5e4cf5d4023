/**
 * `store.lock`: one gateway per data directory. Created with O_EXCL and holding the owner's pid;
 * a lock whose pid is no longer running (a gateway that crashed or was killed) is stale and
 * taken over.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const LOCK_FILE = 'store.lock';

/** Locks held by this process: our own pid in a lock we do not hold is a previous incarnation
 * (containers often give the gateway the same pid after a restart). */
const held = new Set<string>();

interface LockHolder {
  pid: number;
  host?: string;
}

function parseHolder(text: string): LockHolder | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return { pid: Number(t) };
  try {
    const v = JSON.parse(t) as Partial<LockHolder>;
    if (Number.isSafeInteger(v.pid) && (v.pid as number) > 0) return { pid: v.pid as number, host: typeof v.host === 'string' ? v.host : undefined };
  } catch {
    // unreadable: treated as an interrupted lock creation below
  }
  return undefined;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock that cannot be taken: names the process holding it. */
export class StoreLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    host?: string,
  ) {
    super(
      `The data directory ${dataDir} is in use by process ${pid}${host ? ` on ${host}` : ''} (${LOCK_FILE}); ` +
        'two gateways cannot share one store. Stop that process first; if it is not a gateway, delete the lock file.',
    );
    this.name = 'StoreLockedError';
  }
}

export interface AcquiredLock {
  path: string;
  /** Set when a stale lock was taken over: its pid. */
  tookOverFrom?: number;
  release(): Promise<void>;
}

/** Takes the data directory's lock, or throws StoreLockedError naming the pid that holds it. */
export async function acquireLock(dataDir: string): Promise<AcquiredLock> {
  const path = join(dataDir, LOCK_FILE);
  const me = hostname();
  let tookOverFrom: number | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const h = await open(path, 'wx', 0o600);
      try {
        await h.writeFile(JSON.stringify({ pid: process.pid, host: me, since: new Date().toISOString() }) + '\n');
        await h.sync();
      } finally {
        await h.close();
      }
      held.add(path);
      return {
        path,
        tookOverFrom,
        release: async () => {
          held.delete(path);
          const text = await readFile(path, 'utf8').catch(() => '');
          if (parseHolder(text)?.pid === process.pid) await rm(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = parseHolder(await readFile(path, 'utf8').catch(() => ''));
    if (!holder) {
      // possibly a lock being written this instant by another process: look again shortly
      await sleep(100);
      holder = parseHolder(await readFile(path, 'utf8').catch(() => ''));
    }
    if (holder) {
      if (holder.host !== undefined && holder.host !== me) throw new StoreLockedError(dataDir, holder.pid, holder.host);
      const ours = holder.pid === process.pid;
      if ((ours && held.has(path)) || (!ours && isRunning(holder.pid))) throw new StoreLockedError(dataDir, holder.pid);
      tookOverFrom = holder.pid;
    }
    // stale (dead pid, or empty/garbled): remove and retry the exclusive create
    await rm(path, { force: true });
  }
  throw new Error(`Could not take the lock ${path}: it keeps reappearing.`);
}
