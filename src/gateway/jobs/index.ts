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
}

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
  logger: { info(o: object, m?: string): void; error(o: object, m?: string): void };
}): Jobs {
  const { store, dataDir, config, logger, audit, reconcileAll } = opts;
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
