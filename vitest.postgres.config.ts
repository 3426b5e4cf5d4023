/**
 * The SCIM and engine integration suites once more with every test gateway on PostgreSQL
 * (test/helpers/gateway.ts reads SCIM_BRIDGE_TEST_STORE), and the tests of what only a shared
 * PostgreSQL store has: database faults, failover, several instances, delivery exactly once.
 * `npm test` runs it after the main run.
 */
import { POSTGRES_ONLY } from './vitest.config.js';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'postgres-store',
    include: [
      'test/integration/scim-*.test.ts',
      'test/integration/idp-replay.test.ts',
      'test/integration/policies.test.ts',
      'test/integration/roles.test.ts',
      'test/integration/claim-and-sync.test.ts',
      'test/integration/hooks.test.ts',
      'test/integration/outbox.test.ts',
      ...POSTGRES_ONLY,
    ],
    env: { SCIM_BRIDGE_TEST_STORE: 'postgres' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
