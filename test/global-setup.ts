// Once per `vitest run` (vitest `globalSetup`, in the main process): creates the folder every
// worker appends its captured output to (test/support/log-capture.ts), and at the end scans it
// all for secrets (test/support/secret-scan.ts). A finding fails the run: the report names the
// kind, the test file and where it was written, never the secret itself.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CAPTURE_DIR_VARIABLE } from './support/log-capture.js'
import { scanCaptureFolder } from './support/secret-scan.js'

/** `true` keeps the capture folder of a clean run too, to look at what was captured. */
const KEEP_VARIABLE = 'IRSA_BROKER_TEST_KEEP_CAPTURE'

export default function setup() {
  const folder = mkdtempSync(join(tmpdir(), 'irsa-broker-test-output-'))
  process.env[CAPTURE_DIR_VARIABLE] = folder
  return function teardown() {
    const { records, findings } = scanCaptureFolder(folder)
    if (findings.length === 0) {
      if (process.env[KEEP_VARIABLE] === 'true')
        console.info(`captured output kept in ${folder} (${records} writes)`)
      else rmSync(folder, { recursive: true, force: true })
      return
    }
    const report = findings
      .slice(0, 50)
      .map((f) => `  ${f.kind} in ${f.source} (${f.file ?? 'no test file'}; ${f.captureFile}): ${f.excerpt}`)
      .join('\n')
    // vitest reports a teardown error but keeps the exit status of the tests: set it ourselves.
    process.exitCode = 1
    throw new Error(
      `secret scan FAILED: ${findings.length} secret(s) in the ${records} captured writes of this run (kept in ${folder}):\n${report}`,
    )
  }
}
