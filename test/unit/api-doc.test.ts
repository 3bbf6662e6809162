// docs/api.md is the API reference a reader of this repository gets, so it must not drift from
// the code: its reason codes are exactly those the code can produce (derived from every error
// the broker constructs: test/support/reason-codes.ts), each with the wire code it goes with; its
// error table is the one mapping of code to HTTP status; it names every route. And no document
// of the repository sends a reader to a file outside it.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROUTES } from '../../functions/routes.js'
import { WIRE_STATUS } from '../../shared/core/errors.js'
import { scanReasonCodes } from '../support/reason-codes.js'

const ROOT = join(import.meta.dirname, '..', '..')
const API = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8')

/** The rows of the first table under `## <title>`, as cells without their backquotes. */
const tableUnder = (markdown: string, title: string): string[][] => {
  const section = markdown.split(/^## /m).find((part) => part.startsWith(`${title}\n`))
  if (!section) throw new Error(`docs/api.md has no "## ${title}"`)
  return section
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|\s*-/.test(line))
    .slice(1)
    .map((line) =>
      line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim().replace(/^`|`$/g, '')),
    )
}

describe('docs/api.md', () => {
  it('lists exactly the reason codes the code can produce, each with its wire code', () => {
    const scan = scanReasonCodes()
    const documented = tableUnder(API, 'Reason codes')
    const documentedReasons = documented.map(([reason]) => reason)

    expect(new Set(documentedReasons).size, 'a reason listed twice').toBe(documentedReasons.length)
    const missing = scan.reasons.filter((reason) => !documentedReasons.includes(reason))
    expect(
      missing,
      `not documented: ${missing.map((r) => `${r} (${scan.sites.get(r)?.join(', ')})`).join('; ')}`,
    ).toEqual([])
    expect(documentedReasons.filter((reason) => !scan.reasons.includes(reason as string))).toEqual([])
    // The scan over-approximates a little (a table of checks counts whole, though one path runs
    // some of them): the documented code must be one the code gives that reason.
    for (const [reason, code] of documented) {
      expect([...(scan.codes.get(reason as string) ?? [])], reason).toContain(code)
    }
    // The scan itself finds what it must (a guard against a scan that finds nothing).
    expect(scan.reasons).toEqual(
      expect.arrayContaining(['issuer_unknown', 'jwks_fetch_timeout', 'sts_unavailable', 'sts_not_wired']),
    )
  }, 120_000)

  it('gives each error code the HTTP status the code maps it to, and no other code', () => {
    const documented = Object.fromEntries(
      tableUnder(API, 'Errors').map(([code, status]) => [code, Number(status)]),
    )
    expect(documented).toEqual({ ...WIRE_STATUS })
  })

  it('names every route', () => {
    for (const route of ROUTES)
      expect(API, `${route.method} ${route.path}`).toContain(`${route.method} ${route.path}`)
  })
})

const DOCUMENTS = [
  'README.md',
  'BENCHMARKS.md',
  'CHANGELOG.md',
  'params/default.yml',
  'test/corpus/README.md',
  ...readdirSync(join(ROOT, 'docs')).map((name) => `docs/${name}`),
].filter((path) => existsSync(join(ROOT, path)))

describe('the documentation', () => {
  it.each(DOCUMENTS)('%s links only to files inside the repository, and they exist', (path) => {
    const text = readFileSync(join(ROOT, path), 'utf8')
    const links = [...text.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)]
      .map((match) => match[1] as string)
      .filter((target) => !/^[a-z]+:/i.test(target))
    for (const target of links) {
      const resolved = resolve(dirname(join(ROOT, path)), target)
      expect(relative(ROOT, resolved).startsWith('..'), `${path} → ${target} leaves the repository`).toBe(
        false,
      )
      expect(existsSync(resolved), `${path} → ${target} does not exist`).toBe(true)
    }
  })

  it.each(DOCUMENTS)('%s sends no reader to the design notes kept outside the repository', (path) => {
    const text = readFileSync(join(ROOT, path), 'utf8')
    expect(text).not.toMatch(/\.\.\/shared\/|DESIGN(\.md| §)/)
  })
})
