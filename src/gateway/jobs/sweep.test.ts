import { describe, expect, it } from 'vitest';
import type { Store } from '../store/index.js';
import { startJobs } from './index.js';

describe('outbox sweep job', () => {
  it('wakes the worker on schedule and reports connectors whose deliveries have waited too long', async () => {
    const warnings: Array<{ o: Record<string, unknown>; m?: string }> = [];
    let sweeps = 0;
    const old = new Date(Date.now() - 20 * 60_000).toISOString();
    const jobs = startJobs({
      store: {} as Store, // the sweep reads the outbox through sweepOutbox only
      dataDir: '/nonexistent',
      config: { backupCron: '', backupKeep: 1, auditCron: '', auditRetentionDays: 1, reconcileCron: '', retrySweepCron: '* * * * * *' },
      sweepOutbox: async () => {
        sweeps++;
        return [
          { connector: 'ldap-main', createdAt: old, attempts: 7, lastError: 'transient: ECONNREFUSED 10.0.0.5:636' },
          { connector: 'ldap-main', createdAt: new Date().toISOString(), attempts: 0 },
          { connector: 'hr-db', createdAt: new Date().toISOString(), attempts: 1 },
        ];
      },
      logger: { info() {}, warn: (o, m) => warnings.push({ o: o as Record<string, unknown>, m }), error() {} },
    });
    try {
      const deadline = Date.now() + 8_000;
      while (sweeps < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } finally {
      jobs.stop();
    }
    expect(sweeps).toBeGreaterThanOrEqual(2);
    expect(warnings.length).toBeGreaterThanOrEqual(2);
    expect(warnings[0]).toMatchObject({ o: { connector: 'ldap-main', stuck: 1, lastError: 'transient: ECONNREFUSED 10.0.0.5:636' }, m: expect.stringMatching(/more than 15 minutes/) });
  });
});
