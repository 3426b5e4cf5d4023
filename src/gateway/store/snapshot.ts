/**
 * db.json: the snapshot, read and written through lowdb's `Low` with an adapter that writes
 * atomically and durably (temp file in the same directory, fsync, rename, fsync the directory).
 * lowdb's own TextFile adapter (steno) renames without any fsync: after a power cut the file can
 * be empty or old. The writer serialises in slices and yields to the event loop between them, so
 * a 100k-user snapshot does not stall requests.
 */
import { open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Adapter } from 'lowdb';
import type { Member, StoredResource, OutboxEntry } from './types.js';

export const SNAPSHOT_FILE = 'db.json';
const DEFAULT_CHUNK_BYTES = 256 * 1024;
export const SNAPSHOT_FORMAT = 1;

export interface SnapshotConnection {
  users: StoredResource[];
  groups: StoredResource[];
  /** group id -> members in insertion order */
  members: Record<string, readonly Member[]>;
  /** Soft-deleted resources (absent in snapshots from before soft delete). */
  deleted?: StoredResource[];
}

export interface SnapshotData {
  format: typeof SNAPSHOT_FORMAT;
  /** The last journal seq the snapshot includes: replay skips lines at or below it. */
  seq: number;
  savedAt?: string;
  connections: Record<string, SnapshotConnection>;
  /** Undelivered connector operations, oldest first (absent in snapshots from before the outbox). */
  outbox?: OutboxEntry[];
  /** [linkKey, target key] pairs. */
  links?: Array<[string, string]>;
}

/** The file operations the store's durability depends on; tests replace them to simulate a full disk. */
export interface StoreIo {
  write(handle: FileHandle, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  datasync(handle: FileHandle): Promise<void>;
  truncate(handle: FileHandle, length: number): Promise<void>;
}

export const nodeIo: StoreIo = {
  write: async (h, buffer, offset, length, position) => (await h.write(buffer, offset, length, position)).bytesWritten,
  datasync: (h) => h.datasync(),
  truncate: (h, length) => h.truncate(length),
};

/** Writes the whole buffer at `position`, looping over short writes. */
export async function writeFully(io: StoreIo, h: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const n = await io.write(h, buf, done, buf.length - done, position + done);
    if (n <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
    done += n;
  }
}

/** fsync of a directory, so that a create, rename or unlink in it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; NTFS makes the rename durable with the file's flush.
  if (process.platform === 'win32') return;
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Temp files of an interrupted snapshot write are `db.json.<pid>.<n>.tmp`. */
export function isSnapshotTemp(name: string): boolean {
  return name.startsWith(`${SNAPSHOT_FILE}.`) && name.endsWith('.tmp');
}

export interface DurableJsonFileOptions {
  fsync: boolean;
  io?: StoreIo;
  /** Bytes per write; also the granularity of yielding to the event loop. */
  chunkBytes?: number;
  /** Longest synchronous serialisation slice before yielding, in ms. */
  sliceMs?: number;
  /** fdatasync the temp file every this many bytes, so that the final fsync (and the journal's
   * fsyncs, which on ext4 may have to flush it too) never meet hundreds of MB of dirty pages. */
  syncEveryBytes?: number;
}

/** A lowdb Adapter for big JSON documents that must survive power loss. */
export class DurableJsonFile<T> implements Adapter<T> {
  /** Called after the temp file is durable, before it replaces the file; throwing aborts the write. */
  beforeReplace?: () => Promise<void>;
  /** Size of the file after the last read or write. */
  size = 0;
  private readonly io: StoreIo;
  private tmpCounter = 0;

