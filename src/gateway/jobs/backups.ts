/**
 * Backups of the data directory: a consistent store snapshot plus access.json, in
 * `<dataDir>/backups/<timestamp>/`, taken daily by the gateway (jobs/index.ts) or by
 * `scim-bridge backup` while it is stopped; pruned to the newest N; restored with
 * `scim-bridge restore`.
 */
import { copyFile, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '../store/index.js';

export const BACKUPS_DIR = 'backups';
/**
 * Files beside the store that a backup carries: tokens, console-managed connections, the admin
 * account, and the encrypted connector secrets. Never the secrets' key file: it is backed up
 * apart (docs/secrets.md), so one stolen backup does not open the secrets.
 */
const SIDE_FILES = ['access.json', 'connections.json', 'admin.json', 'secrets.enc.json'];

export interface BackupInfo {
  dir: string;
  takenAt: string;
  users: number;
  groups: number;
  bytes: number;
}

/** `2026-11-23T02-30-00.123Z`: sortable, and a valid file name on every platform. */
function stamp(d: Date): string {
  return d.toISOString().replace(/:/g, '-');
}

/** Takes a backup of an open store (and the files beside it) into `<root>/<timestamp>/`. */
export async function takeBackup(store: Store, dataDir: string, root = join(dataDir, BACKUPS_DIR)): Promise<BackupInfo> {
  const takenAt = new Date();
  const dir = join(root, stamp(takenAt));
  const partial = `${dir}.partial`;
  const result = await store.backup(partial);
  for (const name of SIDE_FILES) await copyIfPresent(join(dataDir, name), join(partial, name));
  // A backup appears under its final name only once complete.
  await rename(partial, dir);
  return { dir, takenAt: takenAt.toISOString(), users: result.users, groups: result.groups, bytes: result.bytes };
}

async function copyIfPresent(from: string, to: string): Promise<void> {
  try {
    await copyFile(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Complete backups in `root`, newest first. */
export async function listBackups(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => /^\d{4}-\d\d-\d\dT[\d-]+(\.\d+)?Z$/.test(n))
    .sort()
    .reverse()
    .map((n) => join(root, n));
}

/** Keeps the newest `keep` backups (and removes leftovers of interrupted ones). */
export async function pruneBackups(root: string, keep: number): Promise<string[]> {
  const all = await listBackups(root);
  const removed = all.slice(Math.max(0, keep));
  for (const dir of removed) await rm(dir, { recursive: true, force: true });
  try {
    for (const n of await readdir(root)) if (n.endsWith('.partial')) await rm(join(root, n), { recursive: true, force: true });
  } catch {
    /* no backups dir */
  }
  return removed;
}

/** The newest complete backup, for messages that tell an admin where to go back to. */
export async function latestBackup(dataDir: string): Promise<{ dir: string; takenAt: Date } | undefined> {
  const [dir] = await listBackups(join(dataDir, BACKUPS_DIR));
  if (!dir) return undefined;
  return { dir, takenAt: (await stat(join(dir, 'db.json'))).mtime };
}

/**
 * Replaces the data dir's store and the files beside it with a backup's. The replaced files are kept in
 * `<dataDir>/replaced-<timestamp>/`. The gateway must be stopped (the caller holds the store lock).
 */
export async function restoreBackup(dataDir: string, backupDir: string): Promise<{ replacedDir: string }> {
  await stat(join(backupDir, 'db.json')); // throws ENOENT with the path when it is not a backup
  const replacedDir = join(dataDir, `replaced-${stamp(new Date())}`);
  await mkdir(replacedDir, { recursive: true, mode: 0o700 });
  for (const name of await readdir(dataDir)) {
    if (name === 'db.json' || name.startsWith('store.journal') || SIDE_FILES.includes(name)) await rename(join(dataDir, name), join(replacedDir, name));
  }
  await copyFile(join(backupDir, 'db.json'), join(dataDir, 'db.json'));
  for (const name of SIDE_FILES) await copyIfPresent(join(backupDir, name), join(dataDir, name));
  return { replacedDir };
}
