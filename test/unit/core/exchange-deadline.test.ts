// The request deadline of the exchange: whatever dependency never answers (registry, key set,
// signer, STS), issueCredentials and listRoles settle with a 503 the SDK can retry, audited once.
// No timing is asserted: each dependency here never answers, so only the deadline can settle.
import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createLocalSigner } from '../../../shared/adapters/local-signer.js'
import type { Deadline } from '../../../shared/core/deadline.js'
import { createExchange } from '../../../shared/core/exchange.js'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
import type { AwsCredentials } from '../../../shared/core/model.js'
import type { KeyResolver, RegistryReader, RoleAssumer, Signer } from '../../../shared/core/ports.js'
import { createWorkloadTokenVerifier } from '../../../shared/core/verify.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { createTestIssuer } from '../../support/workload-issuer.js'
import {
  createAuditLog,
  createTestClock,
  makeBinding,
  makeIssuer,
  NOW,
  NOW_SECONDS,
  rejectionOf,
} from '../fixtures.js'

const dataPlane = await createTestIssuer({ kid: 'deadline-key' })
const localSigner = createLocalSigner(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)
const never = <T>(): Promise<T> => new Promise<T>(() => undefined)

const CREDENTIALS: AwsCredentials = {
  accessKeyId: 'ASIADEADLINE',
  secretAccessKey: 'secret-access-key',
  sessionToken: 'session-token',
  expiration: new Date(NOW.getTime() + 3600_000),
  assumedRoleArn: 'arn:aws:sts::111122223333:assumed-role/ml-s3-reader/s',
  accountId: '111122223333',
}

interface Hangs {
  registry?: boolean
  keys?: boolean
  signer?: boolean
  sts?: boolean
}

const setup = (
  hangs: Hangs,
  requestDeadlineMs: number | undefined = 20,
  stsAnswer: () => Promise<AwsCredentials> = async () => CREDENTIALS,
) => {
  const memory = createMemoryRegistry()
  memory.seed({
    issuers: [makeIssuer({ issuerId: 'onprem-a', jwks: dataPlane.jwks })],
    bindings: [makeBinding({ issuerId: 'onprem-a' })],
  })
  const registry: RegistryReader = {
    findIssuersByIss: (iss) => (hangs.registry ? never() : memory.findIssuersByIss(iss)),
    listBindings: (issuerId) => memory.listBindings(issuerId),
    bindingsForSubject: (issuerId, subject) => memory.bindingsForSubject(issuerId, subject),
    patternBindings: (issuerId) => memory.patternBindings(issuerId),
  }
  const inline = createInlineKeyResolver()
  const keysFor: KeyResolver = (issuer) => (hangs.keys ? () => never() : inline(issuer))
  const signer: Signer = {
    ...localSigner,
    sign: (input) => (hangs.signer ? never() : localSigner.sign(input)),
  }
  const deadlines: Deadline[] = []
  const sts: RoleAssumer = {
    assumeRoleWithWebIdentity: async (_request, options) => {
      if (options?.deadline) deadlines.push(options.deadline)
      return hangs.sts ? never() : stsAnswer()
    },
  }
  const audit = createAuditLog()
  const exchange = createExchange({
    registry,
    verifier: createWorkloadTokenVerifier(keysFor),
    signer,
    sts,
    clock: createTestClock(),
    audit: audit.sink,
    brokerIssuerUrl: 'https://broker.example.com',
    brokerTokenTtlSeconds: 300,
    requestDeadlineMs,
  })
  return { exchange, audit, deadlines }
}

const token = () => dataPlane.mint({ iat: NOW_SECONDS })

describe('exchange request deadline', () => {
  it.each<[string, Hangs]>([
    ['the registry', { registry: true }],
    ['the key set', { keys: true }],
    ['the signer (KMS)', { signer: true }],
    ['STS', { sts: true }],
  ])(
    'answers issueCredentials with ServiceUnavailable 503 and Retry-After when %s never answers',
    async (_label, hangs) => {
      // Prepare
      const { exchange } = setup(hangs)
      // Act
      const error = await rejectionOf(exchange.issueCredentials({ token: await token(), requestId: 'req-d' }))
      // Assess
      expect(error).toMatchObject({
        code: 'ServiceUnavailable',
        statusCode: 503,
        reason: 'deadline_exceeded',
        retryAfterSeconds: 1,
      })
    },
  )

  it('answers listRoles with ServiceUnavailable 503 when the registry never answers', async () => {
    // Prepare
    const { exchange } = setup({ registry: true })
    // Act
    const error = await rejectionOf(exchange.listRoles({ token: await token(), requestId: 'req-r' }))
    // Assess
    expect(error).toMatchObject({ code: 'ServiceUnavailable', reason: 'deadline_exceeded' })
  })

  it('audits a request answered by its deadline once, as a deny with reason deadline_exceeded', async () => {
    // Prepare
    const { exchange, audit } = setup({ sts: true })
    // Act
    await rejectionOf(
      exchange.issueCredentials({ token: await token(), requestId: 'req-a', role: 'ml-reader' }),
    )
    // Assess
    expect(audit.records).toEqual([
      expect.objectContaining({
        event: 'credentials',
        decision: 'deny',
        requestId: 'req-a',
        role: 'ml-reader',
        code: 'ServiceUnavailable',
        reason: 'deadline_exceeded',
      }),
    ])
  })

  it('does not audit the late outcome of a request its deadline answered (STS answering afterwards)', async () => {
    // Prepare
    let answerLate: (credentials: AwsCredentials) => void = () => undefined
    const late = new Promise<AwsCredentials>((resolve) => {
      answerLate = resolve
    })
    const { exchange, audit } = setup({}, 20, () => late)
    // Act
    const error = await rejectionOf(
      exchange.issueCredentials({ token: await token(), requestId: 'req-late' }),
    )
    answerLate(CREDENTIALS)
    await late
    await new Promise((resolve) => setImmediate(resolve))
    // Assess
    expect(error.reason).toBe('deadline_exceeded')
    expect(audit.records.map((record) => [record.requestId, record.decision, record.reason])).toEqual([
      ['req-late', 'deny', 'deadline_exceeded'],
    ])
  })

  it('hands STS the request deadline, whose signal aborts when the deadline answers', async () => {
    // Prepare
    const { exchange, deadlines } = setup({ sts: true })
    // Act
    await rejectionOf(exchange.issueCredentials({ token: await token(), requestId: 'req-s' }))
    // Assess
    expect(deadlines).toHaveLength(1)
    expect(deadlines[0]?.expired).toBe(true)
    expect(deadlines[0]?.signal.aborted).toBe(true)
    expect(deadlines[0]?.remainingMs()).toBe(0)
  })

  it('answers as before when every dependency answers: credentials, a live deadline handed to STS, one issued record', async () => {
    // Prepare
    const { exchange, audit, deadlines } = setup({}, 60_000)
    // Act
    const issued = await exchange.issueCredentials({ token: await token(), requestId: 'req-ok' })
    // Assess
    expect(issued.credentials).toEqual(CREDENTIALS)
    expect(deadlines[0]?.expired).toBe(false)
    expect(deadlines[0]?.signal.aborted).toBe(false)
    expect(audit.records).toEqual([expect.objectContaining({ decision: 'allow', requestId: 'req-ok' })])
  })
})
