import { describe, expect, it } from 'vitest'
import {
  evaluateBinding,
  evaluateBindings,
  matchingBindings,
  type Selection,
  type SelectionFailure,
  selectBinding,
} from '../../../shared/core/bindings.js'
import { AccessDeniedError, InvalidParameterError } from '../../../shared/core/errors.js'
import type { Binding } from '../../../shared/core/model.js'
import { makeBinding, makeClaims } from '../fixtures.js'

describe('evaluateBinding', () => {
  it('matches when the subject glob matches sub', () => {
    // Prepare
    const binding = makeBinding({ subjects: ['system:serviceaccount:ml:*'] })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toEqual({ binding, matched: true })
  })

  it('fails on subjects when no subject pattern matches', () => {
    // Prepare
    const binding = makeBinding({
      subjects: ['system:serviceaccount:ops:*', 'system:serviceaccount:ml:other'],
    })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toMatchObject({ matched: false, failedRule: 'subjects' })
  })

  it('reports a disabled binding as not matching, before any rule', () => {
    // Prepare
    const binding = makeBinding({ enabled: false })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toMatchObject({ matched: false, failedRule: 'disabled' })
  })

  it('matches claim rules by JSON Pointer, any-of within a rule', () => {
    // Prepare
    const binding = makeBinding({
      subjects: undefined,
      claims: {
        '/kubernetes.io/namespace': ['ops', 'ml*'],
        '/kubernetes.io/serviceaccount/name': ['trainer'],
      },
    })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation.matched).toBe(true)
  })

  it('requires every claim rule to hold and names the first that does not', () => {
    // Prepare
    const binding = makeBinding({
      claims: { '/kubernetes.io/namespace': ['ml'], '/kubernetes.io/serviceaccount/name': ['reader'] },
    })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toMatchObject({
      matched: false,
      failedRule: 'claims:/kubernetes.io/serviceaccount/name',
    })
  })

  it('requires subjects and claims both to hold', () => {
    // Prepare
    const binding = makeBinding({
      subjects: ['system:serviceaccount:ml:trainer'],
      claims: { '/kubernetes.io/namespace': ['ops'] },
    })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toMatchObject({ matched: false, failedRule: 'claims:/kubernetes.io/namespace' })
  })

  it('fails a claim rule whose claim is missing, even with a * pattern', () => {
    // Prepare
    const binding = makeBinding({ claims: { '/team': ['*'] } })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toMatchObject({ matched: false, failedRule: 'claims:/team' })
  })

  it('matches an array claim when one of its elements matches', () => {
    // Prepare
    const binding = makeBinding({ claims: { '/groups': ['data-*'] } })
    // Act
    const matched = evaluateBinding(binding, makeClaims({ groups: ['dev', 'data-eng'] })).matched
    const unmatched = evaluateBinding(binding, makeClaims({ groups: ['dev'] })).matched
    // Assess
    expect(matched).toBe(true)
    expect(unmatched).toBe(false)
  })

  it('does not look into nested arrays or objects of a claim', () => {
    // Prepare
    const binding = makeBinding({ claims: { '/groups': ['data-eng'] } })
    // Act
    const nestedArray = evaluateBinding(binding, makeClaims({ groups: [['data-eng']] })).matched
    const object = evaluateBinding(binding, makeClaims({ groups: { name: 'data-eng' } })).matched
    // Assess
    expect(nestedArray).toBe(false)
    expect(object).toBe(false)
  })

  it('matches numeric and boolean claims by their text', () => {
    // Prepare
    const binding = makeBinding({ claims: { '/level': ['3'], '/trusted': ['true'] } })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims({ level: 3, trusted: true }))
    // Assess
    expect(evaluation.matched).toBe(true)
  })

  it('never matches an inherited member such as /constructor', () => {
    // Prepare
    const binding = makeBinding({ claims: { '/constructor': ['*'] } })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toMatchObject({ matched: false, failedRule: 'claims:/constructor' })
  })

  it('fails closed on a stored claim key that is not a JSON Pointer', () => {
    // Prepare
    const binding = makeBinding({ claims: { sub: ['*'] } })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toMatchObject({ matched: false, failedRule: 'claims:sub' })
  })

  it('matches when subjects and the CEL condition over the claims both hold', () => {
    // Prepare
    const binding = makeBinding({ condition: "claims['kubernetes.io'].namespace == 'ml'" })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toEqual({ binding, matched: true })
  })

  it('does not match when the condition is false, with failedRule condition', () => {
    // Prepare
    const binding = makeBinding({ condition: "claims['kubernetes.io'].namespace == 'payments'" })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toMatchObject({ matched: false, failedRule: 'condition', detail: 'false' })
  })

  it('does not match when the condition fails at run time (a missing claim), failedRule condition', () => {
    // Prepare
    const binding = makeBinding({ condition: "claims.groups.exists(g, g == 'admins')" })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toMatchObject({ matched: false, failedRule: 'condition', detail: 'error:no_such_key' })
  })

  it('does not match when the condition yields something other than a bool', () => {
    // Prepare
    const binding = makeBinding({ condition: 'claims.sub' })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toMatchObject({ matched: false, failedRule: 'condition', detail: 'not_bool' })
  })

  it('fails closed on a stored condition that does not compile', () => {
    // Prepare
    const binding = makeBinding({ condition: 'claims.sub ==' })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toMatchObject({
      matched: false,
      failedRule: 'condition',
      detail: 'invalid_expression',
    })
  })

  it('checks the subjects before the condition: the first failing rule is reported', () => {
    // Prepare
    const binding = makeBinding({ subjects: ['system:serviceaccount:other:*'], condition: 'false' })
    // Act
    const evaluation = evaluateBinding(binding, makeClaims())
    // Assess
    expect(evaluation).toMatchObject({ matched: false, failedRule: 'subjects' })
  })
})

