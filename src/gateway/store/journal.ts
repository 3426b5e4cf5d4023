/**
 * The journal: one JSON line per commit, each carrying a CRC-32 of its body so that a torn or
 * damaged line is recognised. Lines are appended in batches (group commit); `b` is the seq of the
 * first line of the batch a line was written with, which tells a crash-torn final write (one
 * batch, never acknowledged) from damage to acknowledged lines.
 *
 *   {"crc":"1c291ca3","seq":42,"b":41,"at":"2025-01-01T00:00:00.000Z","changes":[...]}
 *
 * The CRC covers the line without its `"crc":"…",` prefix (the body `{"seq":…}`).
 */
import { crc32 } from 'node:zlib';
import type { JournalChange } from './state.js';

/** The active segment; rotated segments are `store.journal.<last seq, 16 digits>`. */
export const JOURNAL_FILE = 'store.journal';
const SEGMENT_RE = /^store\.journal\.(\d{16})$/;
const PREFIX = '{"crc":"';
/** `{"crc":"` + 8 hex digits + `",` */
const PREFIX_LEN = PREFIX.length + 8 + 2;
const OPEN_BRACE_CRC = crc32('{');

export interface JournalEntry {
  seq: number;
  /** seq of the first line of the batch this line was written with */
  b: number;
  at: string;
  changes: JournalChange[];
}

/** File name of a rotated segment whose last line has this seq (sorts by name = by seq). */
export function segmentName(lastSeq: number): string {
  return `${JOURNAL_FILE}.${String(lastSeq).padStart(16, '0')}`;
}

/** The last seq of a rotated segment from its name, or undefined if it is not one. */
export function parseSegmentName(name: string): number | undefined {
  const m = SEGMENT_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** One journal line, newline included. `changesJson` is the JSON of the commit's changes. */
export function encodeLine(seq: number, batchSeq: number, at: string, changesJson: string): string {
  const body = `{"seq":${seq},"b":${batchSeq},"at":${JSON.stringify(at)},"changes":${changesJson}}`;
  const crc = crc32(body).toString(16).padStart(8, '0');
  return `${PREFIX}${crc}",${body.slice(1)}\n`;
}

export type DecodeResult = { ok: true; entry: JournalEntry } | { ok: false; reason: string };

/** Verifies and parses one line (without its newline). */
export function decodeLine(line: Buffer): DecodeResult {
  if (line.length < PREFIX_LEN + 2 || line.toString('latin1', 0, PREFIX.length) !== PREFIX) {
    return { ok: false, reason: 'not a journal line' };
  }
  const want = line.toString('latin1', PREFIX.length, PREFIX.length + 8);
  if (!/^[0-9a-f]{8}$/.test(want) || line.toString('latin1', PREFIX.length + 8, PREFIX_LEN) !== '",') {
    return { ok: false, reason: 'not a journal line' };
  }
  const rest = line.subarray(PREFIX_LEN);
  const got = crc32(rest, OPEN_BRACE_CRC).toString(16).padStart(8, '0');
  if (got !== want) return { ok: false, reason: 'checksum mismatch' };
  let parsed: unknown;
  try {
    parsed = JSON.parse('{' + rest.toString('utf8'));
  } catch {
    return { ok: false, reason: 'invalid JSON' };
  }
  const e = parsed as Partial<JournalEntry>;
  if (
    typeof e !== 'object' ||
    e === null ||
    !Number.isSafeInteger(e.seq) ||
    !Number.isSafeInteger(e.b) ||
    typeof e.at !== 'string' ||
    !Array.isArray(e.changes)
  ) {
    return { ok: false, reason: 'missing seq, b, at or changes' };
  }
  return { ok: true, entry: e as JournalEntry };
}

export interface ScannedLine {
  /** 1-based line number in the file */
  line: number;
  /** byte offset of the line's first byte */
  offset: number;
  result: DecodeResult;
}

export interface SegmentScan {
  /** The valid lines to replay, in file order. */
  entries: Array<{ line: number; entry: JournalEntry }>;
  /** Byte length the file should have: shorter than the file when a torn tail was found. */
  goodLength: number;
  /** Set when a torn tail was cut: where, and why. */
  torn?: { line: number; offset: number; reason: string; droppedBytes: number };
}

/** A journal line that cannot be accepted: the store must not open. */
export class JournalCorruptError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super(
      `${file} line ${line} is corrupt (${reason}); the store was not opened. Restore the last backup, or move db.json and every store.journal* file aside together to start empty.`,
    );
    this.name = 'JournalCorruptError';
  }
}

/**
 * Splits a segment into lines and verifies them.
 *
 * Only the final write of the last segment can have been in flight at a crash, and it was never
 * acknowledged. So in the last segment, damage is accepted (and cut away) when everything from
 * the first bad line on belongs to a single batch that started at or before the bad line: a
 * torn last line, a missing final newline, or pages of the final write that reached the disk
 * out of order. Any other damage refuses the store.
 */
export function scanSegment(file: string, buf: Buffer, isLast: boolean): SegmentScan {
  const lines: ScannedLine[] = [];
  let pos = 0;
  let n = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(10, pos);
    n++;
    if (nl === -1) {
      // no final newline: the write did not complete
      lines.push({ line: n, offset: pos, result: { ok: false, reason: 'incomplete last line' } });
      break;
    }
    lines.push({ line: n, offset: pos, result: decodeLine(buf.subarray(pos, nl)) });
    pos = nl + 1;
  }

  const firstBad = lines.findIndex((l) => !l.result.ok);
  let keep = lines;
  let torn: SegmentScan['torn'];
  let goodLength = buf.length;
  if (firstBad !== -1) {
    const bad = lines[firstBad];
    const reason = (bad.result as { reason: string }).reason;
    if (!isLast) throw new JournalCorruptError(file, bad.line, reason);
    const prev = firstBad > 0 ? (lines[firstBad - 1].result as { ok: true; entry: JournalEntry }).entry : undefined;
    const later = lines.slice(firstBad + 1).filter((l) => l.result.ok);
    const entryOf = (l: ScannedLine): JournalEntry => (l.result as { ok: true; entry: JournalEntry }).entry;
    const batches = new Set(later.map((l) => entryOf(l).b));
    let tornTail = batches.size === 0;
    if (batches.size === 1) {
      const batch = [...batches][0];
      // the bad line belongs to that batch: the batch began with it, or before it (with prev)
      if (prev) tornTail = batch === prev.b || batch === prev.seq + 1;
      else tornTail = batch <= entryOf(later[0]).seq - (later[0].line - bad.line);
    }
    if (!tornTail) throw new JournalCorruptError(file, bad.line, reason);
    keep = lines.slice(0, firstBad);
    goodLength = bad.offset;
    torn = { line: bad.line, offset: bad.offset, reason, droppedBytes: buf.length - bad.offset };
  }
  return {
    entries: keep.map((l) => ({ line: l.line, entry: (l.result as { ok: true; entry: JournalEntry }).entry })),
    goodLength,
    torn,
  };
}
