/**
 * The SCIM and engine integration suites once more with every test gateway on PostgreSQL
 * (test/helpers/gateway.ts reads SCIM_BRIDGE_TEST_STORE). `npm test` runs it after the main run.
 */
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
    ],
    env: { SCIM_BRIDGE_TEST_STORE: 'postgres' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
