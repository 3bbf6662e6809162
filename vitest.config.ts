import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Every worker: the outbound guard (loopback only) and the capture of all output written;
    // at the end of the run, the capture is scanned for secrets (docs/testing.md).
    setupFiles: ['test/setup.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration and e2e suites start moto_server and the local stack; two cores are all a machine has.
    maxWorkers: 2,
    // Under CI a JSON report too, from which .ci/run prints its closing line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results.json' },
  },
})
