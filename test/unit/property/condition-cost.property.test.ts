// Properties of the CEL cost model (issue 12, item 1), over generated conditions — nested binds,
// comprehensions, concatenations, string functions — and generated claims up to the limits a
// token can reach (12 KiB of JSON, 1000-element lists): an accepted condition never produces a
// value larger than the static bound said for its node, never costs more than its bound, and
// never trips the guard; and whatever a condition does without the bound, the guard keeps every
// value within the size cap and ends the evaluation with an outcome.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compileCondition } from '../../../shared/core/condition.js'
import {
  type CelNode,
  ERROR_COST,
  entryCount,
  MAX_CONDITION_VALUE_SIZE,
  weightUpTo,
} from '../../../shared/core/condition-charges.js'
import { createMeter } from '../../../shared/core/condition-guard.js'
import { evaluateCompiled } from '../../../shared/core/condition-run.js'
import {
  checkJsonShape,
  MAX_CLAIM_COLLECTION_SIZE,
  MAX_CLAIMS_JSON_BYTES,
} from '../../../shared/core/limits.js'
import type { WorkloadClaims } from '../../../shared/core/model.js'

// ---- conditions ----------------------------------------------------------------------------
// Variables s0, s1 (strings) and l0, l1 (lists) are bound around every generated body, so a
// reference always type-checks; inner binds and comprehensions rebind (shadow) them.

const STRING_VARS = ['s0', 's1'] as const
const LIST_VARS = ['l0', 'l1'] as const
const DEPTH = { maxDepth: 5, depthIdentifier: 'cel', depthSize: 'small' } as const

const literal = fc
  .string({ unit: fc.constantFrom('a', 'b', ',', ' ', 'ß', 'ΐ', 'İ', '1'), maxLength: 6 })
  .map((text) => `'${text}'`)

