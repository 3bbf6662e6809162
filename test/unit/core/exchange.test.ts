import { generateKeyPairSync } from 'node:crypto'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import { createLocalSigner } from '../../../shared/adapters/local-signer.js'
import { AWS_SOURCE_IDENTITY_CLAIM, AWS_TAGS_CLAIM } from '../../../shared/core/broker-token.js'
import { AccessDeniedError, UpstreamUnavailableError } from '../../../shared/core/errors.js'
import { createExchange, type ExchangeRequest } from '../../../shared/core/exchange.js'
import { explain, PASSTHROUGH_SOURCE_IDENTITY_NOTE } from '../../../shared/core/exchange-trace.js'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
import type { AwsCredentials, Binding, Issuer } from '../../../shared/core/model.js'
import type { AssumeRoleRequest, RoleAssumer } from '../../../shared/core/ports.js'
import { createWorkloadTokenVerifier } from '../../../shared/core/verify.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import {
  createTestIssuer,
  K8S_ISSUER,
  type MintOptions,
  type TestIssuer,
} from '../../support/workload-issuer.js'
import {
  createAuditLog,
  createTestClock,
  makeBinding,
  makeIssuer,
  NOW,
  NOW_SECONDS,
  rejectionOf,
} from '../fixtures.js'

const BROKER_URL = 'https://broker.example.com'
const READER_ARN = 'arn:aws:iam::111122223333:role/ml-s3-reader'
const WRITER_ARN = 'arn:aws:iam::111122223333:role/ml-s3-writer'

const dataPlaneA = await createTestIssuer({ kid: 'cluster-a-key' })
const dataPlaneB = await createTestIssuer({ kid: 'cluster-b-key' })
const signer = createLocalSigner(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)

/** A RoleAssumer that records each request and answers like STS, or fails as told. */
const createFakeSts = () => {
  const requests: AssumeRoleRequest[] = []
  let failure: unknown
  const sts: RoleAssumer = {
    async assumeRoleWithWebIdentity(request) {
      requests.push(request)
      if (failure !== undefined) throw failure
      const roleName = request.roleArn.split('/').at(-1)
      const credentials: AwsCredentials = {
        accessKeyId: `ASIA${requests.length}`,
        secretAccessKey: `secret-access-key-${requests.length}`,
        sessionToken: `session-token-${requests.length}`,
        expiration: new Date(NOW.getTime() + request.durationSeconds * 1000),
        assumedRoleArn: `arn:aws:sts::111122223333:assumed-role/${roleName}/${request.sessionName}`,
        accountId: '111122223333',
      }
      return credentials
    },
  }
  return {
    sts,
    requests,
    failWith: (error: unknown) => {
      failure = error
    },
  }
}

const setup = (objects: { issuers: Issuer[]; bindings: Binding[] }) => {
  const clock = createTestClock()
  const registry = createMemoryRegistry()
  registry.seed(objects)
  const fake = createFakeSts()
  const audit = createAuditLog()
  const exchange = createExchange({
    registry,
    verifier: createWorkloadTokenVerifier(createInlineKeyResolver()),
    signer,
    sts: fake.sts,
    clock,
    audit: audit.sink,
    brokerIssuerUrl: BROKER_URL,
    brokerTokenTtlSeconds: 300,
  })
  return { exchange, registry, clock, audit, stsRequests: fake.requests, failStsWith: fake.failWith }
}

const mint = (dataPlane: TestIssuer, options: MintOptions = {}) =>
  dataPlane.mint({ iat: NOW_SECONDS, ...options })

/** The claim checks of explain, in order, for a token that passes all of them. */
const ALL_CLAIM_CHECKS_PASSED = 'shape iss aud exp nbf iat lifetime sub kubernetes_identity'
  .split(' ')
  .map((check) => ({ check, passed: true }))

