import { Environment } from '@marcbachmann/cel-js'
import { describe, expect, it } from 'vitest'
import {
  type BoundedCondition,
  compileCondition,
  MAX_CONDITION_COST,
  MAX_CONDITION_LENGTH,
} from '../../../shared/core/condition.js'
import { ERROR_COST, FUNCTIONS, OPERATORS } from '../../../shared/core/condition-charges.js'
import { FUNCTION_BOUNDS, OPERATOR_BOUNDS } from '../../../shared/core/condition-cost.js'
import { createMeter, guardPlan } from '../../../shared/core/condition-guard.js'
import {
  compileForEvaluation,
  evaluateCompiled,
  evaluateCondition,
} from '../../../shared/core/condition-run.js'
import { MAX_CLAIM_COLLECTION_SIZE, MAX_CLAIMS_JSON_BYTES } from '../../../shared/core/limits.js'
import { MAX_TOKEN_BYTES } from '../../../shared/core/verify.js'
import { makeClaims } from '../fixtures.js'

const compiles = (source: string): BoundedCondition => {
  const result = compileCondition(source)
  if ('position' in result) throw new Error(`expected ${source} to compile: ${result.message}`)
  return result
}

const problem = (source: string) => {
  const result = compileCondition(source)
  if ('position' in result) return result
  throw new Error(`expected ${source} to be refused`)
}

/** The largest claims a token may carry: 1000 groups, in 12 KiB of JSON. */
const largestGroups = Array.from({ length: MAX_CLAIM_COLLECTION_SIZE }, (_, index) => `g${index}`)

