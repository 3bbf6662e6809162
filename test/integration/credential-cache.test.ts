// The credential cache end to end: the local stack over HTTP, STS = moto_server behind a
// counting proxy on loopback. A herd of pods of one service account asking at once makes one
// AssumeRoleWithWebIdentity call; an admin write reaches the credentials function within its
// registry TTL, as in AWS (each function has its own caches), and a changed session then makes a
// new call; a disabled binding gets no cached credentials.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MotoServer, startMotoServer } from '../../infra/local/processes.js'
import type { LocalStack } from '../../infra/local/stack.js'
import { type CountingProxy, startCountingProxy } from '../support/counting-proxy.js'
import { capturingSink } from '../support/log-capture.js'
import { createMovableClock } from '../support/movable-clock.js'
import { startTestStack } from '../support/test-stack.js'
import { AUDIENCE, createTestIssuer, type TestIssuer } from '../support/workload-issuer.js'

const ISS = 'https://herd.clusters.example.test'
const ROLE_ARN = 'arn:aws:iam::111122223333:role/herd-reader'
const HERD = 100

let moto: MotoServer
let sts: CountingProxy
let stack: LocalStack
let dataPlane: TestIssuer
const adminToken = randomBytes(24).toString('base64url')
const logLines: string[] = []
/**
 * The credentials function's registry cache: longer than this file takes to run, so nothing
 * expires unless the test moves the clock; no stale window, so the first request past it reads.
 */
const REGISTRY_TTL_SECONDS = 120
const clock = createMovableClock()
const waitOutRegistryTtl = () => clock.advance(REGISTRY_TTL_SECONDS + 1)

const asAdmin = async (method: string, path: string, body: unknown) => {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

const credentials = async (token: string) => {
  const response = await fetch(`${stack.url}/v1/credentials?role=herd-reader`, {
    headers: { authorization: token },
  })
  return {
    status: response.status,
    requestId: response.headers.get('x-request-id') ?? '',
    body: (await response.json()) as Record<string, unknown>,
  }
}

const podToken = (pod: number) => dataPlane.mint({ iss: ISS, extraClaims: { jti: `herd-pod-${pod}` } })

const auditFor = (requestId: string): Record<string, unknown> | undefined =>
  logLines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((record) => record.type === 'audit' && record.requestId === requestId)

beforeAll(async () => {
  moto = await startMotoServer()
  sts = await startCountingProxy(moto.endpoint)
  stack = await startTestStack(
    'credential-cache',
    {
      IRSA_BROKER_ADMIN_TOKEN: adminToken,
      AWS_ENDPOINT_URL_STS: sts.url,
      IRSA_BROKER_CACHE_TTL_SECONDS: String(REGISTRY_TTL_SECONDS),
      IRSA_BROKER_CACHE_STALE_SECONDS: '0',
    },
    { logSink: capturingSink('credential-cache', (line) => logLines.push(line)), clock },
  )
  dataPlane = await createTestIssuer()
  const issuer = await asAdmin('PUT', '/v1/admin/issuers/herd', {
    issuer: ISS,
    audiences: [AUDIENCE],
    jwks: dataPlane.jwks,
  })
  expect(issuer.status).toBe(201)
  const binding = await asAdmin('PUT', '/v1/admin/issuers/herd/bindings/herd-reader', {
    roleArn: ROLE_ARN,
    subjects: ['system:serviceaccount:ml:trainer'],
    sessionTags: { namespace: '{/kubernetes.io/namespace}' },
  })
  expect(binding.status).toBe(201)
})

afterAll(async () => {
  await stack?.stop()
  await sts?.stop()
  await moto?.stop()
})

describe('credential cache over HTTP, STS = moto_server behind a counting proxy', () => {
  it(`makes 1 STS call for ${HERD} concurrent requests of one identity and role`, async () => {
    // Prepare
    const tokens = await Promise.all(Array.from({ length: HERD }, (_, pod) => podToken(pod)))
    const before = sts.count()
    // Act
    const answers = await Promise.all(tokens.map((token) => credentials(token)))
    // Assess
    expect(sts.count() - before).toBe(1)
    expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: HERD }, () => 200))
    expect(new Set(answers.map((answer) => answer.body.AccessKeyId)).size).toBe(1)
    const cached = answers.filter((answer) => auditFor(answer.requestId)?.cached === true)
    expect(cached).toHaveLength(HERD - 1)
    for (const answer of answers) {
      expect(auditFor(answer.requestId)).toMatchObject({
        decision: 'allow',
        sub: 'system:serviceaccount:ml:trainer',
      })
      // moto's clock is the real one, like the stack's: at least the 15 minutes SDKs need
      expect(Date.parse(String(answer.body.Expiration)) - Date.now()).toBeGreaterThan(15 * 60 * 1000)
    }
  })

  it('answers a later request from the cache; a session edited by an admin calls STS again once the registry TTL passed', async () => {
    // Prepare
    const before = sts.count()
    // Act
    const later = await credentials(await podToken(HERD + 1))
    const edited = await asAdmin('PUT', '/v1/admin/issuers/herd/bindings/herd-reader', {
      roleArn: ROLE_ARN,
      subjects: ['system:serviceaccount:ml:trainer'],
      sessionTags: { namespace: '{/kubernetes.io/namespace}', team: 'herd' },
      version: 1,
    })
    // Within the TTL the credentials function still evaluates the binding it read (as in AWS).
    const withinTtl = await credentials(await podToken(HERD + 2))
    waitOutRegistryTtl()
    const afterTtl = await credentials(await podToken(HERD + 3))
    // Assess
    expect(later.status).toBe(200)
    expect(auditFor(later.requestId)?.cached).toBe(true)
    expect(edited.status).toBe(200)
    expect(withinTtl.status).toBe(200)
    expect(auditFor(withinTtl.requestId)?.cached).toBe(true)
    expect(afterTtl.status).toBe(200)
    expect(auditFor(afterTtl.requestId)?.cached).toBeUndefined()
    expect(afterTtl.body.AccessKeyId).not.toBe(later.body.AccessKeyId)
    expect(sts.count() - before).toBe(1)
  })

  it('serves no cached credentials once the binding is disabled (within the registry TTL)', async () => {
    // Prepare
    const cachedBefore = await credentials(await podToken(HERD + 4))
    const before = sts.count()
    // Act
    const disabled = await asAdmin('PUT', '/v1/admin/issuers/herd/bindings/herd-reader', {
      roleArn: ROLE_ARN,
      subjects: ['system:serviceaccount:ml:trainer'],
      enabled: false,
      version: 2,
    })
    waitOutRegistryTtl()
    const answer = await credentials(await podToken(HERD + 5))
    // Assess
    expect(auditFor(cachedBefore.requestId)?.cached).toBe(true)
    expect(disabled.status).toBe(200)
    expect(answer.status).toBe(403)
    expect(answer.body).toMatchObject({ error: { code: 'AccessDenied' } })
    expect(answer.body.AccessKeyId).toBeUndefined()
    expect(sts.count() - before).toBe(0)
  })
})
