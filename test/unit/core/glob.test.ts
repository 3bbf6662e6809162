import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { matchAnyGlob, matchGlob } from '../../../shared/core/glob.js'

describe('matchGlob', () => {
  it.each([
    ['system:serviceaccount:ml-*:trainer', 'system:serviceaccount:ml-prod:trainer'],
    ['system:serviceaccount:ml-*:trainer', 'system:serviceaccount:ml-:trainer'],
    ['*', ''],
    ['a*', 'a'],
    ['*b', 'aab'],
    ['a*b*c', 'a-b-b-c'],
    ['**', 'anything'],
    ['exact', 'exact'],
  ])('matches %j against %j', (pattern, value) => {
    // Act
    const matched = matchGlob(pattern, value)
    // Assess
    expect(matched).toBe(true)
  })

  it.each([
    ['system:serviceaccount:ml-*:trainer', 'system:serviceaccount:ops:trainer'],
    ['system:serviceaccount:ml-*:trainer', 'system:serviceaccount:ml-prod:trainer2'],
    ['exact', 'exac'],
    ['exact', 'exactly'],
    ['exact', 'EXACT'],
    ['a*b', 'a'],
    ['', 'x'],
  ])('does not match %j against %j', (pattern, value) => {
    // Act
    const matched = matchGlob(pattern, value)
    // Assess
    expect(matched).toBe(false)
  })

  it.each(['?', '.', '[a]', '+', '(a|b)', '\\d'])(
    'treats %j literally, not as a wildcard or regex',
    (literal) => {
      // Act
      const matchesSelf = matchGlob(literal, literal)
      const matchesOther = matchGlob(literal, 'x')
      // Assess
      expect(matchesSelf).toBe(true)
      expect(matchesOther).toBe(false)
    },
  )

  it('matches a pathological pattern in linear time (no ReDoS)', () => {
    // Prepare
    const pattern = `${'*a'.repeat(50)}b`
    const value = 'a'.repeat(5000)
    // Act
    const started = process.hrtime.bigint()
    const matched = matchGlob(pattern, value)
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6
    // Assess
    expect(matched).toBe(false)
    expect(elapsedMs).toBeLessThan(1000)
  })

  it('property: never throws, and a lone * matches every string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (pattern, value) => {
        expect(typeof matchGlob(pattern, value)).toBe('boolean')
        expect(matchGlob('*', value)).toBe(true)
      }),
    )
  })

  it('property: a pattern without * matches exactly itself', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes('*')),
        fc.string(),
        (pattern, value) => {
          expect(matchGlob(pattern, value)).toBe(pattern === value)
        },
      ),
    )
  })

  it('property: prefix* matches every value that starts with prefix', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes('*')),
        fc.string(),
        (prefix, rest) => {
          expect(matchGlob(`${prefix}*`, prefix + rest)).toBe(true)
        },
      ),
    )
  })
})

describe('matchAnyGlob', () => {
  it('matches when any pattern matches', () => {
    // Act
    const matched = matchAnyGlob(['ops-*', 'ml-*'], 'ml-prod')
    // Assess
    expect(matched).toBe(true)
  })

  it('never matches an empty pattern list', () => {
    // Act
    const matched = matchAnyGlob([], 'anything')
    // Assess
    expect(matched).toBe(false)
  })
})
