/** The outbox: what waits for delivery, what keeps failing and why, dead letters; retry and discard. */
import { Router } from 'express';
import { z } from 'zod';
import type { OutboxEntry } from '../../store/index.js';
import type { OutboxItem, OutboxPage } from '../api-types.js';
import type { AdminContext } from '../context.js';
import { AdminError, parseBody, parseQuery } from '../errors.js';
import { countOutbox } from '../views.js';

const listQuery = z.object({
  state: z.enum(['all', 'pending', 'failing', 'dead']).default('all'),
  connection: z.string().optional(),
  connector: z.string().optional(),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

const bulkBody = z.object({
  /** Which entries: the dead letters, or the pending ones that have failed at least once. */
  state: z.enum(['dead', 'failing']).default('dead'),
  connector: z.string().optional(),
  connection: z.string().optional(),
});

function matches(e: OutboxEntry, state: 'all' | 'pending' | 'failing' | 'dead'): boolean {
  if (state === 'all') return true;
  if (state === 'dead') return e.state === 'dead';
  if (state === 'pending') return e.state === 'pending';
  return e.state === 'pending' && e.attempts > 0;
}

export function outboxItem(e: OutboxEntry): OutboxItem {
  const res = e.payload.resource;
  const name = typeof res?.userName === 'string' ? res.userName : typeof res?.displayName === 'string' ? res.displayName : undefined;
  return {
    id: e.id,
    connection: e.connection,
    connector: e.connector,
    resourceType: e.resourceType,
    resourceId: e.resourceId,
    ...(name ? { resourceName: name } : {}),
    kind: e.kind,
    createdAt: e.createdAt,
    attempts: e.attempts,
    nextAttemptAt: e.nextAttemptAt,
    state: e.state,
    ...(e.lastError ? { lastError: e.lastError } : {}),
  };
}

function resourceOf(e: OutboxEntry): { type: string; id: string; display?: string } {
  const name = outboxItem(e).resourceName;
  return { type: e.resourceType, id: e.resourceId, ...(name ? { display: name } : {}) };
}

export function outboxRoutes(ctx: AdminContext): Router {
  const r = Router();
  const { deps } = ctx;

  r.get('/outbox', async (req, res) => {
    const q = parseQuery(listQuery, req);
    const all = await deps.store.outboxList({ ...(q.connection ? { connection: q.connection } : {}), ...(q.connector ? { connector: q.connector } : {}) });
    const chosen = all.filter((e) => matches(e, q.state));
    const page: OutboxPage = { total: chosen.length, counts: countOutbox(all), items: chosen.slice(q.offset, q.offset + q.limit).map(outboxItem) };
    res.json(page);
  });

  const one = async (id: string) => {
    const e = await deps.store.outboxGet(id);
    if (!e) throw AdminError.notFound(`There is no outbox entry ${id}; it may have been delivered or discarded meanwhile.`);
    return e;
  };

  r.post('/outbox/:id/retry', async (req, res) => {
    const e = await one(req.params.id as string);
    await deps.outbox.retry(e.id);
    await ctx.record(req, { connection: e.connection, action: 'outbox.retry', resource: resourceOf(e), result: 'success', detail: `${e.kind} to ${e.connector}`, requestId: e.id });
    res.json({ retried: 1 });
  });

  r.post('/outbox/:id/discard', async (req, res) => {
    const e = await one(req.params.id as string);
    await deps.outbox.discard(e.id);
    await ctx.record(req, { connection: e.connection, action: 'outbox.discard', resource: resourceOf(e), result: 'success', detail: `${e.kind} to ${e.connector} will not be delivered`, requestId: e.id });
    res.json({ discarded: 1 });
  });

  /** Retries every matching entry as a job with progress. */
  r.post('/outbox/retry', async (req, res) => {
    const body = parseBody(bulkBody, req);
    const entries = (await deps.store.outboxList({ ...(body.connection ? { connection: body.connection } : {}), ...(body.connector ? { connector: body.connector } : {}) })).filter((e) => matches(e, body.state));
    if (entries.length === 0) throw AdminError.conflict(`There are no ${body.state === 'dead' ? 'dead letters' : 'failing entries'} to retry.`);
    const admin = req;
    const job = ctx.jobs.start('outbox-retry', `Retrying ${entries.length} entries`, async (progress) => {
      progress.total(entries.length);
      let retried = 0;
      let gone = 0;
      for (const e of entries) {
        try {
          await deps.outbox.retry(e.id);
          retried++;
        } catch {
          gone++; // delivered or discarded meanwhile
        }
        progress.advance();
      }
      await ctx.record(admin, { action: 'outbox.retry', result: 'success', detail: `bulk retry of ${retried} ${body.state} entries${body.connector ? ` of ${body.connector}` : ''}` });
      return { retried, gone };
    });
    res.status(202).json(job);
  });

  return r;
}
