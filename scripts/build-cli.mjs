// Bundles the CLI (cli/) with esbuild into dist/cli/: `main.mjs` (what bin/irsa-broker.js
// imports), `irsa-broker.mjs` (a self-contained executable for images without node_modules),
// shared chunks (the SigV4 signer and the AWS credential chain load only for admin calls
// against AWS), and `inputs.json`, the source files the bundle was built from, which the bin
// compares with the bundle's age. `node scripts/build-cli.mjs --outdir DIR` builds elsewhere.
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'
import { codeBytes, sharedBuildOptions } from './esbuild-options.mjs'

const ROOT = new URL('..', import.meta.url).pathname

export const buildCli = async ({ root = ROOT, outdir = join(root, 'dist', 'cli') } = {}) => {
  rmSync(outdir, { recursive: true, force: true })
  mkdirSync(outdir, { recursive: true })
  const result = await build({
    // The CLI runs wherever the package does: Node 20 and later (package.json "engines").
    ...sharedBuildOptions({ root, target: 'node20' }),
    entryPoints: { main: join(root, 'cli', 'main.ts'), 'irsa-broker': join(root, 'cli', 'irsa-broker.ts') },
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    splitting: true,
  })
  const sources = Object.keys(result.metafile.inputs)
    .filter((input) => !input.includes('node_modules/'))
    .map((input) => relative(root, join(root, input)))
    .sort()
  writeFileSync(join(outdir, 'inputs.json'), `${JSON.stringify(sources, null, 2)}\n`)
  chmodSync(join(outdir, 'irsa-broker.mjs'), 0o755)
  const bytes = codeBytes(result.metafile)
  return { outdir, bytes, sources }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { outdir: { type: 'string' } } })
  const { outdir, bytes } = await buildCli(values.outdir ? { outdir: values.outdir } : {})
  console.log(
    `${relative(process.cwd(), outdir) || outdir}/  ${(bytes / 1024).toFixed(0)} KiB (CLI, without maps)`,
  )
}
