// `explain`: the full decision trace — issuers sharing the iss, why each key did or did not
// verify, every claim check, each binding with the rule that failed — with the audit log's
// reason codes, while the workload only ever sees a generic error carrying the request id.
import { generateKeyPairSync } from 'node:crypto'
import type { Context } from 'aws-lambda'
import { describe, expect, it } from 'vitest'
import { createCredentialsHandler } from '../../../functions/credentials/app.js'
import { createJsonLogger } from '../../../shared/adapters/json-logger.js'
import { createLocalSigner } from '../../../shared/adapters/local-signer.js'
import { createExchange } from '../../../shared/core/exchange.js'
import { explain } from '../../../shared/core/exchange-trace.js'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
import type { Binding, Issuer } from '../../../shared/core/model.js'
import type { RoleAssumer } from '../../../shared/core/ports.js'
import { createWorkloadTokenVerifier } from '../../../shared/core/verify.js'
import { capturingSink } from '../../support/log-capture.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { createTestIssuer } from '../../support/workload-issuer.js'
import {
  generateRsaKey,
  makeBinding,
  makeIssuer,
  NOW,
  NOW_SECONDS,
  signCompact,
  tokenClaims,
} from '../fixtures.js'
import { httpEvent } from '../http/http-event.js'

const planeA = await createTestIssuer({ kid: 'key-a' })
const planeB = await createTestIssuer({ kid: 'key-b' })
const planeEc = await createTestIssuer({ alg: 'ES256', kid: 'key-ec' })
const rawKey = await generateRsaKey('key-raw')

const noSts: RoleAssumer = {
  assumeRoleWithWebIdentity: async () => {
    throw new Error('explain must never call STS')
  },
}

const setup = (issuers: Issuer[], bindings: Binding[]) => {
  const registry = createMemoryRegistry()
  registry.seed({ issuers, bindings })
  const lines: string[] = []
  const logger = createJsonLogger(capturingSink('explain-test', (line) => lines.push(line)))
  const exchange = createExchange({
    registry,
    verifier: createWorkloadTokenVerifier(createInlineKeyResolver()),
    signer: createLocalSigner(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey),
    sts: noSts,
    clock: { now: () => NOW },
    audit: logger.audit,
    brokerIssuerUrl: 'https://broker.example.com',
    brokerTokenTtlSeconds: 300,
  })
  const audits = () =>
    lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((r) => r.message === 'audit')
  return { exchange, logger, audits }
}

const failedChecks = (checks: { check: string; passed: boolean; reason?: string }[] | undefined) =>
  (checks ?? []).filter((c) => !c.passed).map(({ check, reason }) => ({ check, reason }))

describe('explain: keys', () => {
  const issuers = [
    makeIssuer({ issuerId: 'plane-a', jwks: planeA.jwks }),
    makeIssuer({ issuerId: 'plane-b', jwks: planeB.jwks, enabled: false }),
    makeIssuer({ issuerId: 'plane-c', jwks: { keys: [rawKey.jwk] }, algorithms: ['RS256'] }),
  ]

  it('names every issuer sharing the iss and why each key did not verify', async () => {
    // Prepare
    const { exchange } = setup(issuers, [])
    const [header, payload] = (await planeA.mint({ iat: NOW_SECONDS })).split('.')
    const forged = `${header}.${payload}.${(await planeB.mint({ iat: NOW_SECONDS })).split('.')[2]}`
    // Act
    const trace = await explain(exchange, { token: forged })
    // Assess
    expect(trace).toMatchObject({
      decision: 'deny',
      code: 'InvalidIdentityToken',
      reason: 'signature_not_verified',
      issuersSharingIss: ['plane-a', 'plane-b', 'plane-c'],
      candidates: [
        { issuerId: 'plane-a', outcome: 'key_mismatch', reason: 'signature_invalid' },
        { issuerId: 'plane-b', outcome: 'disabled' },
        { issuerId: 'plane-c', outcome: 'key_mismatch', reason: 'no_matching_key' },
      ],
    })
    expect(trace.candidates.some((c) => c.key !== undefined || c.claimChecks !== undefined)).toBe(false)
  })

  it('says when the algorithm is outside the issuer allowlist', async () => {
    // Prepare
    const { exchange } = setup(
      [makeIssuer({ issuerId: 'rs-only', jwks: planeEc.jwks, algorithms: ['RS256'] })],
      [],
    )
    // Act
    const trace = await explain(exchange, { token: await planeEc.mint({ iat: NOW_SECONDS }) })
    // Assess
    expect(trace.candidates).toEqual([
      { issuerId: 'rs-only', outcome: 'key_mismatch', reason: 'algorithm_not_allowed' },
    ])
  })

  it('names the key that verified: its alg and kid', async () => {
    // Prepare
    const { exchange } = setup([issuers[2] as Issuer], [])
    const token = signCompact({ alg: 'RS256', kid: 'key-raw' }, tokenClaims(), rawKey.privateKey)
    // Act
    const trace = await explain(exchange, { token })
    // Assess
    expect(trace.candidates[0]).toMatchObject({ outcome: 'verified', key: { alg: 'RS256', kid: 'key-raw' } })
  })
})

