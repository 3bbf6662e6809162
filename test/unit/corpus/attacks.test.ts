// The 100 third-party attack and policy tokens of ../shared/corpus/attacks through the core
// validator, with the corpus's pass rules; each `policy` case is pinned to the choice that
// docs/security.md records.
import { describe, expect, it } from 'vitest'
import { isBrokerError } from '../../../shared/core/errors.js'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
import type { Issuer } from '../../../shared/core/model.js'
import { readUnverifiedToken, verifyWorkloadToken } from '../../../shared/core/verify.js'
import {
  attackCorpus,
  type AttackCase as Case,
  KEY_URL_CASES,
  POLICY,
  type AttackTarget as Target,
  targetJwks,
} from '../../support/corpus.js'
import { outboundAttempts, outboundMark } from '../../support/outbound-guard.js'
import { makeIssuer } from '../fixtures.js'

const { targets, cases } = attackCorpus

const issuers = Object.fromEntries(
  Object.entries(targets).map(([name, target]): [string, Issuer] => [
    name,
    makeIssuer({
      issuerId: name,
      issuer: target.issuer,
      audiences: [target.audience],
      jwks: targetJwks(target),
      algorithms: target.allowed_algs,
      // The kind target's genuine token is a 365-day default-mounted one.
      maxTokenLifetimeSeconds: 366 * 86400,
    }),
  ]),
)

type Outcome =
  | { accepted: true; sub: string; claims: Record<string, unknown> }
  | { accepted: false; code: string }

const run = async (testCase: Case): Promise<Outcome> => {
  const target = targets[testCase.target] as Target
  try {
    readUnverifiedToken(testCase.token)
    const result = await verifyWorkloadToken(
      testCase.token,
      [issuers[testCase.target] as Issuer],
      createInlineKeyResolver(),
      new Date(target.frozen_clock_unix * 1000),
    )
    return result.ok
      ? { accepted: true, sub: result.claims.sub, claims: result.claims }
      : { accepted: false, code: result.error.code }
  } catch (error) {
    if (!isBrokerError(error)) throw error
    return { accepted: false, code: error.code }
  }
}

describe('attack corpus through the core validator', () => {
  it('has a pinned choice for every policy case and no stale pins', () => {
    const policyIds = cases.filter((c) => c.expect === 'policy').map((c) => c.id)
    expect(Object.keys(POLICY).sort()).toEqual(policyIds.sort())
  })

  it.each(cases)('$id ($expect): $description', async (testCase) => {
    const outcome = await run(testCase)
    switch (testCase.expect) {
      case 'accept':
      case 'accept-if-ES256-allowed': // both targets that use these allow ES256
        expect(outcome).toMatchObject({ accepted: true })
        break
      case 'reject':
      case 'reject-recommended': // the broker refuses every one of them
        expect(outcome).toMatchObject({ accepted: false })
        if (!outcome.accepted)
          expect(outcome.code).toMatch(/^(InvalidIdentityToken|ExpiredToken|PayloadTooLarge)$/)
        break
      case 'policy':
        expect(outcome.accepted ? 'accept' : 'reject').toBe(POLICY[testCase.id])
        break
    }
  })

  it('explain agrees with the validator on every case: all claim checks pass when verified, the reason is a failed check when refused', async () => {
    // Act
    const attempts = (
      await Promise.all(
        cases.map(async (testCase) => {
          const target = targets[testCase.target] as Target
          const result = await verifyWorkloadToken(
            testCase.token,
            [issuers[testCase.target] as Issuer],
            createInlineKeyResolver(),
            new Date(target.frozen_clock_unix * 1000),
            { explain: true },
          )
          return result.attempts.map((attempt) => ({ id: testCase.id, ...attempt }))
        }),
      )
    ).flat()
    // Assess
    const explained = attempts.filter((attempt) => attempt.claimChecks !== undefined)
    expect(explained.length).toBeGreaterThan(30)
    for (const attempt of explained) {
      const failed = (attempt.claimChecks ?? []).filter((c) => !c.passed).map((c) => c.reason)
      if (attempt.outcome === 'verified')
        expect({ id: attempt.id, failed }).toEqual({ id: attempt.id, failed: [] })
      else expect(failed, attempt.id).toContain(attempt.reason)
    }
  })

  it.each(KEY_URL_CASES.map((id) => ({ id })))(
    '$id: the core validator makes no connection at all for the jku/x5u/x5c in its header',
    async ({ id }) => {
      // Prepare
      const mark = outboundMark()
      // Act
      await run(cases.find((c) => c.id === id) as Case)
      // Assess
      expect(outboundAttempts(mark)).toEqual([])
    },
  )

  it('P61/P62: the identity used is the last duplicate, the one the signature verifier returned', async () => {
    const byId = (id: string) => cases.find((c) => c.id === id) as Case
    const sub = await run(byId('P61'))
    const namespace = await run(byId('P62'))
    expect(sub.accepted && sub.sub).toMatch(/payments/)
    expect(namespace.accepted && (namespace.claims['kubernetes.io'] as { namespace: string }).namespace).toBe(
      'payments',
    )
  })
})