const issuerA = makeIssuer({ issuerId: 'onprem-a', jwks: dataPlaneA.jwks })
const readers = makeBinding({ bindingId: 'readers', profile: 'ml-reader', roleArn: READER_ARN })
const writers = makeBinding({ bindingId: 'writers', profile: 'ml-writer', roleArn: WRITER_ARN })

const request = (token: unknown, extra: Partial<ExchangeRequest> = {}): ExchangeRequest => ({
  token,
  requestId: 'req-1',
  ...extra,
})

/** Verifies the token STS received as STS would, with the broker's published keys. */
const verifyBrokerToken = async (token: string) =>
  jwtVerify(token, createLocalJWKSet(await signer.publicJwks()), {
    issuer: BROKER_URL,
    audience: 'sts.amazonaws.com',
    algorithms: ['RS256'],
    currentDate: NOW,
  })

describe('issueCredentials: broker mode', () => {
  it('issues credentials for the matching binding through a broker token', async () => {
    // Prepare
    const { exchange, stsRequests } = setup({ issuers: [issuerA], bindings: [readers] })
    const token = await mint(dataPlaneA)
    // Act
    const issued = await exchange.issueCredentials(request(token))
    // Assess
    expect(issued).toMatchObject({
      roleArn: READER_ARN,
      sessionName: 'onprem-a.ml.trainer',
      credentials: { accessKeyId: 'ASIA1', accountId: '111122223333' },
    })
    expect(stsRequests).toHaveLength(1)
    expect(stsRequests[0]).toMatchObject({
      roleArn: READER_ARN,
      sessionName: 'onprem-a.ml.trainer',
      durationSeconds: 3600,
    })
    expect(stsRequests[0]?.webIdentityToken).not.toBe(token)
  })

  it('hands STS a broker token: broker iss, STS audience, issuer-scoped sub, at most 5 minutes', async () => {
    // Prepare
    const { exchange, stsRequests } = setup({ issuers: [issuerA], bindings: [readers] })
    // Act
    await exchange.issueCredentials(request(await mint(dataPlaneA)))
    const { payload } = await verifyBrokerToken(stsRequests[0]?.webIdentityToken ?? '')
    // Assess
    expect(payload).toMatchObject({
      iss: BROKER_URL,
      aud: 'sts.amazonaws.com',
      sub: 'onprem-a:system:serviceaccount:ml:trainer',
      iat: NOW_SECONDS,
    })
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBeLessThanOrEqual(300)
  })

  it("puts the workload's name in the broker token's source identity claim, or the binding's template rendered", async () => {
    // Prepare
    const templated = makeBinding({
      bindingId: 'templated',
      profile: 'templated',
      sourceIdentity: 'team-ml.{/kubernetes.io/serviceaccount/name}',
    })
    const { exchange, stsRequests } = setup({ issuers: [issuerA], bindings: [readers, templated] })
    const token = await mint(dataPlaneA)
    // Act
    await exchange.issueCredentials(request(token, { role: 'ml-reader' }))
    await exchange.issueCredentials(request(token, { role: 'templated' }))
    const claims = await Promise.all(
      stsRequests.map(
        async (r) => (await verifyBrokerToken(r.webIdentityToken)).payload[AWS_SOURCE_IDENTITY_CLAIM],
      ),
    )
    // Assess
    expect(claims).toEqual(['onprem-a.ml.trainer', 'team-ml.trainer'])
  })

  it('carries the binding session tags, rendered from the claims, in the broker token', async () => {
    // Prepare
    const tagged = makeBinding({
      sessionTags: { namespace: '{/kubernetes.io/namespace}', 'data-plane': 'onprem-a' },
      transitiveTagKeys: ['data-plane'],
      sessionName: '{/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}',
    })
    const { exchange, stsRequests } = setup({ issuers: [issuerA], bindings: [tagged] })
    // Act
    const issued = await exchange.issueCredentials(request(await mint(dataPlaneA)))
    const { payload } = await verifyBrokerToken(stsRequests[0]?.webIdentityToken ?? '')
    // Assess
    expect(issued.sessionName).toBe('ml.trainer')
    expect(payload[AWS_TAGS_CLAIM]).toEqual({
      principal_tags: { namespace: ['ml'], 'data-plane': ['onprem-a'] },
      transitive_tag_keys: ['data-plane'],
    })
  })

  it('hands STS the workload token itself for a passthrough issuer', async () => {
    // Prepare
    const passthrough = makeIssuer({ issuerId: 'onprem-a', jwks: dataPlaneA.jwks, mode: 'passthrough' })
    const { exchange, stsRequests } = setup({ issuers: [passthrough], bindings: [readers] })
    const token = await mint(dataPlaneA)
    // Act
    await exchange.issueCredentials(request(token))
    // Assess
    expect(stsRequests[0]?.webIdentityToken).toBe(token)
  })

  it('asks STS for a shorter duration when the request names one', async () => {
    // Prepare
    const { exchange, stsRequests } = setup({ issuers: [issuerA], bindings: [readers] })
    // Act
    await exchange.issueCredentials(request(await mint(dataPlaneA), { durationSeconds: 900 }))
    // Assess
    expect(stsRequests[0]?.durationSeconds).toBe(900)
  })

  it('never asks STS for more than the binding durationSeconds', async () => {
    // Prepare
    const { exchange, stsRequests } = setup({ issuers: [issuerA], bindings: [readers] })
    // Act
    await exchange.issueCredentials(request(await mint(dataPlaneA), { durationSeconds: 43200 }))
    // Assess
    expect(stsRequests[0]?.durationSeconds).toBe(3600)
  })
})

