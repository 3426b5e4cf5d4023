import { configDefaults, defineConfig } from 'vitest/config';

/** Tests of the shared PostgreSQL store's faults and instances: they run in the PostgreSQL pass (vitest.postgres.config.ts). */
export const POSTGRES_ONLY = [
  'test/integration/postgres-faults.test.ts',
  'test/integration/postgres-outage.test.ts',
  'test/integration/outbox-exactly-once.test.ts',
  'test/integration/multi-instance.test.ts',
];

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'connectors/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...POSTGRES_ONLY],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
