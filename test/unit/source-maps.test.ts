// scripts/source-maps.mjs: a Lambda bundle's map trimmed to our own sources still maps every
// position in our code exactly as before, and never attributes a dependency's code to our files.
import { SourceMap } from 'node:module'
import { build } from 'esbuild'
import { describe, expect, it } from 'vitest'
import { keepSources } from '../../scripts/source-maps.mjs'

type Map3 = Parameters<typeof keepSources>[0]

const FILES: Record<string, string> = {
  '/repo/shared/main.ts': [
    "import { heavy, helper } from 'dep'",
    "import { own } from './own.js'",
    'export const handler = (event: { n: number }) => {',
    '  const doubled = helper(event.n)',
    '  return own(doubled) + heavy(doubled)',
    '}',
  ].join('\n'),
  '/repo/shared/own.ts': [
    'export const own = (value: number): number => {',
    "  if (value < 0) throw new Error('negative')",
    '  return value * 3',
    '}',
  ].join('\n'),
  '/repo/node_modules/dep/index.js': [
    'export const helper = (n) => {',
    '  let total = 0',
    '  for (let i = 0; i < n; i++) total += i % 7',
    '  return total',
    '}',
    'export const heavy = (n) => [1, 2, 3].map((x) => x * n).reduce((a, b) => a + b, 0)',
  ].join('\n'),
}

/** A minified bundle of FILES and its map, as esbuild writes them for the Lambdas. */
const bundle = async () => {
  const result = await build({
    absWorkingDir: '/repo',
    entryPoints: ['/repo/shared/main.ts'],
    bundle: true,
    write: false,
    minify: true,
    format: 'esm',
    platform: 'node',
    sourcemap: 'external',
    sourcesContent: false,
    outfile: '/repo/dist/index.mjs',
    plugins: [
      {
        name: 'virtual-files',
        setup(pluginBuild) {
          pluginBuild.onResolve({ filter: /.*/ }, (args) => {
            if (args.kind === 'entry-point') return { path: args.path }
            if (args.path === 'dep') return { path: '/repo/node_modules/dep/index.js' }
            return { path: `/repo/shared/${args.path.replace(/^\.\//, '').replace(/\.js$/, '.ts')}` }
          })
          pluginBuild.onLoad({ filter: /.*/ }, (args) => ({
            contents: FILES[args.path] ?? '',
            loader: args.path.endsWith('.ts') ? 'ts' : 'js',
          }))
        },
      },
    ],
  })
  const code = result.outputFiles.find((file) => file.path.endsWith('.mjs'))?.text ?? ''
  const map = JSON.parse(result.outputFiles.find((file) => file.path.endsWith('.map'))?.text ?? '{}') as Map3
  return { code, map }
}

/** Every generated position of the bundle, with what each map says of it. */
const positions = (code: string) =>
  code.split('\n').flatMap((line, lineNumber) => [...line].map((_, column) => [lineNumber, column] as const))

const isOwn = (source: string) => !source.includes('node_modules/')

/** Node's own reader of source maps, the one --enable-source-maps uses for stack traces. */
const reader = (map: Map3) =>
  new SourceMap({ file: '', sourceRoot: '', ...map, sourcesContent: (map.sourcesContent ?? []).map(String) })

describe('keepSources (scripts/source-maps.mjs)', () => {
  it('changes nothing any position maps to when it keeps every source', async () => {
    // Prepare
    const { code, map } = await bundle()
    const before = reader(map)

    // Act
    const after = reader(keepSources(map, () => true))

    // Assess
    for (const [line, column] of positions(code)) {
      expect(after.findEntry(line, column)).toEqual(before.findEntry(line, column))
    }
  })

  it('maps our code exactly as before and leaves the dependency unmapped', async () => {
    // Prepare
    const { code, map } = await bundle()
    const before = reader(map)

    // Act
    const trimmed = keepSources(map, isOwn)
    const after = reader(trimmed)

    // Assess
    expect(map.sources.some((source) => source.includes('node_modules/dep/'))).toBe(true)
    expect(trimmed.sources.every(isOwn)).toBe(true)
    let ownPositions = 0
    let dependencyPositions = 0
    for (const [line, column] of positions(code)) {
      const original = before.findEntry(line, column) as { originalSource?: string }
      const found = after.findEntry(line, column) as { originalSource?: string }
      if (original.originalSource && isOwn(original.originalSource)) {
        ownPositions++
        expect(found).toEqual(original)
      } else {
        dependencyPositions++
        expect(found.originalSource, `${line}:${column} was ${original.originalSource}`).toBeUndefined()
      }
    }
    expect(ownPositions).toBeGreaterThan(0)
    expect(dependencyPositions).toBeGreaterThan(0)
  })

  it('keeps only the names our mappings use', async () => {
    // Prepare
    const { map } = await bundle()

    // Act
    const trimmed = keepSources(map, isOwn)

    // Assess
    expect(trimmed.names.length).toBeLessThanOrEqual(map.names.length)
    expect(trimmed.names).not.toContain('total')
  })
})