describe('issueCredentials: several issuers sharing one iss', () => {
  // Both clusters keep the default iss; each has its own key and its own binding, and both
  // bindings would match the same service account.
  const issuerB = makeIssuer({ issuerId: 'onprem-b', jwks: dataPlaneB.jwks })
  const bindingA = makeBinding({
    issuerId: 'onprem-a',
    bindingId: 'a-readers',
    profile: 'a-reader',
    roleArn: READER_ARN,
  })
  const bindingB = makeBinding({
    issuerId: 'onprem-b',
    bindingId: 'b-writers',
    profile: 'b-writer',
    roleArn: WRITER_ARN,
  })
  const objects = { issuers: [issuerA, issuerB], bindings: [bindingA, bindingB] }

  it('uses only the bindings of the issuer whose key verified the token', async () => {
    // Prepare
    const { exchange, stsRequests } = setup(objects)
    // Act
    const issued = await exchange.issueCredentials(request(await mint(dataPlaneB)))
    // Assess
    expect(issued.roleArn).toBe(WRITER_ARN)
    expect(stsRequests.map((r) => r.roleArn)).toEqual([WRITER_ARN])
    const { payload } = await verifyBrokerToken(stsRequests[0]?.webIdentityToken ?? '')
    expect(payload.sub).toBe('onprem-b:system:serviceaccount:ml:trainer')
  })

  it("never grants the other issuer's role to a token signed by B", async () => {
    // Prepare
    const { exchange, stsRequests } = setup(objects)
    const tokenB = await mint(dataPlaneB)
    // Act
    const byProfile = await rejectionOf(exchange.issueCredentials(request(tokenB, { role: 'a-reader' })))
    const byArn = await rejectionOf(exchange.issueCredentials(request(tokenB, { role: READER_ARN })))
    // Assess
    expect(byProfile).toMatchObject({ code: 'AccessDenied', statusCode: 403 })
    expect(byArn).toMatchObject({ code: 'AccessDenied', statusCode: 403 })
    expect(stsRequests).toEqual([])
  })

  it("gives a token signed by A A's binding", async () => {
    // Prepare
    const { exchange } = setup(objects)
    // Act
    const issued = await exchange.issueCredentials(request(await mint(dataPlaneA)))
    // Assess
    expect(issued.roleArn).toBe(READER_ARN)
  })

  it('lists only the roles of the verifying issuer', async () => {
    // Prepare
    const { exchange } = setup(objects)
    // Act
    const roles = await exchange.listRoles(request(await mint(dataPlaneB)))
    // Assess
    expect(roles).toEqual([
      { profile: 'b-writer', roleArn: WRITER_ARN, bindingId: 'b-writers', durationSeconds: 3600 },
    ])
  })

  it('explains which candidate verified the token', async () => {
    // Prepare
    const { exchange } = setup(objects)
    // Act
    const trace = await explain(exchange, { token: await mint(dataPlaneB) })
    // Assess
    expect(trace.issuersSharingIss).toEqual(['onprem-a', 'onprem-b'])
    expect(trace.candidates).toEqual([
      { issuerId: 'onprem-a', outcome: 'key_mismatch', reason: 'no_matching_key' },
      {
        issuerId: 'onprem-b',
        outcome: 'verified',
        key: { alg: 'RS256', kid: 'cluster-b-key' },
        claimChecks: ALL_CLAIM_CHECKS_PASSED,
      },
    ])
    expect(trace.bindings.map((b) => b.bindingId)).toEqual(['b-writers'])
  })
})

