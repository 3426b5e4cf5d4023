/**
 * Export, oldest first: JSON Lines keeps each record's exact line (so an export can be verified
 * on its own), CSV has one column per field for spreadsheets and SIEM imports.
 */
import { once } from 'node:events';
import { auditRecordSchema, type AuditRecord } from './record.js';
import { forwardLines, openChain, type ChainSnapshot } from './files.js';

/** What to export. */
export interface ExportOptions {
  format: 'jsonl' | 'csv';
  /** records at or after this time */
  since?: Date;
  /** records before this time */
  until?: Date;
}

/** How many records were written, and how many damaged lines were left out. */
export interface ExportSummary {
  records: number;
  skipped: number;
}

/** CSV columns, in order. */
export const CSV_COLUMNS = [
  'seq', 'time', 'actorKind', 'actorId', 'actorName', 'connection', 'action', 'resourceType', 'resourceId',
  'resourceDisplay', 'changes', 'result', 'detail', 'requestId', 'storeSeq', 'prevHash', 'hash',
] as const;

/** One RFC 4180 cell: quoted when it holds a quote, comma or line break. */
export function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  let s = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  // a cell starting with = + - @ is run as a formula by spreadsheets: names come from the IdP
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV row (CRLF-terminated) for a record. */
export function csvRow(r: AuditRecord): string {
  const cells: unknown[] = [
    r.seq, r.time, r.actor.kind, r.actor.id, r.actor.name, r.connection, r.action, r.resource?.type, r.resource?.id,
    r.resource?.display, r.changes, r.result, r.detail, r.requestId, r.storeSeq, r.prevHash, r.hash,
  ];
  return cells.map(csvCell).join(',') + '\r\n';
}

async function write(out: NodeJS.WritableStream, text: string): Promise<void> {
  // respect backpressure: a million records must not pile up in memory
  if (!out.write(text)) await once(out, 'drain');
}

/** Writes the records of a data dir to `out`; `activeLimit` bounds the active file to acknowledged bytes. */
export async function exportAuditLog(dataDir: string, options: ExportOptions, out: NodeJS.WritableStream, activeLimit?: number): Promise<ExportSummary> {
  const snapshot = await openChain(dataDir, activeLimit);
  try {
    return await exportChain(snapshot, options, out);
  } finally {
    await snapshot.close();
  }
}

/** Writes the records of an opened snapshot to `out`. */
export async function exportChain(snapshot: ChainSnapshot, options: ExportOptions, out: NodeJS.WritableStream): Promise<ExportSummary> {
  const { files } = snapshot;
  const since = options.since?.getTime();
  const until = options.until?.getTime();
  const summary: ExportSummary = { records: 0, skipped: 0 };
  if (options.format === 'csv') await write(out, CSV_COLUMNS.join(',') + '\r\n');
  for (const file of files) {
    let batch = '';
    for await (const l of forwardLines(file.handle, file.limit)) {
      if (!l.complete) continue; // never acknowledged
      let parsed: unknown;
      try {
        parsed = JSON.parse(l.text);
      } catch {
        summary.skipped++;
        continue;
      }
      const res = auditRecordSchema.safeParse(parsed);
      if (!res.success) {
        summary.skipped++;
        continue;
      }
      const t = Date.parse(res.data.time);
      if ((since !== undefined && t < since) || (until !== undefined && t >= until)) continue;
      batch += options.format === 'csv' ? csvRow(res.data) : l.text + '\n';
      summary.records++;
      if (batch.length >= 64 * 1024) {
        await write(out, batch);
        batch = '';
      }
    }
    if (batch) await write(out, batch);
  }
  return summary;
}
