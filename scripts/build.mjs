// Bundles each Lambda entry (functions/<name>/handler.ts) into dist/<name>/index.mjs with
// esbuild: Node 22, ESM, minified, with source maps.
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'
import { buildCli } from './build-cli.mjs'

const root = new URL('..', import.meta.url).pathname
const functions = readdirSync(join(root, 'functions'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(root, 'functions', entry.name, 'handler.ts')))
  .map((entry) => entry.name)

rmSync(join(root, 'dist'), { recursive: true, force: true })
const results = await Promise.all(
  functions.map((name) =>
    build({
      entryPoints: [join(root, 'functions', name, 'handler.ts')],
      outfile: join(root, 'dist', name, 'index.mjs'),
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'esm',
      minify: true,
      sourcemap: true,
      metafile: true,
      logLevel: 'warning',
      // Some dependencies still call require(); give ESM bundles one.
      banner: {
        js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
      },
    }).then((result) => ({
      name,
      bytes: Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0),
    })),
  ),
)
for (const { name, bytes } of results)
  console.log(`dist/${name}/index.mjs  ${(bytes / 1024).toFixed(0)} KiB (with map)`)

// The command-line client (cli/) into dist/cli/; see scripts/build-cli.mjs.
const cli = await buildCli({ root })
console.log(`dist/cli/  ${(cli.bytes / 1024).toFixed(0)} KiB (CLI, without maps)`)