describe('issueCredentials: denials', () => {
  it('treats a disabled issuer as unknown: 401 InvalidIdentityToken, no STS call', async () => {
    // Prepare
    const disabled = makeIssuer({ issuerId: 'onprem-a', jwks: dataPlaneA.jwks, enabled: false })
    const { exchange, stsRequests } = setup({ issuers: [disabled], bindings: [readers] })
    // Act
    const error = await rejectionOf(exchange.issueCredentials(request(await mint(dataPlaneA))))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidIdentityToken', statusCode: 401, reason: 'issuer_unknown' })
    expect(stsRequests).toEqual([])
  })

  it('answers a disabled issuer exactly like an unregistered one', async () => {
    // Prepare
    const disabled = makeIssuer({ issuerId: 'onprem-a', jwks: dataPlaneA.jwks, enabled: false })
    const token = await mint(dataPlaneA)
    // Act
    const fromDisabled = await rejectionOf(
      setup({ issuers: [disabled], bindings: [] }).exchange.issueCredentials(request(token)),
    )
    const fromUnknown = await rejectionOf(
      setup({ issuers: [], bindings: [] }).exchange.issueCredentials(request(token)),
    )
    // Assess
    expect([fromDisabled.code, fromDisabled.message]).toEqual([fromUnknown.code, fromUnknown.message])
  })

  it('treats a disabled binding as no binding: 403 AccessDenied, no STS call', async () => {
    // Prepare
    const { exchange, stsRequests } = setup({
      issuers: [issuerA],
      bindings: [{ ...readers, enabled: false }],
    })
    // Act
    const error = await rejectionOf(exchange.issueCredentials(request(await mint(dataPlaneA))))
    // Assess
    expect(error).toBeInstanceOf(AccessDeniedError)
    expect(error).toMatchObject({ code: 'AccessDenied', statusCode: 403 })
    expect(stsRequests).toEqual([])
  })

  it('answers 403 when no binding matches the workload', async () => {
    // Prepare
    const { exchange } = setup({ issuers: [issuerA], bindings: [readers] })
    // Act
    const error = await rejectionOf(
      exchange.issueCredentials(request(await mint(dataPlaneA, { namespace: 'ops' }))),
    )
    // Assess
    expect(error).toMatchObject({ code: 'AccessDenied', reason: 'no_binding_matches' })
  })

  it('answers 401 ExpiredToken for an expired workload token', async () => {
    // Prepare
    const { exchange, clock } = setup({ issuers: [issuerA], bindings: [readers] })
    const token = await mint(dataPlaneA, { lifetimeSeconds: 600 })
    clock.advance(600 + 60)
    // Act
    const error = await rejectionOf(exchange.issueCredentials(request(token)))
    // Assess
    expect(error).toMatchObject({ code: 'ExpiredToken', statusCode: 401 })
  })

  it('answers 401 for a token with the wrong audience', async () => {
    // Prepare
    const { exchange } = setup({ issuers: [issuerA], bindings: [readers] })
    // Act
    const error = await rejectionOf(
      exchange.issueCredentials(request(await mint(dataPlaneA, { aud: 'vault' }))),
    )
    // Assess
    expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'claim_invalid_aud' })
  })

  it('answers 401 for an iss that differs only by a trailing slash', async () => {
    // Prepare
    const { exchange } = setup({ issuers: [issuerA], bindings: [readers] })
    // Act
    const error = await rejectionOf(
      exchange.issueCredentials(request(await mint(dataPlaneA, { iss: `${K8S_ISSUER}/` }))),
    )
    // Assess
    expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'issuer_unknown' })
  })

  it.each([
    ['a missing token', undefined, 'InvalidIdentityToken', 401],
    ['garbage', 'not-a-jwt', 'InvalidIdentityToken', 401],
    ['a token over 16 KiB', 'a'.repeat(16 * 1024 + 1), 'PayloadTooLarge', 413],
  ])('refuses %s without reading the registry', async (_label, token, code, status) => {
    // Prepare
    const { exchange, registry } = setup({ issuers: [issuerA], bindings: [readers] })
    // Act
    const error = await rejectionOf(exchange.issueCredentials(request(token)))
    // Assess
    expect(error).toMatchObject({ code, statusCode: status })
    expect(registry.calls).toEqual([])
  })

  it('refuses a valid token with a trailing newline before it reaches the registry or jose', async () => {
    // Prepare
    const { exchange, registry } = setup({ issuers: [issuerA], bindings: [readers] })
    const token = `${await mint(dataPlaneA)}\n`
    // Act
    const error = await rejectionOf(exchange.issueCredentials(request(token)))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'token_malformed' })
    expect(registry.calls).toEqual([])
  })

  it('passes an STS refusal on as the broker error it was mapped to', async () => {
    // Prepare
    const { exchange, failStsWith } = setup({ issuers: [issuerA], bindings: [readers] })
    failStsWith(
      new AccessDeniedError('sts_access_denied', 'STS refused to assume the role for this workload.'),
    )
    // Act
    const error = await rejectionOf(exchange.issueCredentials(request(await mint(dataPlaneA))))
    // Assess
    expect(error).toMatchObject({ code: 'AccessDenied', reason: 'sts_access_denied' })
  })

  it('turns an unexpected failure into a 500 InternalError that hides the cause', async () => {
    // Prepare
    const { exchange, failStsWith } = setup({ issuers: [issuerA], bindings: [readers] })
    const bug = new TypeError('cannot read properties of undefined (secret internals)')
    failStsWith(bug)
    // Act
    const error = await rejectionOf(exchange.issueCredentials(request(await mint(dataPlaneA))))
    // Assess
    expect(error).toMatchObject({ code: 'InternalError', statusCode: 500, message: 'Internal error.' })
    expect(error.cause).toBe(bug)
  })

  it('answers 503 when the registry is unavailable', async () => {
    // Prepare
    const { exchange, registry } = setup({ issuers: [issuerA], bindings: [readers] })
    registry.failNext('findIssuersByIss', new UpstreamUnavailableError('dynamodb'))
    // Act
    const error = await rejectionOf(exchange.issueCredentials(request(await mint(dataPlaneA))))
    // Assess
    expect(error).toMatchObject({ code: 'ServiceUnavailable', statusCode: 503 })
  })

  it('answers 503 when the bindings cannot be read', async () => {
    // Prepare
    const { exchange, registry } = setup({ issuers: [issuerA], bindings: [readers] })
    registry.failNext('patternBindings', new UpstreamUnavailableError('dynamodb'))
    // Act
    const error = await rejectionOf(exchange.issueCredentials(request(await mint(dataPlaneA))))
    // Assess
    expect(error.code).toBe('ServiceUnavailable')
  })
})

