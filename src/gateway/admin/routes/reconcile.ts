/** Reconciliation from the console: the last report per connector, and "run now" as a job with progress. */
import { Router } from 'express';
import { z } from 'zod';
import type { AdminContext } from '../context.js';
import { AdminError, parseBody } from '../errors.js';

const runBody = z.object({
  /** One connector, or every connector that can list its users. */
  connector: z.string().optional(),
  /** Queue the operations that fix the drift, not only report it. */
  repair: z.boolean().default(false),
});

export function reconcileRoutes(ctx: AdminContext): Router {
  const r = Router();
  const { deps } = ctx;

  const readable = () => [...deps.connectors.values()].filter((c) => c.host.manifest.capabilities.read).map((c) => c.id);

  r.get('/reconciliations', (_req, res) => {
    res.json({
      reports: [...deps.reconciliations.values()].sort((a, b) => (a.at < b.at ? 1 : -1)),
      connectors: [...deps.connectors.values()].map((c) => ({ id: c.id, connection: c.connection, canReconcile: Boolean(c.host.manifest.capabilities.read) })),
      running: ctx.jobs.running().filter((j) => j.kind === 'reconcile'),
    });
  });

  r.post('/reconciliations', async (req, res) => {
    const body = parseBody(runBody, req);
    const ids = body.connector ? [body.connector] : readable();
    if (body.connector) {
      const c = deps.connectors.get(body.connector);
      if (!c) throw AdminError.notFound(`Connector "${body.connector}" is not running.`);
      if (!c.host.manifest.capabilities.read) throw AdminError.conflict(`Connector "${body.connector}" cannot list its users, so there is nothing to compare.`);
    }
    if (ids.length === 0) throw AdminError.conflict('No running connector can list its users: there is nothing to reconcile.');
    if (ctx.jobs.running().some((j) => j.kind === 'reconcile')) throw AdminError.conflict('A reconciliation is already running; wait for it to finish.');
    const admin = req;
    const job = ctx.jobs.start('reconcile', `Reconciling ${ids.length} connector${ids.length === 1 ? '' : 's'}`, async (progress) => {
      progress.total(ids.length);
      const summaries = [];
      for (const id of ids) {
        progress.step(`Comparing ${id} with the gateway`);
        const report = await deps.reconcile(id, body.repair);
        summaries.push({ connector: id, missing: report.missing.length, extra: report.extra.length, different: report.different.length, repaired: report.repaired });
        progress.advance();
      }
      progress.step('Done');
      await ctx.record(admin, { action: 'reconcile.run', result: 'success', detail: summaries.map((s) => `${s.connector}: ${s.missing} missing, ${s.extra} extra, ${s.different} different${body.repair ? `, ${s.repaired} repairs queued` : ''}`).join('; ') });
      return summaries;
    });
    res.status(202).json(job);
  });

  r.get('/jobs/:id', (req, res) => {
    const job = ctx.jobs.get(req.params.id as string);
    if (!job) throw AdminError.notFound(`There is no job ${req.params.id}; jobs are kept until the gateway restarts.`);
    res.json(job);
  });

  return r;
}
