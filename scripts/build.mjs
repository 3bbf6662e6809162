// Bundles each Lambda entry (functions/<name>/handler.ts) into dist/<name>/index.mjs with
// esbuild (options shared with the CLI: scripts/esbuild-options.mjs), for Node 22, and writes
// esbuild's metafile for them to dist/functions.meta.json (which inputs each bundle holds, and
// their bytes: test/unit/bundles.test.ts reads it). Then the CLI into dist/cli/.
// `buildFunctions` is also what the cold-start bench builds with (test/bench/cold-start.bench.ts).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'
import { buildCli } from './build-cli.mjs'
import { codeBytes, sharedBuildOptions } from './esbuild-options.mjs'
import { keepSources } from './source-maps.mjs'

const ROOT = new URL('..', import.meta.url).pathname

export const FUNCTIONS_META = 'functions.meta.json'

/** Every functions/<name>/ that has a handler.ts. */
export const functionNames = (root = ROOT) =>
  readdirSync(join(root, 'functions'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(root, 'functions', entry.name, 'handler.ts')))
    .map((entry) => entry.name)
    .sort()

/**
 * What only the Lambda bundles get:
 * - `alias`: the SDK clients' default credential chain is replaced by the one Lambda can use
 *   (shared/adapters/lambda-credentials.ts: environment, then a container endpoint), which
 *   leaves out about 90 KB of providers that never apply there (docs/decisions.md).
 * - `sourcesContent: false`, and maps trimmed to our own sources afterwards (source-maps.mjs):
 *   they still turn stack traces into file:line of our sources (NODE_OPTIONS=
 *   --enable-source-maps in serverless.yml), without the copy of every source and the
 *   mappings into node_modules that Node would otherwise read and decode at every cold start.
 */
const lambdaOptions = (root) => ({
  ...sharedBuildOptions({ root, target: 'node22' }),
  alias: { '@aws-sdk/credential-provider-node': './shared/adapters/lambda-credentials.ts' },
  sourcesContent: false,
})

/**
 * One self-contained bundle per function (no code shared between them: each is zipped alone).
 * Returns each bundle's bytes without its map, and the metafile. `external` is for the
 * cold-start bench's comparison only (bundles that load @aws-sdk/* from node_modules).
 */
export const buildFunctions = async ({ root = ROOT, outdir = join(root, 'dist'), external = [] } = {}) => {
  const names = functionNames(root)
  const result = await build({
    ...lambdaOptions(root),
    external,
    entryPoints: Object.fromEntries(names.map((name) => [name, join(root, 'functions', name, 'handler.ts')])),
    outdir,
    entryNames: '[name]/index',
    outExtension: { '.js': '.mjs' },
  })
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    if (!file.endsWith('.map')) continue
    const path = join(root, file)
    const trimmed = JSON.stringify(
      keepSources(JSON.parse(readFileSync(path, 'utf8')), (source) => !source.includes('node_modules/')),
    )
    writeFileSync(path, trimmed)
    output.bytes = Buffer.byteLength(trimmed)
  }
  mkdirSync(outdir, { recursive: true })
  writeFileSync(join(outdir, FUNCTIONS_META), `${JSON.stringify(result.metafile)}\n`)
  const bundles = names.map((name) => {
    const [file] = Object.entries(result.metafile.outputs).filter(([path]) =>
      path.endsWith(`/${name}/index.mjs`),
    )
    if (!file) throw new Error(`esbuild wrote no bundle for ${name}`)
    return { name, file: join(root, file[0]), bytes: codeBytes({ outputs: { [file[0]]: file[1] } }) }
  })
  return { bundles, metafile: result.metafile }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  rmSync(join(ROOT, 'dist'), { recursive: true, force: true })
  const { bundles } = await buildFunctions()
  for (const { name, bytes } of bundles)
    console.log(`dist/${name}/index.mjs  ${(bytes / 1024).toFixed(1)} KiB (without its map)`)

  // The command-line client (cli/) into dist/cli/; see scripts/build-cli.mjs.
  const cli = await buildCli({ root: ROOT })
  console.log(`dist/cli/  ${(cli.bytes / 1024).toFixed(0)} KiB (CLI, without maps)`)
}
