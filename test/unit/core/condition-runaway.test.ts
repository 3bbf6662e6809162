// The review's crash (issue 12, item 1): a short condition whose evaluation grew a list past what
// V8 can hold, aborting the process. Whatever runs such a condition here does so in a child
// process with a small heap: on the code before the fix the child died (SIGABRT).
import { describe, expect, it } from 'vitest'
import { compileCondition, describeConditionProblem } from '../../../shared/core/condition.js'
import { QUADRUPLING_BINDS, runConditionInChild } from '../../support/condition-child.js'
import { makeClaims } from '../fixtures.js'

/** Quadruples the `sub` claim ten times: 4¹⁰ times its length. */
const QUADRUPLING_STRING = (() => {
  let body = 's10.size() > 0'
  for (let level = 10; level >= 1; level--) {
    const previous = `s${level - 1}`
    body = `cel.bind(s${level}, (${previous}+${previous})+(${previous}+${previous}), ${body})`
  }
  return `cel.bind(s0, claims.sub, ${body})`
})()

describe('a condition that builds a list of 100·4¹¹ elements', () => {
  it('is refused at registration, naming where the value outgrows the limit', () => {
    // Act
    const result = compileCondition(QUADRUPLING_BINDS)
    // Assess: v5, the first list over 100 000 elements (100·4⁵ = 102 400)
    if (!('position' in result)) throw new Error('accepted')
    expect(QUADRUPLING_BINDS.slice(result.position)).toMatch(/^v4\+v4\)\+\(v4\+v4\), cel\.bind\(v6/)
    expect(describeConditionProblem(QUADRUPLING_BINDS, result)).toMatch(
      /^invalid CEL at position \d+ \(line 1, column \d+\): may build a value of 102400 characters or elements, more than 100000$/,
    )
  })

  it('stored in the registry anyway, never matches and never takes the process down', () => {
    // Act
    const run = runConditionInChild({ mode: 'binding', source: QUADRUPLING_BINDS, claims: makeClaims() })
    // Assess: the exchange path has no static bound (condition-run.ts): the guard stops it
    expect({ signal: run.signal, status: run.status }).toEqual({ signal: null, status: 0 })
    expect(run.outcome).toEqual({
      matched: false,
      failedRule: 'condition',
      detail: expect.stringMatching(/^guard:(cost|size)$/),
    })
  })

  it('with the static bound skipped, is stopped by the run-time guard before it allocates', () => {
    // Act
    const run = runConditionInChild({ mode: 'guard', source: QUADRUPLING_BINDS, claims: makeClaims() })
    // Assess: no abort, no heap exhaustion under a 192 MB heap; a coded reason
    expect({ signal: run.signal, status: run.status }).toEqual({ signal: null, status: 0 })
    expect(run.outcome).toEqual({ matched: false, detail: expect.stringMatching(/^guard:(cost|size)$/) })
  })
})

describe('a condition that quadruples a claim string ten times', () => {
  it('is refused at registration', () => {
    // Act
    const result = compileCondition(QUADRUPLING_STRING)
    // Assess
    expect('position' in result && result.message).toMatch(/may build a value of \d+ characters or elements/)
  })

  it('with the static bound skipped, is stopped by the run-time guard', () => {
    // Act
    const run = runConditionInChild({ mode: 'guard', source: QUADRUPLING_STRING, claims: makeClaims() })
    // Assess
    expect({ signal: run.signal, status: run.status }).toEqual({ signal: null, status: 0 })
    expect(run.outcome).toEqual({ matched: false, detail: expect.stringMatching(/^guard:(cost|size)$/) })
  })
})
