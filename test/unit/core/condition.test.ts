import { describe, expect, it } from 'vitest'
import {
  compileCondition,
  estimateCost,
  evaluateCondition,
  MAX_CONDITION_COST,
  MAX_CONDITION_LENGTH,
} from '../../../shared/core/condition.js'
import { MAX_CLAIM_COLLECTION_SIZE } from '../../../shared/core/limits.js'
import { makeClaims } from '../fixtures.js'

const compiles = (source: string) => {
  const result = compileCondition(source)
  if ('position' in result) throw new Error(`expected ${source} to compile: ${result.message}`)
  return result
}

const problem = (source: string) => {
  const result = compileCondition(source)
  if (!('position' in result)) throw new Error(`expected ${source} to be refused`)
  return result
}

describe('compileCondition', () => {
  it.each([
    "claims['kubernetes.io'].namespace.startsWith('ml-')",
    "claims.sub == 'system:serviceaccount:ml:trainer' && has(claims.groups)",
    "claims.groups.exists(g, g in ['admins', 'ml'])",
    'claims.exp - claims.iat <= 3600',
    "cel.bind(ns, claims['kubernetes.io'].namespace, ns == 'ml' || ns.endsWith('-ml'))",
  ])('accepts %j', (source) => {
    // Act / Assess
    expect(compiles(source).check()).toMatchObject({ valid: true })
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

  it('refuses a comprehension nested in another over claims, whose cost grows with the square of the list', () => {
    // Act
    const result = problem('claims.groups.exists(a, claims.groups.exists(b, a == b))')
    // Assess
    expect(result.message).toMatch(/evaluation steps, more than 50000/)
  })

  it('counts concatenated lists in the cost of a comprehension over them', () => {
    // Prepare
    const one = compiles("claims.groups.exists(g, g == 'x')")
    const three = compileCondition("(claims.groups + claims.groups + claims.groups).exists(g, g == 'x')")
    // Act / Assess
    expect(estimateCost(one.ast)).toBe(1 + 2 + MAX_CLAIM_COLLECTION_SIZE * 3)
    expect('ast' in three && estimateCost(three.ast)).toBeGreaterThan(3 * MAX_CLAIM_COLLECTION_SIZE * 3)
  })

  it('refuses an accumulating list used as a comprehension range inside cel.bind once it is too large', () => {
    // Prepare: 20 concatenations → 20 000 elements × 3 steps
    const list = Array.from({ length: 20 }, () => 'claims.groups').join(' + ')
    // Act
    const result = problem(`cel.bind(all, ${list}, all.exists(g, g == 'x'))`)
    // Assess
    expect(result.message).toMatch(/more than 50000/)
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
      'has(claims.constructor) || has(claims.__proto__) || has(claims.toString)',
      "claims['constructor'] != null",
    ]) {
      expect(evaluateCondition(source, makeClaims()).matched).toBe(false)
    }
  })

  it('turns a runtime error into no match with the error code', () => {
    // Act / Assess
    expect(evaluateCondition('claims.missing == 1', makeClaims())).toEqual({
      matched: false,
      detail: 'error:no_such_key',
    })
  })

  it('evaluates the costliest accepted comprehension over claims of the maximum size within a few milliseconds', () => {
    // Prepare: a body just under the cost cap, a list of the largest size a token may carry
    const body = Array.from({ length: 12 }, (_, index) => `g != 'x${index}'`).join(' && ')
    const source = `claims.groups.all(g, ${body})`
    const compiled = compiles(source)
    expect(estimateCost(compiled.ast)).toBeLessThanOrEqual(MAX_CONDITION_COST)
    const groups = Array.from({ length: MAX_CLAIM_COLLECTION_SIZE }, (_, index) => `group-${index}`)
    const claims = makeClaims({ groups })
    evaluateCondition(source, claims) // warm-up
    // Act
    const started = performance.now()
    for (let round = 0; round < 10; round++) evaluateCondition(source, claims)
    const perEvaluation = (performance.now() - started) / 10
    // Assess
    expect(evaluateCondition(source, claims)).toEqual({ matched: true })
    expect(perEvaluation).toBeLessThan(25)
  })
})
