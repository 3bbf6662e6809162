// Builds the self-contained `irsa-broker` executable: a Node single executable application
// (https://nodejs.org/api/single-executable-applications.html) made of the node binary running
// this script and the CLI (cli/sea.ts) bundled by esbuild into one CommonJS file, which is all a
// single executable application can run. The result needs no node on PATH and no node_modules:
// the webhook's init container copies it into a pod's emptyDir, and the credential_process lines
// of the pod's AWS config run it from there (docs/data-planes.md, "Wire workloads"). It embeds this
// node binary unchanged, so it runs where that binary runs: Linux with glibc and libstdc++
// (docs/data-planes.md lists the base images). `node scripts/build-sea.mjs --outfile PATH` builds
// it alone; scripts/build-agent.mjs builds it into the agent image's tree.
import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'

const ROOT = new URL('..', import.meta.url).pathname

/** The fuse node looks for to know it carries an application (the value its docs name). */
const SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'

/** The CLI as one CommonJS file: every import inlined, dynamic ones included (no chunks to load). */
const bundleCli = async (root, outfile) => {
  const result = await build({
    absWorkingDir: root,
    entryPoints: [join(root, 'cli', 'sea.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    // The oldest Node that builds it (package.json "engines"); the image builds it with Node 22.
    target: 'node20',
    format: 'cjs',
    // As the other bundles (scripts/esbuild-options.mjs): the SDK's ES module builds.
    mainFields: ['module', 'main'],
    conditions: ['module'],
    minify: true,
    metafile: true,
    logLevel: 'warning',
  })
  return result.metafile
}

/**
 * @param {{ root?: string, outfile: string }} options
 * @returns {Promise<{ outfile: string, bytes: number, scriptBytes: number, node: string, nodeVersion: string }>}
 */
export const buildSea = async ({ root = ROOT, outfile }) => {
  if (process.platform !== 'linux')
    throw new Error(
      `the self-contained executable is built on Linux, for Linux images (this is ${process.platform})`,
    )
  const work = mkdtempSync(join(tmpdir(), 'irsa-broker-sea-'))
  try {
    const script = join(work, 'irsa-broker.cjs')
    await bundleCli(root, script)
    const blob = join(work, 'sea-prep.blob')
    const config = join(work, 'sea-config.json')
    writeFileSync(
      config,
      JSON.stringify({
        main: script,
        output: blob,
        // stderr is the CLI's message channel (one line per failure, README.md, "The irsa-broker CLI").
        disableExperimentalSEAWarning: true,
        // V8's code cache of the script: a faster start of every credential_process call. It is
        // tied to the node version that makes it, which is the one embedded below.
        useCodeCache: true,
      }),
    )
    // The blob must come from the very node binary it is injected into.
    execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'pipe' })
    mkdirSync(dirname(outfile), { recursive: true })
    const temp = `${outfile}.tmp`
    copyFileSync(process.execPath, temp)
    chmodSync(temp, 0o755)
    // postject is CommonJS; its LIEF (WebAssembly) prints harmless warnings about node's notes.
    const { inject } = createRequire(import.meta.url)('postject')
    await inject(temp, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SENTINEL_FUSE })
    renameSync(temp, outfile)
    return {
      outfile,
      bytes: statSync(outfile).size,
      scriptBytes: readFileSync(script).byteLength,
      node: process.execPath,
      nodeVersion: process.version,
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { outfile: { type: 'string' } } })
  const started = performance.now()
  const sea = await buildSea({ outfile: values.outfile ?? join(ROOT, 'dist', 'sea', 'irsa-broker') })
  console.log(
    `${relative(process.cwd(), sea.outfile) || sea.outfile}  ${(sea.bytes / 2 ** 20).toFixed(1)} MiB (node ${sea.nodeVersion} + ${(sea.scriptBytes / 1024).toFixed(0)} KiB of CLI) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  )
}
