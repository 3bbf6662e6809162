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
 * The SDK clients import their whole package.json (`import packageInfo from "../package.json"`)
 * for one field, `version`, which goes into the User-Agent header; a JSON default import cannot
 * be tree-shaken, so each client brought about 2 KB of scripts, dependencies and exports maps.
 * This hands esbuild only `name` and `version` of the package.json files of @aws-sdk/* and
 * @smithy/* packages: the User-Agent keeps the real version (test/unit/bundles.test.ts).
 */
const sdkPackageJsonNameAndVersion = {
  name: 'sdk-package-json-name-and-version',
  setup(build) {
    build.onLoad(
      { filter: /[\\/]node_modules[\\/]@(aws-sdk|smithy)[\\/][^\\/]+[\\/]package\.json$/ },
      (args) => {
        const { name, version } = JSON.parse(readFileSync(args.path, 'utf8'))
        return { contents: JSON.stringify({ name, version }), loader: 'json' }
      },
    )
  },
}

/**
 * Four parts of the AWS SDK that the Lambda bundles would carry but never run are replaced by
 * shared/adapters/lambda-sdk-stubs.ts (whose exports throw, should one ever be reached):
 * - @smithy/core/event-streams (the event-stream codec and its CRC32, about 19 KB): the
 *   protocols import it (dynamically, which esbuild inlines) only for an operation with an
 *   event stream, and none of our STS, KMS or DynamoDB operations has one;
 * - Sha256Js, which @smithy/core's Sha256Node imports as its fallback where node:crypto has
 *   no sha256 (about 3 KB): every Node has it;
 * - @aws-sdk/endpoint-cache (with mnemonist, about 7 KB): DynamoDB's cache of discovered
 *   endpoints, always empty since shared/aws.ts turns endpoint discovery off.
 * - AdaptiveRetryStrategy (with DefaultRateLimiter, about 3 KB), which @smithy/core's retry
 *   configuration builds only for retryMode 'adaptive': shared/aws.ts sets 'standard'.
 * test/unit/bundles.test.ts checks that neither is in a bundle and that each bundle answers.
 */
const sdkPartsLambdaNeverRuns = (root) => ({
  name: 'sdk-parts-lambda-never-runs',
  setup(build) {
    const stubs = join(root, 'shared', 'adapters', 'lambda-sdk-stubs.ts')
    const sha256Node =
      /[\\/]@smithy[\\/]core[\\/]dist-es[\\/]submodules[\\/]checksum[\\/]sha256[\\/]Sha256Node\.js$/
    const retryConfigurations =
      /[\\/]@smithy[\\/]core[\\/]dist-es[\\/]submodules[\\/]retry[\\/]middleware-retry[\\/]configurations\.js$/
    build.onResolve({ filter: /^@smithy\/core\/event-streams$/ }, () => ({ path: stubs }))
    build.onResolve({ filter: /^@aws-sdk\/endpoint-cache$/ }, () => ({ path: stubs }))
    build.onResolve({ filter: /^\.\/Sha256Js$/ }, (args) =>
      sha256Node.test(args.importer) ? { path: stubs } : undefined,
    )
    build.onResolve({ filter: /^\.\.\/util-retry\/AdaptiveRetryStrategy$/ }, (args) =>
      retryConfigurations.test(args.importer) ? { path: stubs } : undefined,
    )
  },
})

/**
 * What only the Lambda bundles get:
 * - `alias`: the SDK clients' default credential chain is replaced by the one Lambda can use
 *   (shared/adapters/lambda-credentials.ts: environment, then a container endpoint), which
 *   leaves out about 90 KB of providers that never apply there (docs/decisions.md).
 * - `plugins`: the SDK parts above that never run, and only `name` and `version` of the SDK
 *   packages' package.json.
 * - `sourcesContent: false`, and maps trimmed to our own sources afterwards (source-maps.mjs):
 *   they still turn stack traces into file:line of our sources (NODE_OPTIONS=
 *   --enable-source-maps in serverless.yml), without the copy of every source and the
 *   mappings into node_modules that Node would otherwise read and decode at every cold start.
 */
export const lambdaOptions = (root) => {
  const shared = sharedBuildOptions({ root, target: 'node22' })
  return {
    ...shared,
    plugins: [...shared.plugins, sdkPartsLambdaNeverRuns(root), sdkPackageJsonNameAndVersion],
    alias: { '@aws-sdk/credential-provider-node': './shared/adapters/lambda-credentials.ts' },
    sourcesContent: false,
  }
}

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
    console.log(`dist/${name}/index.mjs  ${bytes} bytes = ${(bytes / 1000).toFixed(1)} KB (without its map)`)

  // The command-line client (cli/) into dist/cli/; see scripts/build-cli.mjs.
  const cli = await buildCli({ root: ROOT })
  console.log(`dist/cli/  ${(cli.bytes / 1024).toFixed(0)} KiB (CLI, without maps)`)
}