describe('explain: every claim check', () => {
  const issuer = makeIssuer({
    issuerId: 'plane-a',
    jwks: { keys: [rawKey.jwk] },
    maxTokenLifetimeSeconds: 3600,
  })
  const sign = (claims: Record<string, unknown>) =>
    signCompact({ alg: 'RS256', kid: 'key-raw' }, tokenClaims(claims), rawKey.privateKey)

  it('lists all failing checks of a validly signed token, not only the first', async () => {
    // Prepare: expired, issued 2 h before expiry (lifetime over 1 h), wrong audience, sub disagreeing
    const { exchange } = setup([issuer], [])
    const token = sign({
      iat: NOW_SECONDS - 7300,
      nbf: NOW_SECONDS - 7300,
      exp: NOW_SECONDS - 100,
      aud: ['someone-else'],
      sub: 'system:serviceaccount:ml:other',
    })
    // Act
    const trace = await explain(exchange, { token })
    // Assess
    const [attempt] = trace.candidates
    expect(attempt).toMatchObject({
      issuerId: 'plane-a',
      outcome: 'rejected',
      key: { alg: 'RS256', kid: 'key-raw' },
    })
    expect(failedChecks(attempt?.claimChecks)).toEqual([
      { check: 'aud', reason: 'claim_invalid_aud' },
      { check: 'exp', reason: 'token_expired' },
      { check: 'lifetime', reason: 'token_lifetime_too_long' },
      { check: 'kubernetes_identity', reason: 'claim_inconsistent_kubernetes_identity' },
    ])
    // The decision is the validator's own first failure, and it is one of the listed checks.
    expect(failedChecks(attempt?.claimChecks).map((c) => c.reason)).toContain(trace.reason)
  })

  it.each([
    [{ iat: NOW_SECONDS + 600 }, 'iat', 'claim_invalid_iat'],
    [{ nbf: NOW_SECONDS + 600 }, 'nbf', 'token_not_yet_valid'],
    [{ sub: 42 }, 'sub', 'claim_invalid_sub'],
    [{ aud: undefined }, 'aud', 'claim_missing_aud'],
    [{ exp: NOW_SECONDS + 7200 }, 'lifetime', 'token_lifetime_too_long'],
  ])('reports %j as the failed %s check with the reason the audit uses', async (claims, check, reason) => {
    // Prepare
    const { exchange } = setup([issuer], [])
    // Act
    const trace = await explain(exchange, { token: sign(claims) })
    // Assess
    expect(trace.reason).toBe(reason)
    expect(failedChecks(trace.candidates[0]?.claimChecks)).toContainEqual({ check, reason })
  })
})

describe('explain: bindings', () => {
  it('gives each binding its result, the rule that failed and why a condition did not hold', async () => {
    // Prepare
    const issuer = makeIssuer({ issuerId: 'plane-a', jwks: planeA.jwks })
    const bindings = [
      makeBinding({ issuerId: 'plane-a', bindingId: 'a-subject', subjects: ['system:serviceaccount:ops:*'] }),
      makeBinding({
        issuerId: 'plane-a',
        bindingId: 'b-false',
        condition: "claims['kubernetes.io'].namespace == 'ops'",
      }),
      makeBinding({
        issuerId: 'plane-a',
        bindingId: 'c-error',
        condition: 'claims.groups.exists(g, g == "admins")',
      }),
      makeBinding({
        issuerId: 'plane-a',
        bindingId: 'd-match',
        profile: 'd',
        condition: 'claims.sub.endsWith(":trainer")',
      }),
    ]
    const { exchange } = setup([issuer], bindings)
    // Act
    const trace = await explain(exchange, { token: await planeA.mint({ iat: NOW_SECONDS }) })
    // Assess
    expect(
      trace.bindings.map(({ bindingId, matched, failedRule, detail }) => ({
        bindingId,
        matched,
        failedRule,
        detail,
      })),
    ).toEqual([
      { bindingId: 'a-subject', matched: false, failedRule: 'subjects', detail: undefined },
      { bindingId: 'b-false', matched: false, failedRule: 'condition', detail: 'false' },
      { bindingId: 'c-error', matched: false, failedRule: 'condition', detail: 'error:no_such_key' },
      { bindingId: 'd-match', matched: true, failedRule: undefined, detail: undefined },
    ])
    expect(trace).toMatchObject({ decision: 'allow', selected: { bindingId: 'd-match' } })
  })
})

describe('the workload sees a generic error; explain and the audit record see the reason', () => {
  it('answers the workload with the generic message and request id, the audit holds the reason explain gives', async () => {
    // Prepare
    const issuer = makeIssuer({ issuerId: 'plane-a', jwks: planeA.jwks })
    const { exchange, logger, audits } = setup([issuer], [makeBinding({ issuerId: 'plane-a' })])
    const handler = createCredentialsHandler({ exchange, logger })
    const token = await planeA.mint({ iat: NOW_SECONDS - 7200, lifetimeSeconds: 3600 })
    // Act
    const response = await handler(
      httpEvent({ requestId: 'req-explain-1', headers: { authorization: token } }),
      {} as Context,
    )
    const trace = await explain(exchange, { token })
    // Assess
    expect(JSON.parse(response.body ?? '')).toEqual({
      error: {
        code: 'ExpiredToken',
        message: 'The web identity token is expired or not yet valid.',
        requestId: 'req-explain-1',
      },
    })
    const [record] = audits().filter((r) => r.requestId === 'req-explain-1')
    expect(record).toMatchObject({ decision: 'deny', code: 'ExpiredToken', reason: 'token_expired' })
    expect(trace).toMatchObject({ decision: 'deny', code: record?.code, reason: record?.reason })
  })
})
