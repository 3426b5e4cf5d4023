/**
 * The audit files in the data dir: `audit.jsonl` (active), `audit-<first>-<last>.jsonl`
 * (rotated, immutable), `audit-anchor.json` (where the oldest kept file chains from after
 * retention deleted older ones), and line readers over them that never load a whole file.
 */
import { open, readdir, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/** The file records are appended to. */
export const ACTIVE_FILE = 'audit.jsonl';
/** Written by retention: the seq and hash the oldest remaining record chains from. */
export const ANCHOR_FILE = 'audit-anchor.json';
const ROTATED_RE = /^audit-(\d+)-(\d+)\.jsonl$/;

/** One audit file, in chain order. */
export interface AuditFile {
  name: string;
  path: string;
  /** Seq range from the name; undefined for the active file. */
  firstSeq?: number;
  lastSeq?: number;
  active: boolean;
}

/** Name of a rotated file; seqs are zero-padded so names sort in chain order. */
export function rotatedName(firstSeq: number, lastSeq: number): string {
  return `audit-${String(firstSeq).padStart(12, '0')}-${String(lastSeq).padStart(12, '0')}.jsonl`;
}

/** Rotated files (oldest first) then the active file if it exists. */
export async function listAuditFiles(dataDir: string): Promise<AuditFile[]> {
  let names: string[];
  try {
    names = await readdir(dataDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const rotated: AuditFile[] = [];
  for (const name of names) {
    const m = ROTATED_RE.exec(name);
    if (m) rotated.push({ name, path: join(dataDir, name), firstSeq: Number(m[1]), lastSeq: Number(m[2]), active: false });
  }
  rotated.sort((a, b) => a.firstSeq! - b.firstSeq! || a.lastSeq! - b.lastSeq!);
  if (names.includes(ACTIVE_FILE)) rotated.push({ name: ACTIVE_FILE, path: join(dataDir, ACTIVE_FILE), active: true });
  return rotated;
}

const anchorSchema = z.object({
  /** seq of the last record deleted by retention */
  seq: z.number().int().nonnegative(),
  /** its hash: the prevHash of the next record */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  updatedAt: z.string(),
});
/** Contents of audit-anchor.json. */
export type AuditAnchor = z.infer<typeof anchorSchema>;

/** Reads the anchor; undefined when retention never deleted anything. */
export async function readAnchor(dataDir: string): Promise<AuditAnchor | undefined> {
  let text: string;
  try {
    text = await readFile(join(dataDir, ANCHOR_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = anchorSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${join(dataDir, ANCHOR_FILE)} is damaged: ${parsed.error.issues[0].message}`);
  return parsed.data;
}

/** A line read forwards. */
export interface ForwardLine {
  /** 1-based line number */
  lineNo: number;
  /** byte offset of the first byte */
  offset: number;
  text: string;
  /** byte offset just past the line (and its newline) */
  end: number;
  /** false for a last line with no newline (a write that did not complete) */
  complete: boolean;
}

/** A file to read: a path (opened and closed here) or a handle the caller owns. */
export type LineSource = string | FileHandle;

async function acquire(source: LineSource): Promise<{ h: FileHandle; owned: boolean } | undefined> {
  if (typeof source !== 'string') return { h: source, owned: false };
  try {
    return { h: await open(source, 'r'), owned: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Lines of a file from the start, up to `limit` bytes (all when undefined). */
export async function* forwardLines(source: LineSource, limit?: number, chunkSize = 64 * 1024): AsyncGenerator<ForwardLine> {
  const a = await acquire(source);
  if (!a) return;
  try {
    const end = limit ?? (await a.h.stat()).size;
    let carry: Buffer = Buffer.alloc(0);
    let carryOffset = 0;
    let lineNo = 0;
    let readPos = 0;
    while (readPos < end) {
      const chunk = Buffer.alloc(Math.min(chunkSize, end - readPos));
      const { bytesRead } = await a.h.read(chunk, 0, chunk.length, readPos);
      if (bytesRead === 0) break; // the file shrank under us
      readPos += bytesRead;
      const buf = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let pos = 0;
      for (;;) {
        const nl = buf.indexOf(10, pos);
        if (nl === -1) break;
        yield { lineNo: ++lineNo, offset: carryOffset + pos, text: buf.toString('utf8', pos, nl), end: carryOffset + nl + 1, complete: true };
        pos = nl + 1;
      }
      carryOffset += pos;
      carry = Buffer.from(buf.subarray(pos));
    }
    if (carry.length > 0) yield { lineNo: ++lineNo, offset: carryOffset, text: carry.toString('utf8'), end: carryOffset + carry.length, complete: false };
  } finally {
    if (a.owned) await a.h.close();
  }
}

/** Complete lines of a file from the end backwards, within the first `limit` bytes. */
export async function* backwardLines(source: LineSource, limit?: number, chunkSize = 64 * 1024): AsyncGenerator<string> {
  const a = await acquire(source);
  if (!a) return;
  const h = a.h;
  try {
    let end = limit ?? (await h.stat()).size;
    // a trailing partial line was never acknowledged: skip it
    let tail: Buffer = Buffer.alloc(0);
    let first = true;
    while (end > 0) {
      const start = Math.max(0, end - chunkSize);
      const chunk = Buffer.alloc(end - start);
      await h.read(chunk, 0, chunk.length, start);
      let buf = tail.length ? Buffer.concat([chunk, tail]) : chunk;
      if (first) {
        const lastNl = buf.lastIndexOf(10);
        if (lastNl === -1) {
          if (start === 0) return; // not one complete line
          tail = Buffer.from(buf); // no newline yet: keep reading backwards
          end = start;
          continue;
        }
        buf = buf.subarray(0, lastNl);
        tail = Buffer.alloc(0);
        first = false;
      }
      // buf is whole lines, the last one without its newline: `stop` is the end of the current line
      let stop = buf.length;
      for (;;) {
        const nl = stop === 0 ? -1 : buf.lastIndexOf(10, stop - 1);
        if (nl === -1) {
          if (start === 0) {
            yield buf.toString('utf8', 0, stop);
            tail = Buffer.alloc(0);
          } else {
            tail = Buffer.from(buf.subarray(0, stop)); // its beginning is in the previous chunk
          }
          break;
        }
        yield buf.toString('utf8', nl + 1, stop);
        stop = nl;
      }
      end = start;
    }
  } finally {
    if (a.owned) await h.close();
  }
}

/** Files that belong to the chain: rotated files the retention anchor already covers are leftovers. */
export function chainFiles(files: AuditFile[], anchorSeq: number | undefined): AuditFile[] {
  if (anchorSeq === undefined) return files;
  // a crash between writing the anchor and deleting files leaves files it already covers
  return files.filter((f) => f.active || f.lastSeq! > anchorSeq);
}

/** An audit file opened for reading, with the bytes to read. */
export interface OpenedAuditFile extends AuditFile {
  handle: FileHandle;
  /** bytes to read (the acknowledged length of the active file); all when undefined */
  limit?: number;
}

/** A consistent view of the chain: handles stay valid when a rotation renames or retention deletes a file. */
export interface ChainSnapshot {
  anchor?: AuditAnchor;
  files: OpenedAuditFile[];
  close(): Promise<void>;
}

/** Opens every file of the chain; `activeLimit` bounds the active file to acknowledged bytes. */
export async function openChain(dataDir: string, activeLimit?: number): Promise<ChainSnapshot> {
  for (let attempt = 1; ; attempt++) {
    const anchor = await readAnchor(dataDir);
    const files = chainFiles(await listAuditFiles(dataDir), anchor?.seq);
    const opened: OpenedAuditFile[] = [];
    const close = async () => {
      for (const f of opened) await f.handle.close().catch(() => undefined);
    };
    try {
      for (const f of files) opened.push({ ...f, handle: await open(f.path, 'r'), limit: f.active ? activeLimit : undefined });
      return { anchor, files: opened, close };
    } catch (err) {
      await close();
      // another process rotated or deleted a file between the listing and the open: list again
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw err;
    }
  }
}

/** Offset of one record in a file, for a sparse index. */
export interface SeqMark {
  seq: number;
  offset: number;
}

/** The top-level seq of a canonical line without parsing it: it is the last `"seq":` key (only storeSeq and time follow it). */
export function peekSeq(line: string): number | undefined {
  const at = line.lastIndexOf('"seq":');
  if (at === -1) return undefined;
  const m = /^\d+/.exec(line.slice(at + 6, at + 30));
  return m ? Number(m[0]) : undefined;
}

/** Marks every `every`-th record of a file (by seq), reading it once without parsing records. */
export async function buildSparseIndex(source: LineSource, every: number, limit?: number): Promise<SeqMark[]> {
  const marks: SeqMark[] = [];
  for await (const l of forwardLines(source, limit)) {
    if (!l.complete) break;
    const seq = peekSeq(l.text);
    if (seq !== undefined && seq % every === 0 && (marks.length === 0 || seq > marks[marks.length - 1].seq)) marks.push({ seq, offset: l.offset });
  }
  return marks;
}