describe('evaluateBindings and matchingBindings', () => {
  it('evaluates in bindingId order and keeps only the matches', () => {
    // Prepare
    const zeta = makeBinding({ bindingId: 'zeta' })
    const alpha = makeBinding({ bindingId: 'alpha' })
    const off = makeBinding({ bindingId: 'beta', enabled: false })
    // Act
    const evaluations = evaluateBindings([zeta, off, alpha], makeClaims())
    const matches = matchingBindings(evaluations)
    // Assess
    expect(evaluations.map((e) => e.binding.bindingId)).toEqual(['alpha', 'beta', 'zeta'])
    expect(matches.map((b) => b.bindingId)).toEqual(['alpha', 'zeta'])
  })
})

describe('selectBinding', () => {
  const reader = makeBinding({ bindingId: 'a-reader', profile: 'ml-reader' })
  const writer = makeBinding({
    bindingId: 'b-writer',
    profile: 'ml-writer',
    roleArn: 'arn:aws:iam::111122223333:role/ml-s3-writer',
  })

  /** The failure a selection answered with (the test fails on a selection that succeeded). */
  const failureOf = (selection: Selection): SelectionFailure => {
    if (selection.ok) throw new Error(`expected no selection, got ${selection.binding.bindingId}`)
    return selection
  }
  const selectedBy = (selection: Selection): Binding | undefined =>
    selection.ok ? selection.binding : undefined

  it('selects by profile', () => {
    // Act
    const selected = selectedBy(selectBinding([reader, writer], 'ml-writer'))
    // Assess
    expect(selected).toBe(writer)
  })

  it('selects by role ARN', () => {
    // Act
    const selected = selectedBy(
      selectBinding([reader, writer], 'arn:aws:iam::111122223333:role/ml-s3-reader'),
    )
    // Assess
    expect(selected).toBe(reader)
  })

  it('selects the only match when no role is named', () => {
    // Act
    const selected = selectedBy(selectBinding([reader], undefined))
    // Assess
    expect(selected).toBe(reader)
  })

  it('answers 400 InvalidParameterValue listing the profiles when no role is named and several match', () => {
    // Act
    const { reason, error } = failureOf(selectBinding([writer, reader], undefined))
    // Assess
    expect(reason).toBe('role_ambiguous')
    expect(error).toBeInstanceOf(InvalidParameterError)
    expect(error).toMatchObject({
      code: 'InvalidParameterValue',
      statusCode: 400,
      field: 'role',
      reason: 'role_ambiguous',
      message: 'role: several roles are allowed; choose one of: ml-reader, ml-writer',
    })
  })

  it('answers 403 AccessDenied when nothing matches and no role is named', () => {
    // Act
    const { reason, error } = failureOf(selectBinding([], undefined))
    // Assess
    expect(reason).toBe('no_binding_matches')
    expect(error).toBeInstanceOf(AccessDeniedError)
    expect(error).toMatchObject({ code: 'AccessDenied', statusCode: 403, reason: 'no_binding_matches' })
  })

  it('answers 403 AccessDenied for a role no matching binding allows', () => {
    // Act
    const { reason, error } = failureOf(selectBinding([reader], 'ml-writer'))
    // Assess
    expect(reason).toBe('role_not_allowed')
    expect(error).toMatchObject({ code: 'AccessDenied', reason: 'role_not_allowed' })
  })

  it('resolves several bindings of one profile to the first by bindingId', () => {
    // Prepare
    const second = makeBinding({ bindingId: 'b', profile: 'ml-reader', durationSeconds: 900 })
    const first = makeBinding({ bindingId: 'a', profile: 'ml-reader', durationSeconds: 7200 })
    const matches = matchingBindings(evaluateBindings([second, first], makeClaims()))
    // Act
    const implicit = selectedBy(selectBinding(matches, undefined))
    const byProfile = selectedBy(selectBinding(matches, 'ml-reader'))
    // Assess
    expect(implicit).toBe(first)
    expect(byProfile).toBe(first)
  })
})