describe('issueCredentials: role selection', () => {
  const objects = { issuers: [issuerA], bindings: [writers, readers] }

  it('selects by profile', async () => {
    // Prepare
    const { exchange } = setup(objects)
    // Act
    const issued = await exchange.issueCredentials(request(await mint(dataPlaneA), { role: 'ml-writer' }))
    // Assess
    expect(issued.roleArn).toBe(WRITER_ARN)
  })

  it('selects by role ARN', async () => {
    // Prepare
    const { exchange } = setup(objects)
    // Act
    const issued = await exchange.issueCredentials(request(await mint(dataPlaneA), { role: READER_ARN }))
    // Assess
    expect(issued.roleArn).toBe(READER_ARN)
  })

  it('selects the only matching binding when no role is named', async () => {
    // Prepare
    const { exchange } = setup({ issuers: [issuerA], bindings: [readers, { ...writers, enabled: false }] })
    // Act
    const issued = await exchange.issueCredentials(request(await mint(dataPlaneA)))
    // Assess
    expect(issued.roleArn).toBe(READER_ARN)
  })

  it('answers 400 InvalidParameterValue listing the profiles when no role is named and several match', async () => {
    // Prepare
    const { exchange, stsRequests } = setup(objects)
    // Act
    const error = await rejectionOf(exchange.issueCredentials(request(await mint(dataPlaneA))))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidParameterValue', statusCode: 400, reason: 'role_ambiguous' })
    expect(error.message).toContain('ml-reader, ml-writer')
    expect(stsRequests).toEqual([])
  })

  it('answers 403 for a role no binding allows', async () => {
    // Prepare
    const { exchange } = setup(objects)
    // Act
    const error = await rejectionOf(
      exchange.issueCredentials(
        request(await mint(dataPlaneA), { role: 'arn:aws:iam::111122223333:role/admin' }),
      ),
    )
    // Assess
    expect(error).toMatchObject({ code: 'AccessDenied', reason: 'role_not_allowed' })
  })
})

