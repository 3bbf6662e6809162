// The layering STYLE.md asks for, checked on the source: a pure core, env read only in
// composition roots, and serverless.yml exposing exactly the routes the local server serves.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROUTES, type Route, routeKey } from '../../functions/routes.js'
import { parseCloudFormationYaml } from '../support/cloudformation-yaml.js'

interface HttpApiEvent {
  method: string
  path: string
  authorizer?: { type?: string }
}

const root = join(import.meta.dirname, '..', '..')

const sourceFiles = (dir: string): string[] =>
  readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name))

const importsOf = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((match) => match[1] ?? '')

describe('architecture', () => {
  it('keeps the core free of AWS SDK, middy, HTTP and adapter imports', () => {
    // zod, from any of its entry points (the admin documents, schemas.ts, use zod/mini and its locales);
    // cel-js and its evaluator entry (the condition guard checks durations and uints by class).
    const allowed =
      /^(\.\/|jose$|zod(\/mini|\/v4\/core|\/locales)?$|node:crypto$|@marcbachmann\/cel-js(\/evaluator)?$)/
    const offending = sourceFiles('shared/core').flatMap((file) =>
      importsOf(file)
        .filter((specifier) => !allowed.test(specifier))
        .map((specifier) => `${file}: ${specifier}`),
    )
    expect(offending).toEqual([])
  })

  it("keeps the webhook's core (dataplane/core) as pure as shared/core: no HTTP, Kubernetes client, fs or env", () => {
    // yaml and zod, and shared/core's own modules, which the test above holds pure.
    const allowed = /^(\.\/[\w.-]+\.js$|\.\.\/\.\.\/shared\/core\/[\w.-]+\.js$|yaml$|zod(\/mini|\/locales)?$)/
    const files = sourceFiles('dataplane/core')
    expect(files.length).toBeGreaterThan(0)
    const reexportsOf = (file: string) =>
      [...readFileSync(file, 'utf8').matchAll(/^export[^'"]*from\s*['"]([^'"]+)['"]/gm)].map(
        (match) => match[1] ?? '',
      )
    const offending = files.flatMap((file) =>
      [...importsOf(file), ...reexportsOf(file)]
        .filter((specifier) => !allowed.test(specifier))
        .map((specifier) => `${file}: ${specifier}`),
    )
    expect(offending).toEqual([])
    // Nor reached without an import: no environment, no dynamic import, no require.
    const globals = files.filter((file) =>
      /process\.|\brequire\(|\bimport\(/.test(readFileSync(file, 'utf8')),
    )
    expect(globals).toEqual([])
  })

  it('keeps the static CEL cost model off the exchange path: condition-run.ts never reaches condition-cost.ts', () => {
    // The credentials Lambda evaluates stored conditions under the guard and its cost table;
    // the static bound is for registration (condition.ts). test/unit/bundles.test.ts checks the bundles.
    const reached = new Set<string>()
    const visit = (file: string): void => {
      if (reached.has(file)) return
      reached.add(file)
      for (const specifier of importsOf(join(root, 'shared/core', file)))
        if (specifier.startsWith('./')) visit(specifier.slice(2).replace(/\.js$/, '.ts'))
    }
    visit('condition-run.ts')
    expect([...reached].filter((file) => file === 'condition-cost.ts' || file === 'condition.ts')).toEqual([])
    expect(reached).toContain('condition-charges.ts')
  })

  it('reads process.env only in composition roots and local entry points', () => {
    const readers = ['shared', 'functions', 'infra', 'dataplane']
      .flatMap(sourceFiles)
      .filter((file) => readFileSync(file, 'utf8').includes('process.env'))
      .map((file) => file.slice(root.length + 1))
      .sort()
    expect(readers).toEqual([
      'functions/admin/handler.ts',
      'functions/credentials/handler.ts',
      'functions/discovery/handler.ts',
      'functions/keys/handler.ts',
      'functions/roles/handler.ts',
      'infra/local/main.ts',
      'infra/local/processes.ts',
    ])
  })

  it('declares in serverless.yml exactly the routes of functions/routes.ts, on the same functions, admin ones behind aws_iam', () => {
    const config = parseCloudFormationYaml(readFileSync(join(root, 'serverless.yml'), 'utf8')) as {
      functions: Record<string, { events?: { httpApi?: HttpApiEvent }[] }>
    }
    const declared = Object.entries(config.functions)
      .flatMap(([name, fn]) =>
        (fn.events ?? []).flatMap(({ httpApi }) =>
          httpApi
            ? [
                `${routeKey({ method: httpApi.method.toUpperCase() as Route['method'], path: httpApi.path })} → ${name}` +
                  (httpApi.authorizer?.type === 'aws_iam' ? ' (iam)' : ''),
              ]
            : [],
        ),
      )
      .sort()
    const expected = ROUTES.map(
      (route) => `${routeKey(route)} → ${route.function}${route.admin ? ' (iam)' : ''}`,
    ).sort()
    expect(declared).toEqual(expected)
  })
})
