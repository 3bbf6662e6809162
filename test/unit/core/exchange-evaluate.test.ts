// The evaluation (shared/core/exchange-evaluate.ts) as a value: each step that can deny answers
// its own reason from the closed set, with what the steps before it found; an allowed
// evaluation carries the selected binding and its session. Which denials a roles request lists
// is said by the reason, not by the error's text.
import { describe, expect, it } from 'vitest'
import { UpstreamUnavailableError } from '../../../shared/core/errors.js'
import {
  createEvaluator,
  type DenyReason,
  type Evaluation,
  isListable,
} from '../../../shared/core/exchange-evaluate.js'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
import type { Binding, Issuer } from '../../../shared/core/model.js'
import { createSessionMemo } from '../../../shared/core/session-memo.js'
import { createWorkloadTokenVerifier } from '../../../shared/core/verify.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { createTestIssuer } from '../../support/workload-issuer.js'
import { createTestClock, makeBinding, makeIssuer, NOW_SECONDS } from '../fixtures.js'

const dataPlane = await createTestIssuer({ kid: 'eval-a' })
const stranger = await createTestIssuer({ kid: 'eval-b' })

const issuerA = makeIssuer({ issuerId: 'onprem-a', jwks: dataPlane.jwks })
const readers = makeBinding({ bindingId: 'readers', profile: 'ml-reader' })
const writers = makeBinding({
  bindingId: 'writers',
  profile: 'ml-writer',
  roleArn: 'arn:aws:iam::111122223333:role/ml-s3-writer',
})

const setup = (objects: { issuers: Issuer[]; bindings: Binding[] }) => {
  const registry = createMemoryRegistry()
  registry.seed(objects)
  const evaluate = createEvaluator({
    registry,
    verifier: createWorkloadTokenVerifier(createInlineKeyResolver()),
    clock: createTestClock(),
    sessions: createSessionMemo(),
  })
  return { evaluate, registry }
}

const mint = (options: Parameters<typeof dataPlane.mint>[0] = {}) =>
  dataPlane.mint({ iat: NOW_SECONDS, ...options })

const deniedBy = (evaluation: Evaluation) => {
  if (evaluation.decision !== 'deny') throw new Error('expected a denial')
  return evaluation
}

describe('createEvaluator: one reason per step that denies', () => {
  it('token_unreadable: nothing found, not even the iss', async () => {
    // Prepare
    const { evaluate, registry } = setup({ issuers: [issuerA], bindings: [readers] })
    // Act
    const denial = deniedBy(await evaluate({ token: 'not-a-jwt' }))
    // Assess
    expect(denial).toMatchObject({ reason: 'token_unreadable', error: { reason: 'token_malformed' } })
    expect(denial.iss).toBeUndefined()
    expect(denial.attempts).toEqual([])
    expect(registry.calls).toEqual([])
  })

  it('issuer_lookup_failed: the iss, and nothing else', async () => {
    // Prepare
    const { evaluate, registry } = setup({ issuers: [issuerA], bindings: [readers] })
    registry.failNext('findIssuersByIss', new UpstreamUnavailableError('dynamodb'))
    // Act
    const denial = deniedBy(await evaluate({ token: await mint() }))
    // Assess
    expect(denial).toMatchObject({ reason: 'issuer_lookup_failed', iss: issuerA.issuer })
    expect(denial.error.reason).toBe('dynamodb_unavailable')
    expect(denial.issuersSharingIss).toBeUndefined()
  })

  it('token_not_verified: the candidates and what each did, no issuer or claims', async () => {
    // Prepare
    const { evaluate } = setup({ issuers: [issuerA], bindings: [readers] })
    // Act
    const denial = deniedBy(await evaluate({ token: await stranger.mint({ iat: NOW_SECONDS }) }))
    // Assess
    expect(denial).toMatchObject({
      reason: 'token_not_verified',
      issuersSharingIss: ['onprem-a'],
      attempts: [{ issuerId: 'onprem-a', outcome: 'key_mismatch' }],
      error: { code: 'InvalidIdentityToken', reason: 'signature_not_verified' },
    })
    expect(denial.issuer).toBeUndefined()
    expect(denial.claims).toBeUndefined()
  })

  it('binding_lookup_failed: the verifying issuer and the claims, no bindings', async () => {
    // Prepare
    const { evaluate, registry } = setup({ issuers: [issuerA], bindings: [readers] })
    registry.failNext('patternBindings', new UpstreamUnavailableError('dynamodb'))
    // Act
    const denial = deniedBy(await evaluate({ token: await mint() }))
    // Assess
    expect(denial).toMatchObject({
      reason: 'binding_lookup_failed',
      issuer: { issuerId: 'onprem-a' },
      claims: { sub: 'system:serviceaccount:ml:trainer' },
      bindings: [],
    })
  })

  it.each<[DenyReason, string | undefined, string | undefined, number]>([
    ['no_binding_matches', 'ops', undefined, 0],
    ['role_ambiguous', 'ml', undefined, 2],
    ['role_not_allowed', 'ml', 'arn:aws:iam::111122223333:role/admin', 2],
  ])('%s: every binding evaluated, and the matches', async (reason, namespace, role, matchCount) => {
    // Prepare
    const { evaluate } = setup({ issuers: [issuerA], bindings: [readers, writers] })
    // Act
    const denial = deniedBy(await evaluate({ token: await mint({ namespace }), role }))
    // Assess
    expect(denial.reason).toBe(reason)
    expect(denial.error.reason).toBe(reason)
    expect(denial.bindings).toHaveLength(2)
    expect(denial.matches).toHaveLength(matchCount)
  })

  it('allowed: the selected binding, its session and the duration granted', async () => {
    // Prepare
    const { evaluate } = setup({ issuers: [issuerA], bindings: [readers] })
    // Act
    const evaluation = await evaluate({ token: await mint(), durationSeconds: 43_200 })
    // Assess
    expect(evaluation).toMatchObject({
      decision: 'allow',
      issuer: { issuerId: 'onprem-a' },
      selected: { bindingId: 'readers' },
      session: { sessionName: 'onprem-a.ml.trainer' },
      durationSeconds: 3600,
    })
  })
})

describe('isListable', () => {
  it('lists only denials of a valid token that selected no role: none matched, or several', () => {
    // Act
    const listable = (
      [
        'token_unreadable',
        'issuer_lookup_failed',
        'token_not_verified',
        'binding_lookup_failed',
        'no_binding_matches',
        'role_ambiguous',
        'role_not_allowed',
      ] as const
    ).filter(isListable)
    // Assess
    expect(listable).toEqual(['no_binding_matches', 'role_ambiguous'])
  })
})