describe('listRoles', () => {
  it('lists one role per profile a token may use', async () => {
    // Prepare
    const sameProfile = makeBinding({ bindingId: 'zz-readers', profile: 'ml-reader', roleArn: WRITER_ARN })
    const { exchange, audit } = setup({ issuers: [issuerA], bindings: [sameProfile, writers, readers] })
    // Act
    const roles = await exchange.listRoles(request(await mint(dataPlaneA)))
    // Assess
    expect(roles).toEqual([
      { profile: 'ml-reader', roleArn: READER_ARN, bindingId: 'readers', durationSeconds: 3600 },
      { profile: 'ml-writer', roleArn: WRITER_ARN, bindingId: 'writers', durationSeconds: 3600 },
    ])
    expect(audit.records).toEqual([
      expect.objectContaining({ event: 'roles', decision: 'allow', roleCount: 2 }),
    ])
  })

  it('answers an empty list, not an error, when no binding matches', async () => {
    // Prepare
    const { exchange } = setup({ issuers: [issuerA], bindings: [readers] })
    // Act
    const roles = await exchange.listRoles(request(await mint(dataPlaneA, { namespace: 'ops' })))
    // Assess
    expect(roles).toEqual([])
  })

  it('refuses an invalid token', async () => {
    // Prepare
    const { exchange, audit } = setup({ issuers: [issuerA], bindings: [readers] })
    // Act
    const error = await rejectionOf(exchange.listRoles(request(await mint(dataPlaneB))))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidIdentityToken', statusCode: 401 })
    expect(audit.records).toEqual([expect.objectContaining({ event: 'roles', decision: 'deny' })])
  })
})

