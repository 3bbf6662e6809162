// Runs in every test worker before each test file (vitest `setupFiles`): the outbound guard
// (loopback only) and the capture of everything written, for the secret scan at the end of the
// run (test/global-setup.ts).
import { relative } from 'node:path'
import { expect } from 'vitest'
import { CAPTURE_DIR_VARIABLE, installLogCapture } from './support/log-capture.js'
import { installOutboundGuard } from './support/outbound-guard.js'

installOutboundGuard()
installLogCapture({
  dir: process.env[CAPTURE_DIR_VARIABLE],
  testFile: () => {
    const path = expect.getState().testPath
    return path ? relative(process.cwd(), path) : undefined
  },
})
