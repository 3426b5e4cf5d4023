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
/** Room past chunkBytes in the write buffer, so that pieces up to 64K characters never need a Buffer of their own. */
const PIECE_HEADROOM = 192 * 1024;
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
    const chunkBytes = this.options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    let h: FileHandle | undefined = await open(tmp, 'w', 0o600);
    try {
      const handle = h;
      let pos = 0;
      let sinceSync = 0;
      const put = async (buf: Buffer): Promise<void> => {
        await writeFully(this.io, handle, buf, pos);
        pos += buf.length;
        sinceSync += buf.length;
        if (fsync && sinceSync >= syncEvery) {
          await this.io.datasync(handle);
          sinceSync = 0;
        }
      };
      // One reused buffer for the whole file, filled piece by piece: no chunk-sized strings (which
      // V8 puts in its old generation, to be reclaimed only by full GCs) and no per-chunk Buffers
      // (which fragment the malloc heap).
      const buffer = Buffer.allocUnsafe(chunkBytes + PIECE_HEADROOM);
      let fill = 0;
      await serializeChunked(
        data,
        {
          append(piece) {
            // at most 3 bytes per UTF-16 code unit: checked without measuring the piece
            if (piece.length * 3 > buffer.length - fill) return false;
            fill += buffer.write(piece, fill, 'utf8');
            return true;
          },
          get pending() {
            return fill;
          },
          async flush() {
            if (fill === 0) return;
            await put(buffer.subarray(0, fill));
            fill = 0;
          },
          writeLarge: (piece) => put(Buffer.from(piece, 'utf8')),
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

/** Where serializeChunked puts its output. */
export interface ChunkWriter {
  /** Appends a piece; false when it does not fit (flush, then try again). */
  append(piece: string): boolean;
  /** Bytes appended and not yet flushed. */
  readonly pending: number;
  flush(): Promise<void>;
  /** Writes a piece too big for an empty buffer (called right after a flush). */
  writeLarge(piece: string): Promise<void>;
}

function isPlainRecord(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  // null-prototype records are what the store builds, so that an id like "__proto__" is just a key
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/**
 * JSON.stringify, streamed: arrays are written element by element and objects down to depth 3
 * key by key, everything else with one JSON.stringify. Flushes the writer whenever it holds about
 * `chunkBytes`, and yields to the event loop whenever a slice ran longer than `sliceMs`. Pieces go
 * to the writer synchronously; only a flush or a yield is awaited, not every piece.
 */
export async function serializeChunked(
  value: unknown,
  writer: ChunkWriter,
  opts: { chunkBytes?: number; sliceMs?: number } = {},
): Promise<void> {
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const sliceMs = opts.sliceMs ?? 4;
  let sliceStart = performance.now();
  let sinceCheck = 0;
  /** A piece the writer had no room for, written by the next pause(). */
  let overflow: string | undefined;

  /** Hands a piece to the writer; true when the caller must await pause() before going on. */
  const emit = (piece: string): boolean => {
    if (!writer.append(piece)) {
      overflow = piece;
      return true;
    }
    if (writer.pending >= chunkBytes) return true;
    if (++sinceCheck >= 64) {
      sinceCheck = 0;
      return performance.now() - sliceStart > sliceMs;
    }
    return false;
  };
  const pause = async (): Promise<void> => {
    if (overflow !== undefined) {
      const piece = overflow;
      overflow = undefined;
      await writer.flush();
      if (!writer.append(piece)) await writer.writeLarge(piece);
    }
    // a flush waits for the disk, which lets the event loop run; otherwise yield explicitly
    if (writer.pending >= chunkBytes) await writer.flush();
    else await yieldToLoop();
    sliceStart = performance.now();
  };

  const walk = async (v: unknown, depth: number): Promise<void> => {
    if (Array.isArray(v)) {
      if (emit('[')) await pause();
      for (let i = 0; i < v.length; i++) {
        const el: unknown = v[i];
        const prefix = i === 0 ? '' : ',';
        if (Array.isArray(el)) {
          if (prefix && emit(prefix)) await pause();
          await walk(el, depth + 1);
        } else if (emit(prefix + (JSON.stringify(el) ?? 'null'))) {
          // undefined and functions become null inside arrays, as JSON.stringify does
          await pause();
        }
      }
      if (emit(']')) await pause();
      return;
    }
    if (typeof v === 'object' && v !== null && depth <= 3 && isPlainRecord(v)) {
      if (emit('{')) await pause();
      let first = true;
      for (const [k, el] of Object.entries(v)) {
        if (el === undefined || typeof el === 'function') continue;
        if (emit((first ? '' : ',') + JSON.stringify(k) + ':')) await pause();
        first = false;
        await walk(el, depth + 1);
      }
      if (emit('}')) await pause();
      return;
    }
    if (emit(JSON.stringify(v) ?? 'null')) await pause();
  };

  await walk(value, 0);
  if (overflow !== undefined) await pause();
  await writer.flush();
}