describe('explain', () => {
  it('says in the trace that a passthrough session gets no source identity from the broker, and why', async () => {
    // Prepare
    const passthrough = makeIssuer({ issuerId: 'onprem-a', jwks: dataPlaneA.jwks, mode: 'passthrough' })
    const { exchange } = setup({ issuers: [passthrough], bindings: [readers] })
    // Act
    const trace = await explain(exchange, { token: await mint(dataPlaneA) })
    // Assess
    expect(trace.selected).toMatchObject({ mode: 'passthrough', sourceIdentity: null })
    expect(trace.selected?.sourceIdentityNote).toBe(PASSTHROUGH_SOURCE_IDENTITY_NOTE)
    expect(PASSTHROUGH_SOURCE_IDENTITY_NOTE).toContain('cannot add a source identity')
  })

  it('traces an allowed decision without calling STS or minting credentials', async () => {
    // Prepare
    const tagged = { ...readers, sessionTags: { namespace: '{/kubernetes.io/namespace}' } }
    const { exchange, stsRequests } = setup({ issuers: [issuerA], bindings: [tagged, writers] })
    // Act
    const trace = await explain(exchange, { token: await mint(dataPlaneA), role: 'ml-reader' })
    // Assess
    expect(stsRequests).toEqual([])
    expect(trace).toEqual({
      decision: 'allow',
      iss: K8S_ISSUER,
      issuerId: 'onprem-a',
      sub: 'system:serviceaccount:ml:trainer',
      issuersSharingIss: ['onprem-a'],
      candidates: [
        {
          issuerId: 'onprem-a',
          outcome: 'verified',
          key: { alg: 'RS256', kid: 'cluster-a-key' },
          claimChecks: ALL_CLAIM_CHECKS_PASSED,
        },
      ],
      bindings: [
        { bindingId: 'readers', profile: 'ml-reader', roleArn: READER_ARN, matched: true },
        { bindingId: 'writers', profile: 'ml-writer', roleArn: WRITER_ARN, matched: true },
      ],
      selected: {
        bindingId: 'readers',
        profile: 'ml-reader',
        roleArn: READER_ARN,
        sessionName: 'onprem-a.ml.trainer',
        sourceIdentity: 'onprem-a.ml.trainer',
        sessionTags: { principalTags: { namespace: 'ml' }, transitiveTagKeys: [] },
        durationSeconds: 3600,
        mode: 'broker',
      },
    })
  })

  it('traces the exact reason of a denial, and which binding rule failed', async () => {
    // Prepare
    const { exchange } = setup({ issuers: [issuerA], bindings: [readers, { ...writers, enabled: false }] })
    // Act
    const trace = await explain(exchange, { token: await mint(dataPlaneA, { namespace: 'ops' }) })
    // Assess
    expect(trace).toMatchObject({
      decision: 'deny',
      code: 'AccessDenied',
      reason: 'no_binding_matches',
      bindings: [
        { bindingId: 'readers', matched: false, failedRule: 'subjects' },
        { bindingId: 'writers', matched: false, failedRule: 'disabled' },
      ],
    })
  })

  it('traces the token check that failed', async () => {
    // Prepare
    const strict = { ...issuerA, maxTokenLifetimeSeconds: 600 }
    const { exchange } = setup({ issuers: [strict], bindings: [readers] })
    // Act
    const trace = await explain(exchange, { token: await mint(dataPlaneA, { lifetimeSeconds: 3600 }) })
    // Assess
    expect(trace).toMatchObject({
      decision: 'deny',
      code: 'InvalidIdentityToken',
      reason: 'token_lifetime_too_long',
      candidates: [{ issuerId: 'onprem-a', outcome: 'rejected', reason: 'token_lifetime_too_long' }],
    })
  })
})