describe('compileCondition', () => {
  it.each([
    "claims['kubernetes.io'].namespace.startsWith('ml-')",
    "claims.sub == 'system:serviceaccount:ml:trainer' && has(claims.groups)",
    "claims.groups.exists(g, g in ['admins', 'ml'])",
    "claims.groups.exists(g, g.contains('ml'))",
    "claims.groups.exists(g, g.lowerAscii() == 'admins')",
    "claims.groups.filter(g, g.startsWith('team-')).size() <= 3",
    "claims.groups.join(',').size() < 4096",
    'claims.exp - claims.iat <= 3600',
    "cel.bind(ns, claims['kubernetes.io'].namespace, ns == 'ml' || ns.endsWith('-ml'))",
    "claims['kubernetes.io'] == {'namespace': 'ml'}",
    '-9223372036854775808 < 0',
  ])('accepts %j within the cost limit', (source) => {
    // Act
    const compiled = compiles(source)
    // Assess
    expect(compiled.bound.cost).toBeLessThanOrEqual(MAX_CONDITION_COST)
  })

  it('refuses an expression longer than the cap before parsing it', () => {
    // Act
    const result = problem(`claims.sub == '${'a'.repeat(MAX_CONDITION_LENGTH)}'`)
    // Assess
    expect(result).toEqual({
      position: MAX_CONDITION_LENGTH,
      message: `longer than ${MAX_CONDITION_LENGTH} characters`,
    })
  })

  it('refuses an expression nested past the parser depth limit', () => {
    // Act
    const result = problem(`${'('.repeat(40)}true${')'.repeat(40)}`)
    // Assess
    expect(result.message).toMatch(/Exceeded maxDepth/)
  })

  it('refuses a comprehension nested in another over claims, naming the inner one', () => {
    // Prepare
    const source = 'claims.groups.exists(a, claims.groups.exists(b, a == b))'
    // Act
    const result = problem(source)
    // Assess
    expect(result.message).toMatch(
      /^may cost up to \d+ steps, more than 100000 \(the expression starting here/,
    )
    expect(source.slice(result.position)).toBe('claims.groups.exists(b, a == b))')
  })

  it('counts the elements of concatenated lists in the cost of a comprehension over them', () => {
    // Prepare
    const one = compiles("claims.groups.exists(g, g == 'x')")
    const three = compiles("(claims.groups + claims.groups + claims.groups).exists(g, g == 'x')")
    // Act / Assess: three times the visits, and the two copies
    expect(three.bound.cost - ERROR_COST).toBeGreaterThan(3 * (one.bound.cost - ERROR_COST))
  })

  it('refuses an accumulating list used as a comprehension range inside cel.bind once it is too large', () => {
    // Prepare: 20 concatenations of a claim list
    const list = Array.from({ length: 20 }, () => 'claims.groups').join(' + ')
    // Act
    const result = problem(`cel.bind(all, ${list}, all.exists(g, g == 'x'))`)
    // Assess
    expect(result.message).toMatch(/more than 100000/)
  })

  it('refuses a string built past the value limit from claims, naming where', () => {
    // Prepare: a claim string may be 12 KiB; nine of them are over 100 000 characters
    const source = `cel.bind(s, ${Array.from({ length: 9 }, () => 'claims.sub').join(' + ')}, s.size() > 0)`
    // Act
    const result = problem(source)
    // Assess
    expect(result.message).toBe(
      `may build a value of ${9 * MAX_CLAIMS_JSON_BYTES} characters or elements, more than 100000`,
    )
    expect(result.position).toBe(source.indexOf('claims.sub'))
  })

  it('bounds split by the characters it splits, not by a guess', () => {
    // Act: each part of a 12 KiB string split on '' is one element; 12 289 elements, each looked at
    const result = problem("claims.sub.split('').map(c, c + c + c + c + c + c + c + c + c).size() > 0")
    // Assess
    expect(result.message).toMatch(/may (cost|build)/)
  })

  it.each([
    [
      "claims.sub.matches('(a+)+$')",
      11,
      '"matches" is not allowed: it runs a backtracking JavaScript RegExp',
    ],
    ["b'{}'.json().size() == 0", 6, '"json" is not allowed: it parses JSON of unbounded nesting'],
    [
      "timestamp(claims.iat).getHours('Europe/Paris') == 1",
      22,
      '"getHours" is not allowed: it converts time zones',
    ],
    ['optional.of(1).hasValue()', 9, '"of" is not allowed: it belongs to optional types'],
  ])('refuses %j, naming the function and its position (%i)', (source, position, message) => {
    // Act
    const result = problem(source)
    // Assess
    expect(result.position).toBe(position)
    expect(result.message).toContain(message)
  })

  it('refuses duration() of a claim: the library parses it with a pattern that backtracks in cubic time', () => {
    // Act / Assess
    expect(problem("duration(claims.ttl) < duration('1h')").message).toMatch(/may cost up to \d+ steps/)
    expect(compiles("duration('90m') > duration('1h')").bound.cost).toBeLessThan(MAX_CONDITION_COST)
  })

  it('refuses an integer literal outside the 64-bit range, and accepts -2⁶³', () => {
    // Act / Assess
    expect(problem('claims.n == 9223372036854775808')).toEqual({
      position: 12,
      message: 'the integer 9223372036854775808 is outside the 64-bit range',
    })
    expect(problem('claims.n == 0xFFFFFFFFFFFFFFFFF').message).toMatch(/outside the 64-bit range/)
    expect(evaluateCondition('-9223372036854775808 < 0', makeClaims())).toEqual({ matched: true })
  })

  it('refuses a map literal keyed by a list, and bind on anything but cel', () => {
    // Act / Assess
    expect(problem("{[1]: 'a'}.size() == 1").message).toBe(
      'a map key must be a string, int, uint or bool, not list<int>',
    )
    expect(problem('claims.bind(x, 1, x == 1)').message).toBe(
      'bind is written cel.bind(name, value, expression)',
    )
  })

  it('models or refuses every function the library registers (a new library version must be looked at)', () => {
    // Prepare: the functions of an environment built like the broker's
    const definitions = new Environment({}).registerVariable('claims', 'map').getDefinitions()
    const macros = new Set([
      'has/1',
      '.all/2',
      '.exists/2',
      '.exists_one/2',
      '.map/2',
      '.map/3',
      '.filter/2',
      '.bind/3',
    ])
    // Act
    const unknown = definitions.functions
      .map((fn) => `${fn.receiverType ? '.' : ''}${fn.name}/${fn.params.length}`)
      .filter((key) => !macros.has(key) && !FUNCTIONS.has(key))
    // Assess
    expect(unknown).toEqual([])
  })

  it('bounds every function and operator the cost table charges, and only those', () => {
    // Act
    const charged = [...FUNCTIONS].filter(([, model]) => !('refused' in model)).map(([key]) => key)
    // Assess: one table of charges (condition-charges.ts), one of bounds (condition-cost.ts)
    expect([...FUNCTION_BOUNDS.keys()].sort()).toEqual(charged.sort())
    expect([...OPERATOR_BOUNDS.keys()].sort()).toEqual([...OPERATORS.keys()].sort())
  })

  it.each([
    "claims.sub == 'system:serviceaccount:ml:trainer'",
    "claims.groups.exists(g, g.startsWith('ml-')) && has(claims.team)",
    "cel.bind(t, claims.team, {'a': [1, 2], 'k': [-9223372036854775808]}[t].size() > 0)",
    "claims.groups.map(g, g + '!').filter(s, s.size() > 2).all(x, x in claims.groups) ? true : false",
    "!(claims.n < 3) || -claims.n == 0 || claims.sub.split(':').join('/').contains('ml')",
  ])('the guard wraps exactly the nodes the static bound bounds: %s', (source) => {
    // Prepare: the bound's nodes, whatever the cost (some of these cost more than the limit)
    const compiled = compileCondition(source, { enforceBound: false })
    if ('position' in compiled) throw new Error(compiled.message)
    // Act
    const plan = guardPlan(compiled.ast)
    // Assess
    if ('position' in plan) throw new Error(plan.message)
    expect(new Set(plan.nodes)).toEqual(new Set(compiled.bound.nodes.keys()))
    expect(plan.nodes).toHaveLength(compiled.bound.nodes.size)
  })

  it('evaluates a stored condition without the static bound, under the guard; refuses what the guard cannot charge', () => {
    // Act / Assess: the exchange path (condition-run.ts) refuses an out-of-range literal itself
    expect(compileForEvaluation('claims.n == 9223372036854775808')).toEqual({
      position: 12,
      message: 'the integer 9223372036854775808 is outside the 64-bit range',
    })
    expect(evaluateCondition('claims.n == 9223372036854775808', makeClaims({ n: 1 }))).toEqual({
      matched: false,
      detail: 'invalid_expression',
    })
    // A refused function compiles there and the guard stops it when it is reached
    expect(evaluateCondition("claims.sub.matches('^a')", makeClaims())).toEqual({
      matched: false,
      detail: 'guard:cost',
    })
  })

  it('bounds claims by the token size: 16 KiB of base64url is 12 KiB of JSON', () => {
    // Act / Assess
    expect(MAX_CLAIMS_JSON_BYTES).toBeGreaterThanOrEqual((MAX_TOKEN_BYTES * 3) / 4)
  })
})

describe('evaluateCondition', () => {
  it('matches only a literal true', () => {
    // Act / Assess
    expect(evaluateCondition('true', makeClaims())).toEqual({ matched: true })
    expect(evaluateCondition('false', makeClaims())).toEqual({ matched: false, detail: 'false' })
    expect(evaluateCondition('claims.sub', makeClaims())).toEqual({ matched: false, detail: 'not_bool' })
  })

  it('sees own claim members only, never inherited ones', () => {
    // Act / Assess
    for (const source of [
      'has(claims.constructor) || has(claims.toString)',
      "claims['constructor'] != null",
      "'constructor' in claims",
      "claims['kubernetes.io'].namespace.constructor == 1",
    ]) {
      expect(evaluateCondition(source, makeClaims()).matched).toBe(false)
    }
  })

  it('reads a __proto__ claim as the token has it, and pollutes nothing', () => {
    // Prepare: a token's claims as JSON.parse makes them, with an own __proto__ member
    const claims = JSON.parse(
      JSON.stringify(makeClaims()).replace(/^\{/, '{"__proto__": {"admin": true}, "groups": ["dev"], '),
    ) as ReturnType<typeof makeClaims>
    expect(Object.hasOwn(claims, '__proto__')).toBe(true)
    // Act / Assess
    expect(evaluateCondition("claims['__proto__'].admin == true", claims)).toEqual({ matched: true })
    expect(evaluateCondition('has(claims.admin)', claims)).toEqual({ matched: false, detail: 'false' })
    expect(evaluateCondition("claims.groups.exists(g, g == 'dev')", claims)).toEqual({ matched: true })
    expect(({} as Record<string, unknown>).admin).toBeUndefined()
  })

  it('turns a runtime error into no match with the error code', () => {
    // Act / Assess
    expect(evaluateCondition('claims.missing == 1', makeClaims())).toEqual({
      matched: false,
      detail: 'error:no_such_key',
    })
  })

  it('ends the evaluation at the first error, where CEL would let || and exists carry on', () => {
    // Prepare
    const claims = makeClaims({ groups: [7, 'admins'] })
    // Act / Assess
    expect(evaluateCondition('claims.missing == 1 || true', claims)).toEqual({
      matched: false,
      detail: 'error:no_such_key',
    })
    expect(evaluateCondition('true || claims.missing == 1', claims)).toEqual({ matched: true })
    expect(evaluateCondition("claims.groups.exists(g, g.startsWith('adm'))", claims)).toEqual({
      matched: false,
      detail: 'error:no_matching_overload',
    })
    expect(evaluateCondition("claims.sub || claims.sub == ''", claims)).toEqual({
      matched: false,
      detail: 'error:invalid_logical_operand',
    })
  })

  it.each([
    ['int(1e300) > 0', 'numeric_overflow'],
    ['int(-1e300) < 0', 'numeric_overflow'],
    ['int(9.3e18) > 0', 'numeric_overflow'],
    ['uint(-0.5) == 0u', 'numeric_overflow'],
    ['uint(2.0e19) > 0u', 'numeric_overflow'],
    ['-(-9223372036854775807 - 1) > 0', 'numeric_overflow'],
    ['(-9223372036854775807 - 1) / -1 > 0', 'numeric_overflow'],
    ['9223372036854775807 + 1 > 0', 'numeric_overflow'],
    ["timestamp(0) + duration('87700000h') > timestamp(0)", 'numeric_overflow'],
    ["duration('3000000000000s') > duration('1s')", 'numeric_overflow'],
    ['int(claims.big) > 0', 'numeric_overflow'],
  ])('makes %j an error (%s), not a match', (source, code) => {
    // Act
    const outcome = evaluateCondition(source, makeClaims({ big: 1e300 }))
    // Assess
    expect(outcome).toEqual({ matched: false, detail: `error:${code}` })
  })

  it.each([
    'int(-1.9) == -1',
    'int(9.2e18) == 9200000000000000000',
    'uint(-0.0) == 0u',
    'uint(1.8e19) > 0u',
    '-9223372036854775807 - 1 < 0',
    "int('9223372036854775807') > 0",
  ])('keeps %j in range and true', (source) => {
    // Act / Assess
    expect(evaluateCondition(source, makeClaims())).toEqual({ matched: true })
  })

  it('stops at the guard with a coded reason when the static bound is skipped', () => {
    // Prepare: 4⁸ copies of the subject, built without the bound that refuses it
    let body = 's8.size() > 0'
    for (let level = 8; level >= 1; level--)
      body = `cel.bind(s${level}, (s${level - 1}+s${level - 1})+(s${level - 1}+s${level - 1}), ${body})`
    const unbounded = compileCondition(`cel.bind(s0, claims.sub, ${body})`, { enforceBound: false })
    if ('position' in unbounded) throw new Error(unbounded.message)
    // Act / Assess: the cost cap first; with no cost cap, the size cap
    expect(evaluateCompiled(unbounded, makeClaims())).toEqual({ matched: false, detail: 'guard:cost' })
    expect(
      evaluateCompiled(unbounded, makeClaims(), createMeter({ limit: Number.POSITIVE_INFINITY })),
    ).toEqual({
      matched: false,
      detail: 'guard:size',
    })
  })

  it('charges an accepted condition no more than its bound over the largest claims', () => {
    // Prepare: a body just under the cost cap, a list of the largest size a token may carry
    const body = Array.from({ length: 12 }, (_, index) => `g != 'x${index}'`).join(' && ')
    const compiled = compiles(`claims.groups.all(g, ${body})`)
    const meter = createMeter()
    // Act
    const outcome = evaluateCompiled(compiled, makeClaims({ groups: largestGroups }), meter)
    // Assess
    expect(outcome).toEqual({ matched: true })
    expect(meter.cost).toBeGreaterThan(MAX_CLAIM_COLLECTION_SIZE * 12)
    expect(meter.cost).toBeLessThanOrEqual(compiled.bound.cost)
  })

  it('charges a comprehension over one long element no more than its bound: work per element grows with its size', () => {
    // Prepare: one group of 10 000 characters; the body copies it, so one visit costs its length
    const compiled = compiles("claims.groups.exists(g, g + g == 'x')")
    const meter = createMeter()
    // Act
    const outcome = evaluateCompiled(compiled, makeClaims({ groups: ['g'.repeat(10_000)] }), meter)
    // Assess: a bound of count × (work of a short element) would be far below what was charged
    expect(outcome).toEqual({ matched: false, detail: 'false' })
    expect(meter.cost).toBeGreaterThan(20_000)
    expect(meter.cost).toBeLessThanOrEqual(compiled.bound.cost)
  })
})
