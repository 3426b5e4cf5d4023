/**
 * The audit log: search with filters and paging (newest first), export as CSV or JSON Lines
 * (streamed, never held in memory), and verification of the hash chain.
 */
import { once } from 'node:events';
import { Router, type Request, type Response } from 'express';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { CSV_COLUMNS, type AuditQuery, type AuditRecord } from '../../audit/index.js';
import type { AuditPageInfo, VerifyOutcome } from '../api-types.js';
import type { AdminContext } from '../context.js';
import { AdminError, parseQuery } from '../errors.js';

const isoDate = z
  .string()
  .refine((v) => !Number.isNaN(Date.parse(v)), 'must be a date, e.g. 2026-01-31T08:00:00Z')
  .optional();

const filters = {
  from: isoDate,
  to: isoDate,
  tokenId: z.string().max(100).optional(),
  actor: z.string().max(200).optional(),
  resourceId: z.string().max(200).optional(),
  resourceType: z.string().max(50).optional(),
  action: z.string().max(100).optional(),
  connection: z.string().max(100).optional(),
  result: z.enum(['success', 'failure']).optional(),
};

const searchQuery = z.object({ ...filters, limit: z.coerce.number().int().min(1).max(500).default(50), cursor: z.string().max(200).optional() });
const exportQuery = z.object({ ...filters, format: z.enum(['csv', 'jsonl']).default('csv') });

type Filters = z.infer<z.ZodObject<typeof filters>>;

function toAuditQuery(f: Filters): AuditQuery {
  const q: AuditQuery = {};
  if (f.from) q.from = f.from;
  if (f.to) q.to = f.to;
  if (f.tokenId) q.tokenId = f.tokenId;
  if (f.actor) q.actor = f.actor;
  if (f.resourceId) q.resourceId = f.resourceId;
  if (f.resourceType) q.resourceType = f.resourceType;
  if (f.action) q.action = f.action;
  if (f.connection) q.connection = f.connection;
  if (f.result) q.result = f.result;
  return q;
}

function csvCells(r: AuditRecord): unknown[] {
  const json = (v: unknown) => (v === undefined ? '' : JSON.stringify(v));
  return [r.seq, r.time, r.actor.kind, r.actor.id, r.actor.name, r.connection, r.action, r.resource?.type, r.resource?.id, r.resource?.display, json(r.changes), r.result, r.detail, r.requestId, r.storeSeq, r.prevHash, r.hash];
}

async function write(res: Response, text: string): Promise<void> {
  if (!res.write(text)) await once(res, 'drain');
}

export function auditRoutes(ctx: AdminContext): Router {
  const r = Router();
  const { audit } = ctx.deps;

  r.get('/audit', async (req, res) => {
    const q = parseQuery(searchQuery, req);
    let page;
    try {
      page = await audit.query({ ...toAuditQuery(q), limit: q.limit, ...(q.cursor ? { cursor: q.cursor } : {}) });
    } catch (err) {
      throw AdminError.invalid((err as Error).message);
    }
    const body: AuditPageInfo = { records: page.records, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
    res.json(body);
  });

  r.get('/audit/export', async (req: Request, res: Response) => {
    const q = parseQuery(exportQuery, req);
    const query = toAuditQuery(q);
    const onlyTime = Object.keys(query).every((k) => k === 'from' || k === 'to');
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
    res.setHeader('Content-Type', q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="scim-bridge-audit-${stamp}.${q.format === 'csv' ? 'csv' : 'jsonl'}"`);
    res.status(200);
    let records = 0;
    try {
      if (onlyTime) {
        // The whole chain in a time range, oldest first, each JSON line exactly as stored (verifiable on its own).
        const summary = await audit.export({ format: q.format, ...(q.from ? { since: new Date(q.from) } : {}), ...(q.to ? { until: new Date(q.to) } : {}) }, res);
        records = summary.records;
      } else {
        // Filtered: the search's pages, newest first.
        if (q.format === 'csv') await write(res, CSV_COLUMNS.join(',') + '\r\n');
        let cursor: string | undefined;
        do {
          const page = await audit.query({ ...query, limit: 1000, ...(cursor ? { cursor } : {}) });
          const text =
            q.format === 'csv'
              ? stringify(page.records.map(csvCells), { record_delimiter: '\r\n', escape_formulas: true })
              : page.records.map((x) => JSON.stringify(x)).join('\n') + (page.records.length ? '\n' : '');
          if (text) await write(res, text);
          records += page.records.length;
          cursor = page.nextCursor;
        } while (cursor);
      }
    } catch (err) {
      ctx.deps.logger.error({ err }, 'audit export failed part-way');
      res.destroy();
      return;
    }
    res.end();
    await ctx.record(req, { action: 'audit.export', result: 'success', detail: `${records} records as ${q.format}${onlyTime ? '' : ' (filtered)'}` });
  });

  r.post('/audit/verify', async (req, res) => {
    const v = await audit.verify();
    const checkedAt = new Date().toISOString();
    ctx.auditCheck = v.ok ? { ok: true, records: v.records, checkedAt } : { ok: false, problem: `${v.file} line ${v.line}: ${v.reason}`, checkedAt };
    await ctx.record(req, { action: 'audit.verify', result: v.ok ? 'success' : 'failure', detail: v.ok ? `${v.records} records, chain intact` : `${v.file} line ${v.line}: ${v.reason}` });
    const body: VerifyOutcome = v;
    res.json(body);
  });

  return r;
}