describe('audit records', () => {
  it('writes one record per decision with the workload identity from an allow-list', async () => {
    // Prepare
    const { exchange, audit } = setup({ issuers: [issuerA], bindings: [readers] })
    // Act
    await exchange.issueCredentials(request(await mint(dataPlaneA), { requestId: 'req-ok' }))
    await rejectionOf(
      exchange.issueCredentials(request(await mint(dataPlaneA, { aud: 'x' }), { requestId: 'req-bad' })),
    )
    // Assess
    expect(audit.records).toHaveLength(2)
    expect(audit.records[0]).toMatchObject({
      type: 'audit',
      event: 'credentials',
      decision: 'allow',
      requestId: 'req-ok',
      iss: K8S_ISSUER,
      issuerId: 'onprem-a',
      sub: 'system:serviceaccount:ml:trainer',
      namespace: 'ml',
      serviceAccount: 'trainer',
      bindingId: 'readers',
      roleArn: READER_ARN,
      sessionName: 'onprem-a.ml.trainer',
      assumedRoleArn: 'arn:aws:sts::111122223333:assumed-role/ml-s3-reader/onprem-a.ml.trainer',
    })
    expect(audit.records[1]).toMatchObject({
      decision: 'deny',
      requestId: 'req-bad',
      code: 'InvalidIdentityToken',
      reason: 'claim_invalid_aud',
    })
  })

  it('records an STS refusal as a denial', async () => {
    // Prepare
    const { exchange, audit, failStsWith } = setup({ issuers: [issuerA], bindings: [readers] })
    failStsWith(new AccessDeniedError('sts_access_denied'))
    // Act
    await rejectionOf(exchange.issueCredentials(request(await mint(dataPlaneA))))
    // Assess
    expect(audit.records).toEqual([
      expect.objectContaining({ decision: 'deny', code: 'AccessDenied', reason: 'sts_access_denied' }),
    ])
  })

  it('never contains a token, a signature, the broker token or a credential secret', async () => {
    // Prepare: a broker and a passthrough issuer, and a run of allowed and denied requests
    const passthrough = makeIssuer({ issuerId: 'onprem-b', jwks: dataPlaneB.jwks, mode: 'passthrough' })
    const bindingB = makeBinding({ issuerId: 'onprem-b', bindingId: 'b', profile: 'b' })
    const { exchange, audit, stsRequests, clock } = setup({
      issuers: [issuerA, passthrough],
      bindings: [readers, writers, bindingB],
    })
    const tokens = [
      await mint(dataPlaneA),
      await mint(dataPlaneA, { aud: 'vault' }),
      await mint(dataPlaneA, { namespace: 'ops' }),
      await mint(dataPlaneB),
      await mint(dataPlaneA, { lifetimeSeconds: 60 }),
      await mint(dataPlaneA, { extraClaims: { sub: 12345 } }),
    ]
    const secrets: string[] = []
    // Act
    for (const token of tokens) {
      for (const role of [undefined, 'ml-reader', 'b', 'nope']) {
        const outcome = await exchange.issueCredentials(request(token, { role })).catch(() => undefined)
        if (outcome) secrets.push(outcome.credentials.secretAccessKey, outcome.credentials.sessionToken)
      }
      await exchange.listRoles(request(token)).catch(() => undefined)
      await exchange.issueCredentials(request(`${token}\n`)).catch(() => undefined)
    }
    clock.advance(120)
    await exchange.issueCredentials(request(tokens[4])).catch(() => undefined)
    // Assess
    const serialized = JSON.stringify(audit.records)
    const brokerTokens = stsRequests.map((r) => r.webIdentityToken)
    expect(audit.records.length).toBeGreaterThan(tokens.length * 6)
    expect(secrets.length).toBeGreaterThan(0)
    expect(brokerTokens.length).toBeGreaterThan(0)
    for (const token of [...tokens, ...brokerTokens]) {
      const [header = '', payload = '', signature = ''] = token.split('.')
      expect(serialized).not.toContain(token)
      expect(serialized).not.toContain(signature)
      expect(serialized).not.toContain(`${header}.${payload}`)
    }
    for (const secret of secrets) expect(serialized).not.toContain(secret)
  })
})
