/**
 * Reconciliation from the console: the last report per connector, "run now" as a job with
 * progress, and "Provision existing users" for a connector added after the users existed: a
 * reconciliation with repair whose queued creates and updates the job follows until delivered.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { OutboxEntry } from '../../store/index.js';
import type { ProvisionReport } from '../api-types.js';
import type { AdminContext } from '../context.js';
import { AdminError, parseBody } from '../errors.js';

/** How long the provisioning job follows repairs that make no progress (a target that is down) before it reports them as waiting. */
export const PROVISION_STALL_MS = 60_000;
const POLL_MS = 250;

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
    if (ctx.jobs.running().some((j) => j.kind === 'reconcile' || j.kind === 'provision')) throw AdminError.conflict('A reconciliation is already running; wait for it to finish.');
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

  /**
   * Provision existing users: the users the connector's target lacks are created there, and those
   * that differ updated, through the outbox (ordered, retried, audited like any change).
   */
  r.post('/connectors/:id/provision-existing', async (req, res) => {
    const id = req.params.id as string;
    const instance = deps.connectors.get(id);
    if (!instance) {
      const s = deps.connections?.()?.status?.().find((x) => x.id === id);
      if (!s) throw AdminError.notFound(`There is no connector "${id}".`);
      throw AdminError.conflict(`Connector "${id}" is not running${s.error ? `: ${s.error}` : ''}. Fix its configuration first.`);
    }
    if (!instance.host.manifest.capabilities.read) {
      throw AdminError.conflict(
        `Connector "${id}" cannot list the accounts in its target, so the gateway cannot tell which users it lacks. Existing users reach it on their next change from the identity provider; new users reach it at once.`,
      );
    }
    if (ctx.jobs.running().some((j) => j.kind === 'reconcile' || j.kind === 'provision')) throw AdminError.conflict('A reconciliation is already running; wait for it to finish.');
    const admin = req;
    const job = ctx.jobs.start('provision', `Comparing ${id} with the gateway`, async (progress) => {
      const drift = await deps.reconcile(id, true);
      // The repair's entries carry the report's time as their creation time.
      const repairs = (entries: OutboxEntry[]) => entries.filter((e) => e.createdAt === drift.at && e.resourceType === 'User');
      const report: ProvisionReport = {
        connector: id,
        connection: instance.connection,
        checked: drift.checked,
        missing: drift.missing.length,
        different: drift.different.length,
        extra: drift.extra.length,
        inFlight: drift.inFlight,
        repairsQueued: drift.repaired,
        delivered: 0,
        failed: 0,
        waiting: 0,
      };
      progress.total(drift.repaired);
      progress.step(drift.repaired === 0 ? 'Nothing to provision' : `Provisioning ${drift.repaired} user${drift.repaired === 1 ? '' : 's'} to ${id}`);
      let lastLeft = Number.POSITIVE_INFINITY;
      let lastMove = Date.now();
      while (drift.repaired > 0) {
        const mine = repairs(await deps.store.outboxList({ connector: id }));
        report.failed = mine.filter((e) => e.state === 'dead').length;
        report.waiting = mine.length - report.failed;
        report.delivered = Math.max(0, drift.repaired - mine.length);
        progress.doneSoFar(report.delivered + report.failed);
        if (report.waiting === 0) break;
        if (report.waiting < lastLeft) {
          lastLeft = report.waiting;
          lastMove = Date.now();
        } else if (Date.now() - lastMove > PROVISION_STALL_MS) break;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      progress.step('Done');
      await ctx.record(admin, {
        connection: instance.connection,
        action: 'connector.provision-existing',
        resource: { type: 'Connector', id },
        result: report.failed + report.waiting === 0 ? 'success' : 'failure',
        detail: `${report.missing} missing, ${report.different} different, ${report.extra} not managed; ${report.repairsQueued} queued, ${report.delivered} delivered, ${report.failed} refused, ${report.waiting} waiting`,
      });
      return report;
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
