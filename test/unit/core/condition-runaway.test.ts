// The review's crash (issue 12, item 1): a short condition whose evaluation grew a list past what
// V8 can hold, aborting the process. Whatever runs the condition here does so in a child process.
import { describe, expect, it } from 'vitest'
import { compileCondition } from '../../../shared/core/condition.js'
import { QUADRUPLING_BINDS, runConditionInChild } from '../../support/condition-child.js'
import { makeClaims } from '../fixtures.js'

describe('a condition that builds a list of 100·4¹¹ elements', () => {
  it('is refused at registration, naming its size', () => {
    // Act
    const result = compileCondition(QUADRUPLING_BINDS)
    // Assess
    expect('position' in result ? result.message : 'accepted').toMatch(/more than 100000/)
  })

  it('stored in the registry anyway, never matches and never takes the process down', () => {
    // Act
    const run = runConditionInChild({ mode: 'binding', source: QUADRUPLING_BINDS, claims: makeClaims() })
    // Assess
    expect({ signal: run.signal, status: run.status }).toEqual({ signal: null, status: 0 })
    expect(run.outcome).toMatchObject({ matched: false, failedRule: 'condition' })
  })
})
