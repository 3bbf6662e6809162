#!/usr/bin/env node
// The self-contained executable (dist/cli/irsa-broker.mjs after `npm run build`): copy dist/cli/
// into an image that has Node.js, and it runs without node_modules.
import { fileURLToPath } from 'node:url'
import { run } from './main.js'

process.exitCode = await run(process.argv.slice(2), {
  self: { node: process.execPath, script: fileURLToPath(import.meta.url) },
})