const conditions = fc
  .letrec<{ str: string; list: string; int: string; bool: string; map: string }>((tie) => ({
    str: fc.oneof(
      DEPTH,
      fc.constantFrom('claims.sub', 'claims.s', 'claims.m.k', ...STRING_VARS),
      literal,
      fc.tuple(tie('str'), tie('str')).map(([a, b]) => `(${a} + ${b})`),
      tie('str').map((a) => `${a}.lowerAscii()`),
      tie('str').map((a) => `${a}.upperAscii()`),
      tie('str').map((a) => `${a}.trim()`),
      tie('str').map((a) => `${a}.substring(0)`),
      tie('list').map((l) => `${l}.join()`),
      fc.tuple(tie('list'), literal).map(([l, sep]) => `${l}.join(${sep})`),
      tie('int').map((i) => `string(${i})`),
      fc.tuple(tie('str')).map(([a]) => `string(bytes(${a}))`),
      tie('str').map((a) => `bytes(${a}).hex()`),
      tie('str').map((a) => `bytes(${a}).base64()`),
      tie('str').map((a) => `${a}.substring(0, size(${a}) / 2)`),
      fc.tuple(tie('map'), literal).map(([m, k]) => `${m}[${k}]`),
      tie('map').map((m) => `${m}.k`),
      fc.tuple(tie('bool'), tie('str'), tie('str')).map(([c, a, b]) => `(${c} ? ${a} : ${b})`),
      fc
        .tuple(fc.constantFrom(...STRING_VARS), tie('str'), tie('str'))
        .map(([v, value, body]) => `cel.bind(${v}, ${value}, ${body})`),
    ),
    list: fc.oneof(
      DEPTH,
      fc.constantFrom('claims.groups', 'claims.tags', ...LIST_VARS),
      fc
        .array(tie('str'), { maxLength: 3 })
        .map((items) => `[${items.map((item) => `dyn(${item})`).join(', ')}]`),
      fc.tuple(tie('list'), tie('list')).map(([a, b]) => `(${a} + ${b})`),
      fc
        .tuple(tie('list'), fc.constantFrom(...STRING_VARS), tie('str'))
        .map(([l, v, body]) => `${l}.map(${v}, ${body})`),
      fc
        .tuple(tie('list'), fc.constantFrom(...STRING_VARS), tie('bool'), tie('str'))
        .map(([l, v, keep, body]) => `${l}.map(${v}, ${keep}, ${body})`),
      fc
        .tuple(tie('list'), fc.constantFrom(...STRING_VARS), tie('bool'))
        .map(([l, v, body]) => `${l}.filter(${v}, ${body})`),
      fc.tuple(tie('str'), literal).map(([a, sep]) => `${a}.split(${sep})`),
      fc
        .tuple(tie('str'), literal, fc.integer({ min: -1, max: 3 }))
        .map(([a, sep, n]) => `${a}.split(${sep}, ${n})`),
      fc
        .tuple(tie('map'), fc.constantFrom(...STRING_VARS), tie('str'))
        .map(([m, v, body]) => `${m}.map(${v}, ${body})`),
      fc
        .tuple(tie('map'), fc.constantFrom(...STRING_VARS), tie('bool'))
        .map(([m, v, body]) => `${m}.filter(${v}, ${body})`),
      fc.tuple(tie('bool'), tie('list'), tie('list')).map(([c, a, b]) => `(${c} ? ${a} : ${b})`),
      fc
        .tuple(fc.constantFrom(...LIST_VARS), tie('list'), tie('list'))
        .map(([v, value, body]) => `cel.bind(${v}, ${value}, ${body})`),
    ),
    int: fc.oneof(
      DEPTH,
      fc.integer({ min: 0, max: 9 }).map(String),
      tie('str').map((a) => `size(${a})`),
      tie('list').map((l) => `size(${l})`),
      fc.tuple(tie('str'), tie('str')).map(([a, b]) => `${a}.indexOf(${b})`),
      fc.tuple(tie('int'), tie('int')).map(([a, b]) => `(${a} + ${b})`),
      fc.tuple(tie('int'), tie('int')).map(([a, b]) => `(${a} * ${b})`),
      tie('map').map((m) => `size(${m})`),
      tie('str').map((a) => `bytes(${a}).size()`),
      fc.tuple(tie('str'), tie('str')).map(([a, b]) => `${a}.lastIndexOf(${b})`),
    ),
    bool: fc.oneof(
      DEPTH,
      fc.constantFrom('true', 'false', 'has(claims.m.k)', "'k' in claims.m"),
      fc
        .tuple(tie('str'), fc.constantFrom('==', '!=', '<', '>='), tie('str'))
        .map(([a, op, b]) => `(${a} ${op} ${b})`),
      fc
        .tuple(tie('str'), fc.constantFrom('contains', 'startsWith', 'endsWith'), tie('str'))
        .map(([a, fn, b]) => `${a}.${fn}(${b})`),
      fc.tuple(tie('str'), tie('list')).map(([a, l]) => `(${a} in ${l})`),
      fc.tuple(tie('list'), tie('list')).map(([a, b]) => `(${a} == ${b})`),
      fc.tuple(tie('map'), tie('map')).map(([a, b]) => `(${a} == ${b})`),
      fc.tuple(tie('str'), tie('map')).map(([a, m]) => `(${a} in ${m})`),
      tie('map').map((m) => `has(${m}.k)`),
      fc
        .tuple(tie('map'), fc.constantFrom('exists', 'all'), fc.constantFrom(...STRING_VARS), tie('bool'))
        .map(([m, macro, v, body]) => `${m}.${macro}(${v}, ${body})`),
      fc
        .tuple(
          tie('list'),
          fc.constantFrom('exists', 'all', 'exists_one'),
          fc.constantFrom(...STRING_VARS),
          tie('bool'),
        )
        .map(([l, macro, v, body]) => `${l}.${macro}(${v}, ${body})`),
      fc.tuple(tie('int'), tie('int')).map(([a, b]) => `(${a} <= ${b})`),
      fc
        .tuple(tie('bool'), fc.constantFrom('&&', '||'), tie('bool'))
        .map(([a, op, b]) => `(${a} ${op} ${b})`),
      tie('bool').map((a) => `!(${a})`),
      fc
        .tuple(fc.constantFrom(...STRING_VARS), tie('str'), tie('bool'))
        .map(([v, value, body]) => `cel.bind(${v}, ${value}, ${body})`),
      fc
        .tuple(fc.constantFrom(...LIST_VARS), tie('list'), tie('bool'))
        .map(([v, value, body]) => `cel.bind(${v}, ${value}, ${body})`),
    ),
    map: fc.oneof(
      DEPTH,
      fc.constantFrom('claims.m', 'claims'),
      fc
        .array(fc.tuple(fc.oneof(literal, tie('str')), tie('str')), { maxLength: 3 })
        .map((entries) => `{${entries.map(([k, v]) => `${k}: dyn(${v})`).join(', ')}}`),
      fc.tuple(tie('bool'), tie('map'), tie('map')).map(([c, a, b]) => `(${c} ? ${a} : ${b})`),
      fc
        .tuple(fc.constantFrom(...STRING_VARS), tie('str'), tie('map'))
        .map(([v, value, body]) => `cel.bind(${v}, ${value}, ${body})`),
    ),
  }))
  .bool.map(
    (body) =>
      `cel.bind(s0, claims.sub, cel.bind(s1, claims.s, cel.bind(l0, claims.groups, cel.bind(l1, claims.tags, ${body}))))`,
  )

// ---- claims ---------------------------------------------------------------------------------
// Up to what a verified token may hold: no JSON over 12 KiB, no list over 1000 elements. Some
// runs put everything in one long string, some in 1000 short ones, most in between.

const character = fc.constantFrom('a', 'b', ',', ' ', 'ß', 'ΐ', 'İ', '1', '😀')
/** fast-check keeps lengths small unless told: `size: 'max'` reaches the limits. */
const text = (maxLength: number, minLength = 0) =>
  fc.string({ unit: character, minLength, maxLength, size: 'max' })

