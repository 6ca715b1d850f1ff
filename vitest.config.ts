import { defineConfig } from 'vitest/config';

// Two tiers: `*.test.ts` are pure unit tests; `*.it.test.ts` need real infrastructure,
// which test/src/global-setup.ts starts once per run (nats-server with JetStream, PostgreSQL).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'packages/*/test/**/*.test.ts',
            'services/*/test/**/*.test.ts',
            'bench/test/**/*.test.ts',
          ],
          exclude: ['**/*.it.test.ts', '**/node_modules/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: [
            'packages/*/test/**/*.it.test.ts',
            'services/*/test/**/*.it.test.ts',
            'bench/test/**/*.it.test.ts',
            'test/**/*.it.test.ts',
          ],
          exclude: ['**/node_modules/**'],
          globalSetup: ['test/src/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: 'forks',
        },
      },
    ],
  },
});
