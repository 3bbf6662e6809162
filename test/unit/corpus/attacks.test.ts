// The 100 third-party attack and policy tokens of ../shared/corpus/attacks through the core
// validator, with the corpus's pass rules; each `policy` case is pinned to the choice that
// docs/security.md records.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isBrokerError } from '../../../shared/core/errors.js'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
import type { Issuer, SigningAlgorithm } from '../../../shared/core/model.js'
import { readUnverifiedToken, verifyWorkloadToken } from '../../../shared/core/verify.js'

const corpus = join(import.meta.dirname, '..', '..', '..', '..', 'shared', 'corpus', 'attacks')

interface Target {
  issuer: string
  audience: string
  jwks_file: string
  allowed_algs: SigningAlgorithm[]
  frozen_clock_unix: number
}
interface Case {
  id: string
  target: string
  expect: 'accept' | 'reject' | 'reject-recommended' | 'policy' | 'accept-if-ES256-allowed'
  description: string
  token: string
}

const { targets, cases } = JSON.parse(readFileSync(join(corpus, 'cases.json'), 'utf8')) as {
  targets: Record<string, Target>
  cases: Case[]
}

const issuers = Object.fromEntries(
  Object.entries(targets).map(([name, target]): [string, Issuer] => [
    name,
    {
      issuerId: name,
      issuer: target.issuer,
      audiences: [target.audience],
      jwks: JSON.parse(readFileSync(join(corpus, target.jwks_file), 'utf8')),
      algorithms: target.allowed_algs,
      // The kind target's genuine token is a 365-day default-mounted one.
      maxTokenLifetimeSeconds: 366 * 86400,
      clockSkewSeconds: 60,
      mode: 'broker',
      enabled: true,
      version: 1,
      createdAt: '2026-11-28T00:00:00.000Z',
      updatedAt: '2026-11-28T00:00:00.000Z',
      updatedBy: 'test',
    },
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

/** The broker's choice for every `policy` case (docs/security.md, "Attack corpus choices"). */
const POLICY: Record<string, 'accept' | 'reject'> = {
  P03: 'accept', // exp 30 s ago, inside the default 60 s skew
  P21: 'accept', // no kubernetes.io claim: GKE/AKS/OIDC issuers have none
  P34: 'accept', // b64:false without crit is not honoured: an ordinary JWS
  P35: 'accept', // cty ignored, never unwrapped
  P36: 'accept', // typ not required (kubeadm tokens carry none)
  P37: 'accept', // zip ignored on a JWS, never decompressed
  P38: 'accept', // jku ignored, never fetched; the registered key verifies
  P41: 'accept', // no kid: the single matching registered key is tried
  P60: 'accept', // duplicate alg: last wins (RS256), never treated as none
  P61: 'accept', // duplicate sub: the identity used is the verified (last) one
  P62: 'accept', // duplicate namespace: likewise
  P63: 'reject', // UTF-8 BOM before the payload JSON is not JSON
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
