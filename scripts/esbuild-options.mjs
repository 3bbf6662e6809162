// The esbuild options every bundle of this repository shares: the Lambda functions
// (scripts/build.mjs) and the CLI (scripts/build-cli.mjs). Each build adds only what is its own
// (entry points, output place, target, splitting).

import { join, sep } from 'node:path'

/** Some dependencies still call require(); an ESM bundle gets one from node:module. */
const requireBanner =
  "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"

/**
 * Our own modules (every file outside node_modules) only define things at their top level, and
 * none is imported for its side effects: esbuild may then leave out a module none of whose
 * exports a bundle uses, even when its top level calls functions (as the zod schemas of
 * shared/core/schemas.ts do). Without this, a module imported by a module that is itself
 * imported (shared/wiring.ts → core/admin.ts → core/schemas.ts → zod) lands in every bundle
 * that imports the first, whether it uses it or not.
 */
const ownModulesWithoutSideEffects = (root) => ({
  name: 'own-modules-without-side-effects',
  setup(build) {
    const modules = join(root, 'node_modules') + sep
    build.onResolve({ filter: /^\.\.?\// }, async (args) => {
      if (args.pluginData === 'resolved' || args.importer.startsWith(modules)) return undefined
      const result = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'resolved',
      })
      if (result.errors.length > 0 || result.path.startsWith(modules)) return result
      return { ...result, sideEffects: false }
    })
  },
})

/**
 * Node, ESM, minified, with source maps and a metafile (what went into each output).
 *
 * `mainFields` puts `module` first: packages without an `exports` map (the AWS SDK v3 clients,
 * @smithy/*) then resolve to their ES module build (`dist-es`), which esbuild can tree-shake
 * down to the commands actually sent, instead of their CommonJS build (`dist-cjs`), which it
 * must keep whole. `conditions: ['module']` does the same for packages whose `exports` map
 * offers a `module` entry.
 *
 * @param {{ root: string, target: string }} options `root`: the repository; `target`: the
 *   oldest Node the output must run on.
 * @returns {import('esbuild').BuildOptions}
 */
export const sharedBuildOptions = ({ root, target }) => ({
  absWorkingDir: root,
  plugins: [ownModulesWithoutSideEffects(root)],
  bundle: true,
  platform: 'node',
  target,
  format: 'esm',
  mainFields: ['module', 'main'],
  conditions: ['module'],
  minify: true,
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
  banner: { js: requireBanner },
})

/** Bytes of the JavaScript outputs of a build, source maps left out. */
export const codeBytes = (metafile) =>
  Object.entries(metafile.outputs)
    .filter(([file]) => !file.endsWith('.map'))
    .reduce((sum, [, output]) => sum + output.bytes, 0)
