// Revocations in the evaluation (shared/core/exchange-evaluate.ts): a token of the scope issued
// before notBefore is denied with reason `revoked` (403 AccessDenied), decided before any binding
// is chosen and so before any cached credential; a workload of the same binding out of scope,
// and a token issued after notBefore, are not.
import { describe, expect, it } from 'vitest'
import { createEvaluator, type Evaluation } from '../../../shared/core/exchange-evaluate.js'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
import type { Binding, Issuer } from '../../../shared/core/model.js'
import { type Revocation, revocationIdOf } from '../../../shared/core/revocations.js'
import { createSessionMemo } from '../../../shared/core/session-memo.js'
import { createWorkloadTokenVerifier } from '../../../shared/core/verify.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { createTestIssuer } from '../../support/workload-issuer.js'
import { createTestClock, makeBinding, makeIssuer, NOW_SECONDS } from '../fixtures.js'

const dataPlane = await createTestIssuer({ kid: 'revocations-a' })
const readers = makeBinding({
  bindingId: 'readers',
  profile: 'ml-reader',
  subjects: ['system:serviceaccount:ml:*'],
})
const writers = makeBinding({
  bindingId: 'writers',
  profile: 'ml-writer',
  roleArn: 'arn:aws:iam::111122223333:role/ml-s3-writer',
  subjects: ['system:serviceaccount:ml:*'],
})
const NOT_BEFORE = new Date((NOW_SECONDS - 10) * 1000).toISOString()

const revocation = (scope: Pick<Revocation, 'bindingId' | 'subject'>): Revocation => ({
  revocationId: revocationIdOf('onprem-a', scope),
  ...scope,
  notBefore: NOT_BEFORE,
  createdAt: NOT_BEFORE,
  createdBy: 'local-admin',
})

const setup = (revocations: Revocation[], bindings: Binding[] = [readers, writers]) => {
  const issuer: Issuer = { ...makeIssuer({ issuerId: 'onprem-a', jwks: dataPlane.jwks }), revocations }
  const registry = createMemoryRegistry()
  registry.seed({ issuers: [issuer], bindings })
  return createEvaluator({
    registry,
    verifier: createWorkloadTokenVerifier(createInlineKeyResolver()),
    clock: createTestClock(),
    sessions: createSessionMemo(),
  })
}

/** A token of ServiceAccount ml/`name` issued `age` seconds before now. */
const token = (name: string, age: number) => dataPlane.mint({ iat: NOW_SECONDS - age, serviceAccount: name })

const outcome = (evaluation: Evaluation) =>
  evaluation.decision === 'allow'
    ? ['allow', evaluation.selected.bindingId]
    : ['deny', evaluation.reason, evaluation.error.code, evaluation.error.reason]

describe('revocations in the evaluation', () => {
  it('refuses a token of the revoked subject issued before notBefore, with reason revoked (403 AccessDenied)', async () => {
    // Prepare
    const evaluate = setup([revocation({ subject: 'system:serviceaccount:ml:trainer' })])
    // Act
    const evaluation = await evaluate({ token: await token('trainer', 60), role: 'ml-reader' })
    // Assess
    expect(outcome(evaluation)).toEqual(['deny', 'revoked', 'AccessDenied', 'revoked'])
    expect(evaluation.matches).toEqual([])
  })

  it('allows the same workload with a token issued after notBefore, and another workload of the same binding', async () => {
    // Prepare
    const evaluate = setup([revocation({ subject: 'system:serviceaccount:ml:trainer' })])
    // Act
    const fresh = await evaluate({ token: await token('trainer', 5), role: 'ml-reader' })
    const other = await evaluate({ token: await token('worker', 60), role: 'ml-reader' })
    // Assess
    expect(outcome(fresh)).toEqual(['allow', 'readers'])
    expect(outcome(other)).toEqual(['allow', 'readers'])
  })

  it('refuses every workload of the issuer for a revocation of the whole issuer', async () => {
    // Prepare
    const evaluate = setup([revocation({})])
    // Act
    const evaluation = await evaluate({ token: await token('worker', 60) })
    // Assess
    expect(outcome(evaluation)).toEqual(['deny', 'revoked', 'AccessDenied', 'revoked'])
    expect(evaluation.matches).toEqual([])
  })

  it('refuses only the revoked binding: its role is revoked, the other binding still allowed', async () => {
    // Prepare
    const evaluate = setup([revocation({ bindingId: 'readers', subject: 'system:serviceaccount:ml:*' })])
    const workload = await token('trainer', 60)
    // Act
    const reader = await evaluate({ token: workload, role: 'ml-reader' })
    const writer = await evaluate({ token: workload, role: 'ml-writer' })
    // Assess
    expect(outcome(reader)).toEqual(['deny', 'revoked', 'AccessDenied', 'revoked'])
    expect(outcome(writer)).toEqual(['allow', 'writers'])
  })
})
