/** Public surface of jobs/: node-cron schedules the gateway runs, and the backups they take. */
import { join } from 'node:path';
import cron, { type ScheduledTask } from 'node-cron';
import type { Store } from '../store/index.js';
import { BACKUPS_DIR, pruneBackups, takeBackup } from './backups.js';

export { takeBackup, pruneBackups, listBackups, latestBackup, restoreBackup, BACKUPS_DIR, type BackupInfo } from './backups.js';

export interface JobsConfig {
  /** cron expression of the daily backup; empty disables it. */
  backupCron: string;
  /** Backups kept. */
  backupKeep: number;
  /** cron expression of audit rotation and retention; empty disables it. */
  auditCron: string;
  auditRetentionDays: number;
  /** cron expression of the nightly reconciliation; empty disables it. */
  reconcileCron: string;
  /** cron expression of the outbox sweep; empty disables it. */
  retrySweepCron?: string;
}

/** Pending deliveries older than this are reported by the sweep as stuck. */
const STUCK_AFTER_MS = 15 * 60_000;

/** What the audit job needs from the audit log. */
export interface RotatingLog {
  rotate(): Promise<unknown>;
  applyRetention(days: number): Promise<unknown>;
}

export interface Jobs {
  stop(): void;
  /** Runs the backup job now (tests, console). */
  backupNow(): Promise<void>;
}

export function startJobs(opts: {
  store: Store;
  dataDir: string;
  config: JobsConfig;
  audit?: RotatingLog;
  /** Reconciles every connector that can list its users (the gateway supplies it). */
  reconcileAll?: () => Promise<void>;
  /** Wakes the delivery worker and returns the pending entries (the gateway supplies it). */
  sweepOutbox?: () => Promise<Array<{ connector: string; createdAt: string; attempts: number; lastError?: string }>>;
  logger: { info(o: object, m?: string): void; warn?(o: object, m?: string): void; error(o: object, m?: string): void };
}): Jobs {
  const { store, dataDir, config, logger, audit, reconcileAll, sweepOutbox } = opts;
  const tasks: ScheduledTask[] = [];
  let running: Promise<void> | undefined;

  const backupNow = (): Promise<void> => {
    running ??= (async () => {
      try {
        const info = await takeBackup(store, dataDir);
        const removed = await pruneBackups(join(dataDir, BACKUPS_DIR), config.backupKeep);
        logger.info({ ...info, pruned: removed.length }, 'backup taken');
      } catch (err) {
        logger.error({ err }, 'backup failed; the previous backups are kept');
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  // The worker polls on its own; the sweep is the safety net that also says, once a minute, which
  // connector has deliveries stuck for a long time and why (the console shows the same).
  if (config.retrySweepCron && sweepOutbox) {
    tasks.push(
      cron.schedule(
        config.retrySweepCron,
        async () => {
          try {
            const pending = await sweepOutbox();
            const now = Date.now();
            const stuck = new Map<string, { count: number; oldest: string; lastError?: string }>();
            for (const e of pending) {
              if (now - Date.parse(e.createdAt) < STUCK_AFTER_MS) continue;
              const s = stuck.get(e.connector) ?? { count: 0, oldest: e.createdAt };
              s.count += 1;
              if (e.createdAt <= s.oldest) s.oldest = e.createdAt;
              if (e.lastError) s.lastError = e.lastError;
              stuck.set(e.connector, s);
            }
            for (const [connector, s] of stuck) {
              (logger.warn ?? logger.error).call(logger, { connector, stuck: s.count, since: s.oldest, lastError: s.lastError }, `deliveries to connector "${connector}" have waited more than 15 minutes`);
            }
          } catch (err) {
            logger.error({ err }, 'outbox sweep failed');
          }
        },
        { name: 'outbox-sweep', noOverlap: true },
      ),
    );
  }

  if (config.backupCron) {
    tasks.push(cron.schedule(config.backupCron, () => void backupNow(), { name: 'backup', noOverlap: true }));
  }

  if (config.auditCron && audit) {
    tasks.push(
      cron.schedule(
        config.auditCron,
        async () => {
          try {
            await audit.rotate();
            await audit.applyRetention(config.auditRetentionDays);
            logger.info({ retentionDays: config.auditRetentionDays }, 'audit log rotated');
          } catch (err) {
            logger.error({ err }, 'audit rotation failed; the log keeps growing until it succeeds');
          }
        },
        { name: 'audit-rotation', noOverlap: true },
      ),
    );
  }

  if (config.reconcileCron && reconcileAll) {
    tasks.push(
      cron.schedule(
        config.reconcileCron,
        async () => {
          try {
            await reconcileAll();
          } catch (err) {
            logger.error({ err }, 'reconciliation failed');
          }
        },
        { name: 'reconciliation', noOverlap: true },
      ),
    );
  }

  return {
    stop() {
      for (const t of tasks) void t.stop();
    },
    backupNow,
  };
}
