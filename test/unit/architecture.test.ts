// The layering STYLE.md asks for, checked on the source: a pure core, env read only in
// composition roots, and serverless.yml exposing exactly the routes the local server serves.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROUTES, routeKey } from '../../functions/routes.js'

const root = join(import.meta.dirname, '..', '..')

const sourceFiles = (dir: string): string[] =>
  readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name))

const importsOf = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((match) => match[1] ?? '')

describe('architecture', () => {
  it('keeps the core free of AWS SDK, middy, HTTP and adapter imports', () => {
    const allowed = /^(\.\/|jose$|zod$|node:crypto$)/
    const offending = sourceFiles('shared/core').flatMap((file) =>
      importsOf(file)
        .filter((specifier) => !allowed.test(specifier))
        .map((specifier) => `${file}: ${specifier}`),
    )
    expect(offending).toEqual([])
  })

  it('reads process.env only in composition roots and local entry points', () => {
    const readers = ['shared', 'functions', 'infra']
      .flatMap(sourceFiles)
      .filter((file) => readFileSync(file, 'utf8').includes('process.env'))
      .map((file) => file.slice(root.length + 1))
      .sort()
    expect(readers).toEqual([
      'functions/admin/handler.ts',
      'functions/credentials/handler.ts',
      'functions/discovery/handler.ts',
      'functions/roles/handler.ts',
      'infra/local/main.ts',
      'infra/local/processes.ts',
    ])
  })

  it('declares in serverless.yml exactly the routes of functions/routes.ts, admin ones behind aws_iam', () => {
    const yaml = readFileSync(join(root, 'serverless.yml'), 'utf8')
    const declared = [
      ...yaml.matchAll(
        /httpApi: \{ method: (\w+), path: '?([^',]+)'?(, authorizer: \{ type: aws_iam \})? \}/g,
      ),
    ]
      .map(
        (match) =>
          `${routeKey({ method: match[1] as 'GET', path: match[2] ?? '' })}${match[3] ? ' (iam)' : ''}`,
      )
      .sort()
    const expected = ROUTES.map((route) => `${routeKey(route)}${route.admin ? ' (iam)' : ''}`).sort()
    expect(declared).toEqual(expected)
  })
})
