import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration and e2e suites start moto_server and the local stack; two cores are all a machine has.
    maxWorkers: 2,
  },
})