const fitted = (claims: Record<string, unknown>): WorkloadClaims => {
  const fits = () => Buffer.byteLength(JSON.stringify(claims), 'utf8') <= MAX_CLAIMS_JSON_BYTES
  const groups = claims.groups as string[]
  while (!fits() && groups.length > 0) groups.pop()
  while (!fits()) claims.sub = (claims.sub as string).slice(0, Math.floor((claims.sub as string).length / 2))
  return claims as unknown as WorkloadClaims
}

const claimsArbitrary = fc
  .record({
    sub: fc.oneof(text(40), text(6000, 3000)),
    s: fc.oneof(text(20), text(2000, 500)),
    groups: fc.oneof(
      fc.array(text(12), { maxLength: 40 }),
      fc.array(text(4), { minLength: MAX_CLAIM_COLLECTION_SIZE, maxLength: MAX_CLAIM_COLLECTION_SIZE }),
      fc.array(text(400), { maxLength: 20, size: 'max' }),
    ),
    tags: fc.array(text(30), { maxLength: 100, size: 'max' }),
    m: fc.dictionary(fc.oneof(fc.constant('k'), text(8)), text(20), { maxKeys: 40, size: 'max' }),
  })
  .map((parts) => fitted({ iss: 'https://issuer.example', aud: 'sts', exp: 2, iat: 1, ...parts }))

// ---- measuring ------------------------------------------------------------------------------

interface Violation {
  node: string
  actual: Record<string, number>
  bound: Record<string, number>
}

const sizesOf = (value: unknown, weightCap: number) => ({
  chars: typeof value === 'string' ? value.length : 0,
  bytes: value instanceof Uint8Array ? value.length : 0,
  items: entryCount(value),
  weight: weightUpTo(value, weightCap),
})

/** Hundreds of evaluations over claims at the limits: seconds alone, more beside other suites. */
const PROPERTY_TIMEOUT_MS = 180_000

describe('the CEL cost model', () => {
  it(
    'bounds every value an accepted condition produces, node by node, and its whole cost',
    () => {
      let accepted = 0
      fc.assert(
        fc.property(conditions, claimsArbitrary, (source, claims) => {
          expect(checkJsonShape(claims)).toBeUndefined()
          const compiled = compileCondition(source)
          if ('position' in compiled) return
          accepted++
          const violations: Violation[] = []
          let observed = 0
          const meter = createMeter({
            observe: (node: CelNode, value: unknown) => {
              observed++
              const bound = compiled.bound.nodes.get(node)
              if (!bound) {
                violations.push({ node: `${node.op}@${node.start} (no bound)`, actual: {}, bound: {} })
                return
              }
              const actual = sizesOf(value, bound.weight + 1)
              if (
                actual.chars > bound.chars ||
                actual.bytes > bound.bytes ||
                actual.items > bound.items ||
                actual.weight > bound.weight
              ) {
                violations.push({
                  node: `${node.op}@${node.start}: ${source.slice(node.start, node.end)}`,
                  actual,
                  bound: { ...bound },
                })
              }
            },
          })
          const outcome = evaluateCompiled(compiled, claims, meter)
          expect(violations).toEqual([])
          expect(observed).toBeGreaterThan(0)
          expect(outcome).not.toMatchObject({ detail: expect.stringMatching(/^guard:/) })
          // The meter never charges the error allowance: the rest of the bound must cover it alone.
          expect(meter.cost).toBeLessThanOrEqual(compiled.bound.cost - ERROR_COST)
        }),
        { numRuns: 400 },
      )
      // Many generated conditions fit the bound; a property over refusals only would prove nothing.
      expect(accepted).toBeGreaterThan(150)
    },
    PROPERTY_TIMEOUT_MS,
  )

  it(
    'without the static bound, the guard keeps every value under the size cap and always ends in an outcome',
    () => {
      fc.assert(
        fc.property(conditions, claimsArbitrary, (source, claims) => {
          const compiled = compileCondition(source, { enforceBound: false })
          if ('position' in compiled) return
          let largest = 0
          const meter = createMeter({
            observe: (_node: CelNode, value: unknown) => {
              const { chars, bytes, items } = sizesOf(value, 0)
              largest = Math.max(largest, chars, bytes, items)
            },
          })
          const outcome = evaluateCompiled(compiled, claims, meter)
          expect(outcome.matched === true || typeof outcome.detail === 'string').toBe(true)
          expect(largest).toBeLessThanOrEqual(MAX_CONDITION_VALUE_SIZE)
          // Past the limit (an operation is charged before it runs), the answer is the guard's.
          if (meter.cost > meter.limit) expect(outcome).toEqual({ matched: false, detail: 'guard:cost' })
        }),
        { numRuns: 200 },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )
})