  constructor(
    readonly path: string,
    private readonly options: DurableJsonFileOptions,
  ) {
    this.io = options.io ?? nodeIo;
  }

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new Error(`${basename(this.path)} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); the store was not opened.`);
    }
    this.size = Buffer.byteLength(text);
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new Error(
        `${basename(this.path)} is corrupt (${(err as Error).message}); the store was not opened. Restore the last backup, or move db.json and every store.journal* file aside together to start empty.`,
      );
    }
  }

  async write(data: T): Promise<void> {
    const tmp = join(dirname(this.path), `${basename(this.path)}.${process.pid}.${++this.tmpCounter}.tmp`);
    const fsync = this.options.fsync;
    const syncEvery = this.options.syncEveryBytes ?? 1024 * 1024;
    let h: FileHandle | undefined = await open(tmp, 'w', 0o600);
    // one reused buffer for the whole file: per-chunk Buffers fragment the malloc heap (RSS)
    const chunkBytes = this.options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    const scratch = Buffer.allocUnsafe(chunkBytes * 3 + 4096);
    try {
      let pos = 0;
      let sinceSync = 0;
      const handle = h;
      await serializeChunked(
        data,
        async (chunk) => {
          const fits = chunk.length * 3 <= scratch.length;
          const buf = fits ? scratch.subarray(0, scratch.write(chunk, 0, 'utf8')) : Buffer.from(chunk, 'utf8');
          await writeFully(this.io, handle, buf, pos);
          pos += buf.length;
          sinceSync += buf.length;
          if (fsync && sinceSync >= syncEvery) {
            await this.io.datasync(handle);
            sinceSync = 0;
          }
        },
        { chunkBytes, sliceMs: this.options.sliceMs },
      );
      if (fsync) await this.io.datasync(h);
      await h.close();
      h = undefined;
      await this.beforeReplace?.();
      await rename(tmp, this.path);
      this.size = pos;
      // The rename is only durable once the directory is: until then the old db.json (and the
      // journal segments it needs) must stay, which the caller ensures by treating a throw as failure.
      if (fsync) await fsyncDir(dirname(this.path));
    } catch (err) {
      await h?.close().catch(() => undefined);
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
  }
}

function isPlainRecord(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  // null-prototype records are what the store builds, so that an id like "__proto__" is just a key
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/**
 * JSON.stringify, streamed: arrays are written element by element and objects down to depth 3
 * key by key, everything else with one JSON.stringify. Yields to the event loop whenever a slice
 * ran longer than `sliceMs` and hands `sink` chunks of about `chunkBytes`.
 */
export async function serializeChunked(
  value: unknown,
  sink: (chunk: string) => Promise<void>,
  opts: { chunkBytes?: number; sliceMs?: number } = {},
): Promise<void> {
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const sliceMs = opts.sliceMs ?? 4;
  let parts: string[] = [];
  let size = 0;
  let sliceStart = performance.now();
  let sinceCheck = 0;

  const emit = async (s: string): Promise<void> => {
    parts.push(s);
    size += s.length;
    if (size >= chunkBytes) {
      const chunk = parts.join('');
      parts = [];
      size = 0;
      await sink(chunk);
      sliceStart = performance.now();
    } else if (++sinceCheck >= 64) {
      sinceCheck = 0;
      if (performance.now() - sliceStart > sliceMs) {
        await yieldToLoop();
        sliceStart = performance.now();
      }
    }
  };

  const walk = async (v: unknown, depth: number): Promise<void> => {
    if (Array.isArray(v)) {
      await emit('[');
      for (let i = 0; i < v.length; i++) {
        const el: unknown = v[i];
        const prefix = i === 0 ? '' : ',';
        if (Array.isArray(el)) {
          if (prefix) await emit(prefix);
          await walk(el, depth + 1);
        } else {
          // undefined and functions become null inside arrays, as JSON.stringify does
          await emit(prefix + (JSON.stringify(el) ?? 'null'));
        }
      }
      await emit(']');
      return;
    }
    if (typeof v === 'object' && v !== null && depth <= 3 && isPlainRecord(v)) {
      await emit('{');
      let first = true;
      for (const [k, el] of Object.entries(v)) {
        if (el === undefined || typeof el === 'function') continue;
        await emit((first ? '' : ',') + JSON.stringify(k) + ':');
        first = false;
        await walk(el, depth + 1);
      }
      await emit('}');
      return;
    }
    await emit(JSON.stringify(v) ?? 'null');
  };

  await walk(value, 0);
  if (parts.length > 0) await sink(parts.join(''));
}
