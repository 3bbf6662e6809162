#!/usr/bin/env node
// The `irsa-broker` command (package.json "bin"). Runs the esbuild bundle from `npm run build`
// when it is there and not older than its sources, else the TypeScript sources through tsx, so
// a fresh checkout works after `npm ci` and an edited source is never shadowed by a stale bundle.
// IRSA_BROKER_CLI_FROM_SOURCE=1 forces the sources. See docs/decisions.md ("CLI").
import { readFileSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const bundle = new URL('../dist/cli/main.mjs', import.meta.url)
const inputs = new URL('../dist/cli/inputs.json', import.meta.url)
const root = new URL('../', import.meta.url)

const mtime = (url) => {
  try {
    return statSync(url).mtimeMs
  } catch {
    return undefined
  }
}

/** The bundle, unless it is missing or one of the source files it was built from changed since. */
const bundleIsFresh = () => {
  if (process.env.IRSA_BROKER_CLI_FROM_SOURCE === '1') return false
  const built = mtime(bundle)
  if (built === undefined) return false
  let sources
  try {
    sources = JSON.parse(readFileSync(inputs, 'utf8'))
  } catch {
    return false
  }
  // A source that is gone (an installed package ships no sources) does not make the bundle stale.
  return sources.every((source) => (mtime(new URL(source, root)) ?? 0) <= built)
}

const fromSource = async () => {
  let tsx
  try {
    tsx = await import('tsx/esm/api')
  } catch {
    process.stderr.write(
      'irsa-broker: neither dist/cli/ (npm run build) nor tsx (a dev dependency, npm ci) is there to run the CLI\n',
    )
    process.exit(1)
  }
  return tsx.tsImport('../cli/main.ts', import.meta.url)
}

const { run } = bundleIsFresh() ? await import(bundle.href) : await fromSource()

process.exitCode = await run(process.argv.slice(2), {
  self: { node: process.execPath, script: fileURLToPath(import.meta.url) },
})
