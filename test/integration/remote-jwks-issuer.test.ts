// A real third-party OIDC provider (oauth2-mock-server from npm) on loopback plays a GKE/AKS
// issuer for the whole local stack (IRSA_BROKER_ALLOW_LOOPBACK_JWKS=true): registered by
// discovery, its keys rotated in and out mid-test, stopped (cached keys keep verifying) and
// restarted with a new key. Registration failures answer 400 with the reason; an endpoint that
// fails with nothing usable cached answers the coded 503, quickly, while other issuers work.
// The broker's clock is a test clock, so cooldown, TTL and the stale bound are crossed on purpose.
import { randomBytes } from 'node:crypto'
import { OAuth2Server } from 'oauth2-mock-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LocalStack } from '../../infra/local/stack.js'
import { REMOTE_KEY_DEFAULTS } from '../../shared/core/remote-keys.js'
import { capturingSink } from '../support/log-capture.js'
import { type Handler, json, type LoopbackServer, startLoopbackServer } from '../support/loopback-server.js'
import { createMovableClock } from '../support/movable-clock.js'
import { startTestStack } from '../support/test-stack.js'
import { AUDIENCE, createTestIssuer, type TestIssuer } from '../support/workload-issuer.js'

type Json = Record<string, unknown>

interface Answer {
  status: number
  headers: Headers
  body: Json
}

const READER_ARN = 'arn:aws:iam::111122223333:role/ml-s3-reader'
const adminToken = randomBytes(24).toString('base64url')
const logLines: string[] = []
const answered: { request: string; status: number; code?: string }[] = []
const sentTokens: string[] = []

const clock = createMovableClock()
let stack: LocalStack

const call = async (method: string, path: string, headers: Record<string, string> = {}, body?: unknown) => {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  const parsed = text === '' ? {} : (JSON.parse(text) as Json)
  const code = (parsed.error as { code?: string } | undefined)?.code
  answered.push({ request: `${method} ${path}`, status: response.status, ...(code ? { code } : {}) })
  return { status: response.status, headers: response.headers, body: parsed } as Answer
}

const asAdmin = (method: string, path: string, body?: unknown) =>
  call(method, path, { authorization: `Bearer ${adminToken}` }, body)

const credentialsFor = (token: string) => {
  sentTokens.push(token)
  return call('GET', '/v1/credentials', { authorization: token })
}

const errorOf = (answer: Answer) => answer.body.error as { code: string; message: string }

const bindReader = async (issuerId: string) => {
  const answer = await asAdmin('PUT', `/v1/admin/issuers/${issuerId}/bindings/reader`, {
    roleArn: READER_ARN,
    subjects: ['system:serviceaccount:ml:trainer'],
  })
  expect(answer.status).toBe(201)
}

/** A provider token shaped like a projected service-account token, issued at the broker's time. */
const providerToken = (provider: OAuth2Server, kid: string) =>
  provider.issuer.buildToken({
    kid,
    scopesOrTransform: (_header, payload) => {
      const iat = clock.seconds()
      Object.assign(payload, {
        aud: [AUDIENCE],
        sub: 'system:serviceaccount:ml:trainer',
        iat,
        nbf: iat,
        exp: iat + 3600,
        'kubernetes.io': { namespace: 'ml', serviceaccount: { name: 'trainer' } },
      })
    },
  })

const startProvider = async (options: { trailingSlash?: boolean; port?: number } = {}) => {
  const provider = new OAuth2Server(undefined, undefined, {
    ...(options.trailingSlash ? { shouldIssuerUrlBeSuffixedWithATralingSlash: true } : {}),
  })
  await provider.start(options.port ?? 0, '127.0.0.1')
  provider.issuer.url = `http://127.0.0.1:${provider.address().port}`
  return provider
}

const kidsOf = (answer: Answer) => answer.body.kids as string[]

beforeAll(async () => {
  stack = await startTestStack(
    'remote-jwks',
    {
      IRSA_BROKER_ADMIN_TOKEN: adminToken,
      IRSA_BROKER_ALLOW_LOOPBACK_JWKS: 'true',
    },
    { logSink: capturingSink('remote-jwks-issuer', (line) => logLines.push(line)), clock },
  )
})

afterAll(async () => {
  await stack?.stop()
})

describe('a GKE-like issuer served by oauth2-mock-server, registered by discovery', () => {
  let provider: OAuth2Server
  let port: number
  let issuerUrl: string
  let kid1: string
  let kid2: string
  let kid3: string

  beforeAll(async () => {
    provider = await startProvider()
    port = provider.address().port
    issuerUrl = provider.issuer.url as string
    kid1 = (await provider.issuer.keys.generate('RS256')).kid
  })

  afterAll(async () => {
    if (provider.listening) await provider.stop()
  })

  it('registers the issuer by discovery: fetched and checked now, 201, stored without inline keys', async () => {
    // Act
    const answer = await asAdmin('PUT', '/v1/admin/issuers/gke', {
      issuer: issuerUrl,
      audiences: [AUDIENCE],
      discovery: true,
      algorithms: ['RS256'],
    })
    await bindReader('gke')
    // Assess
    expect(answer.status).toBe(201)
    expect(answer.body).toMatchObject({ issuerId: 'gke', issuer: issuerUrl, discovery: true, version: 1 })
    expect(answer.body).not.toHaveProperty('jwks')
  })

  it('vends credentials for a token the provider signed', async () => {
    // Act
    const answer = await credentialsFor(await providerToken(provider, kid1))
    // Assess
    expect(answer.status).toBe(200)
    expect(answer.body.AccessKeyId).toMatch(/^ASIA/)
  })

  it('reports the kids it holds and where they came from on POST …/refresh', async () => {
    // Act
    const answer = await asAdmin('POST', '/v1/admin/issuers/gke/refresh')
    // Assess
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({
      issuerId: 'gke',
      source: 'discovery',
      jwksUri: `${issuerUrl}/jwks`,
      kids: [kid1],
      keyCount: 1,
    })
  })

  it('rotation in: a key the provider adds verifies at once (an unknown kid triggers a refetch)', async () => {
    // Prepare
    kid2 = (await provider.issuer.keys.generate('RS256')).kid
    clock.advance(30)
    // Act
    const answer = await credentialsFor(await providerToken(provider, kid2))
    // Assess
    expect(answer.status).toBe(200)
  })

  it("rotation out: a key the provider dropped verifies until the credentials function's next successful fetch (an admin refresh is no revocation), then no more", async () => {
    // Prepare: a token of the first key, then the provider restarted on its port with only the second
    const kid1Token = await providerToken(provider, kid1)
    const second = provider.issuer.keys.toJSON(true).find((key) => key.kid === kid2)
    await provider.stop()
    provider = await startProvider({ port })
    await provider.issuer.keys.add(second as Json)
    // Act
    const beforeFetch = await credentialsFor(await providerToken(provider, kid2))
    const oldKeyBefore = await credentialsFor(kid1Token)
    // The refresh refetches in the admin function only, as in AWS (docs/decisions.md, Rotation).
    const refresh = await asAdmin('POST', '/v1/admin/issuers/gke/refresh')
    const oldKeyAfterRefresh = await credentialsFor(kid1Token)
    // Past the key set's TTL the credentials function refetches before it answers.
    clock.advance(REMOTE_KEY_DEFAULTS.ttlSeconds)
    const oldKeyAfter = await credentialsFor(kid1Token)
    // Assess
    expect(beforeFetch.status).toBe(200)
    expect(oldKeyBefore.status).toBe(200)
    expect(kidsOf(refresh)).toEqual([kid2])
    expect(oldKeyAfterRefresh.status).toBe(200)
    expect({ status: oldKeyAfter.status, code: errorOf(oldKeyAfter)?.code }).toEqual({
      status: 401,
      code: 'InvalidIdentityToken',
    })
  })

  it('stopped: cached keys keep verifying; refresh answers 503 with the reason; past the TTL the last good keys still serve, with a warning', async () => {
    // Prepare
    await provider.stop()
    // oauth2-mock-server forgets its URL when stopped; its keys still sign tokens for the test.
    provider.issuer.url = issuerUrl
    // Act
    const whileDown = await credentialsFor(await providerToken(provider, kid2))
    const refresh = await asAdmin('POST', '/v1/admin/issuers/gke/refresh')
    clock.advance(600)
    const pastTtl = await credentialsFor(await providerToken(provider, kid2))
    await stack.remoteKeysSettled()
    // Assess
    expect(whileDown.status).toBe(200)
    expect(refresh.status).toBe(503)
    expect(refresh.headers.get('retry-after')).toBe('1')
    expect(errorOf(refresh).code).toBe('IDPCommunicationError')
    expect(errorOf(refresh).message).toContain(
      `${issuerUrl}/.well-known/openid-configuration: the request failed`,
    )
    expect(pastTtl.status).toBe(200)
    const warning = logLines.find((line) => line.includes('the last good keys stay in use'))
    expect(JSON.parse(warning ?? '{}')).toMatchObject({
      level: 'WARN',
      issuerId: 'gke',
      code: 'unreachable',
    })
    const metric = logLines.find((line) => line.includes('"RemoteJwksStaleKeysServed":1'))
    expect(JSON.parse(metric ?? '{}')).toMatchObject({
      message: 'metric',
      issuerId: 'gke',
      RemoteJwksStaleKeysServed: 1,
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: 'irsa-broker',
            Dimensions: [['issuerId']],
            Metrics: [{ Name: 'RemoteJwksStaleKeysServed', Unit: 'Count' }],
          },
        ],
      },
    })
  })

  it('restarted with a new key: the new key verifies once the provider is back', async () => {
    // Prepare
    kid3 = (await provider.issuer.keys.generate('RS256')).kid
    await provider.start(port, '127.0.0.1')
    provider.issuer.url = issuerUrl
    clock.advance(30)
    // Act
    const answer = await credentialsFor(await providerToken(provider, kid3))
    const refresh = await asAdmin('POST', '/v1/admin/issuers/gke/refresh')
    // Assess
    expect(answer.status).toBe(200)
    expect(kidsOf(refresh)).toEqual([kid2, kid3])
  })
})

describe('an AKS-like issuer (its URL ends in "/") served by oauth2-mock-server', () => {
  let provider: OAuth2Server
  let issuerUrl: string
  let kid: string

  beforeAll(async () => {
    provider = await startProvider({ trailingSlash: true })
    issuerUrl = provider.issuer.url as string
    kid = (await provider.issuer.keys.generate('ES256')).kid
  })

  afterAll(async () => {
    await provider.stop()
  })

  it('registers by discovery with the issuer exactly as the provider spells it, and verifies its tokens', async () => {
    // Act
    const registered = await asAdmin('PUT', '/v1/admin/issuers/aks', {
      issuer: issuerUrl,
      audiences: [AUDIENCE],
      discovery: true,
    })
    await bindReader('aks')
    const answer = await credentialsFor(await providerToken(provider, kid))
    // Assess
    expect(issuerUrl.endsWith('/')).toBe(true)
    expect(registered.status).toBe(201)
    expect(answer.status).toBe(200)
  })

  it('refuses discovery for the issuer without its trailing "/" (400 naming the mismatch), storing nothing', async () => {
    // Act
    const answer = await asAdmin('PUT', '/v1/admin/issuers/aks-no-slash', {
      issuer: issuerUrl.slice(0, -1),
      audiences: [AUDIENCE],
      discovery: true,
    })
    const stored = await asAdmin('GET', '/v1/admin/issuers/aks-no-slash')
    // Assess
    expect(answer.status).toBe(400)
    expect(errorOf(answer)).toEqual({
      code: 'InvalidParameterValue',
      message: `discovery: the keys could not be fetched: ${issuerUrl}.well-known/openid-configuration: the discovery document names "${issuerUrl}", not the registered issuer "${issuerUrl.slice(0, -1)}"`,
      requestId: expect.any(String),
    })
    expect(stored.status).toBe(404)
  })

  it('registers by jwksUri as well, and reports that source on refresh', async () => {
    // Act
    const registered = await asAdmin('PUT', '/v1/admin/issuers/aks-by-uri', {
      issuer: issuerUrl,
      audiences: [AUDIENCE],
      jwksUri: `${issuerUrl}jwks`,
    })
    const refresh = await asAdmin('POST', '/v1/admin/issuers/aks-by-uri/refresh')
    // Assess
    expect(registered.status).toBe(201)
    expect(refresh.body).toMatchObject({ source: 'jwksUri', jwksUri: `${issuerUrl}jwks`, kids: [kid] })
  })
})

describe('registration that cannot fetch usable keys: 400 with the reason, nothing stored', () => {
  let endpoint: LoopbackServer
  let closedPort: number
  let good: TestIssuer

  beforeAll(async () => {
    endpoint = await startLoopbackServer()
    const closed = await startLoopbackServer()
    closedPort = closed.port
    await closed.stop()
    good = await createTestIssuer({ alg: 'RS256' })
  })

  afterAll(async () => {
    await endpoint.stop()
  })

  const goodKey = () => good.jwks.keys[0] as Json

  const jwksPath = () => `${endpoint.url}/jwks`
  const none = (): Handler | undefined => undefined

  it.each<[string, () => string, () => Handler | undefined, string]>([
    [
      'IMDS',
      () => 'http://169.254.169.254/latest/meta-data/',
      none,
      'a link-local address, which is refused',
    ],
    ['a private address', () => 'http://10.0.0.1/jwks', none, 'a private address, which is refused'],
    ['CGNAT', () => 'http://100.64.0.1/jwks', none, 'a private address, which is refused'],
    ['a closed port', () => `http://127.0.0.1:${closedPort}/jwks`, none, 'the request failed'],
    ['an HTML page', jwksPath, () => json('<html/>', 'text/html'), 'content-type "text/html"'],
    ['a body that is not JSON', jwksPath, () => json('keys?'), 'the answer is not JSON'],
    ['HTTP 500', jwksPath, () => json({}, 'application/json', 500), 'answered HTTP 500'],
    ['an empty key set', jwksPath, () => json({ keys: [] }), 'keys: must hold 1 to 100 keys'],
    [
      'an RSA key with e = 1',
      jwksPath,
      () => json({ keys: [{ ...goodKey(), e: 'AQ' }] }),
      'keys[0].e: RSA public exponent must be 65537',
    ],
    [
      '101 keys',
      jwksPath,
      () => json({ keys: Array.from({ length: 101 }, (_, i) => ({ ...goodKey(), kid: `k${i}` })) }),
      'keys: must hold 1 to 100 keys',
    ],
    [
      'a private key',
      jwksPath,
      () => json({ keys: [{ ...goodKey(), d: 'AQAB' }] }),
      'keys[0].d: private or symmetric key material is not accepted',
    ],
    [
      'an answer over 64 KiB',
      jwksPath,
      () => json({ keys: [], padding: 'x'.repeat(70 * 1024) }),
      'the answer is larger than 65536 bytes',
    ],
    [
      'a redirect to IMDS',
      jwksPath,
      () => (_request, response) => {
        response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' })
        response.end()
      },
      'answered 302; redirects are not followed',
    ],
  ])('refuses a jwksUri that leads to %s', async (_label, url, handler, reason) => {
    // Prepare
    const answering = handler()
    if (answering) endpoint.handle(answering)
    // Act
    const answer = await asAdmin('PUT', '/v1/admin/issuers/refused', {
      issuer: 'https://refused.clusters.example.test',
      audiences: [AUDIENCE],
      jwksUri: url(),
    })
    const stored = await asAdmin('GET', '/v1/admin/issuers/refused')
    // Assess
    expect(answer.status).toBe(400)
    expect(errorOf(answer).code).toBe('InvalidParameterValue')
    expect(errorOf(answer).message).toMatch(/^jwksUri: the keys could not be fetched: /)
    expect(errorOf(answer).message).toContain(reason)
    expect(stored.status).toBe(404)
  })

  it('refuses a discovery document whose jwks_uri points at a private address (as a kind cluster publishes)', async () => {
    // Prepare
    endpoint.handle(json({ issuer: endpoint.url, jwks_uri: 'https://172.20.0.2:6443/openid/v1/jwks' }))
    // Act
    const answer = await asAdmin('PUT', '/v1/admin/issuers/refused', {
      issuer: endpoint.url,
      audiences: [AUDIENCE],
      discovery: true,
    })
    // Assess
    expect(answer.status).toBe(400)
    expect(errorOf(answer).message).toBe(
      'discovery: the keys could not be fetched: https://172.20.0.2:6443/openid/v1/jwks: 172.20.0.2 is a private address, which is refused',
    )
  })

  it('refuses an endpoint that never answers after the 3 s deadline, with 400 and not a hang', async () => {
    // Prepare
    endpoint.handle(() => undefined)
    const started = performance.now()
    // Act
    const answer = await asAdmin('PUT', '/v1/admin/issuers/refused', {
      issuer: 'https://refused.clusters.example.test',
      audiences: [AUDIENCE],
      jwksUri: `${endpoint.url}/jwks`,
    })
    // Assess
    expect(answer.status).toBe(400)
    expect(errorOf(answer).message).toContain('no complete answer within 3000 ms')
    expect(performance.now() - started).toBeLessThan(4500)
  })
})

describe('an endpoint that fails while nothing usable is cached', () => {
  let endpoint: LoopbackServer
  let edge: TestIssuer
  let steady: TestIssuer
  const edgeIss = 'https://edge.clusters.example.test'
  const steadyIss = 'https://steady.clusters.example.test'

  const mintAtBrokerTime = (issuer: TestIssuer) => issuer.mint({ iat: clock.seconds() })

  beforeAll(async () => {
    endpoint = await startLoopbackServer()
    edge = await createTestIssuer({ iss: edgeIss })
    steady = await createTestIssuer({ iss: steadyIss })
    endpoint.handle(json(edge.jwks))
    expect(
      (
        await asAdmin('PUT', '/v1/admin/issuers/edge', {
          issuer: edgeIss,
          audiences: [AUDIENCE],
          jwksUri: `${endpoint.url}/jwks`,
        })
      ).status,
    ).toBe(201)
    await bindReader('edge')
    expect(
      (
        await asAdmin('PUT', '/v1/admin/issuers/steady', {
          issuer: steadyIss,
          audiences: [AUDIENCE],
          jwks: steady.jwks,
        })
      ).status,
    ).toBe(201)
    await bindReader('steady')
  })

  afterAll(async () => {
    await endpoint.stop()
  })

  it('works while the endpoint is healthy', async () => {
    // Act
    const answer = await credentialsFor(await mintAtBrokerTime(edge))
    // Assess
    expect(answer.status).toBe(200)
  })

  it('answers 503 IDPCommunicationError with Retry-After within the fetch deadline once the keys are past 24 h, and at once within the cooldown; other issuers keep working', async () => {
    // Prepare
    endpoint.handle(() => undefined)
    clock.advance(86_401)
    // Act
    const started = performance.now()
    const first = await credentialsFor(await mintAtBrokerTime(edge))
    const firstMs = performance.now() - started
    const again = performance.now()
    const second = await credentialsFor(await mintAtBrokerTime(edge))
    const secondMs = performance.now() - again
    const other = await credentialsFor(await mintAtBrokerTime(steady))
    // Assess
    expect({ status: first.status, code: errorOf(first).code }).toEqual({
      status: 503,
      code: 'IDPCommunicationError',
    })
    expect(first.headers.get('retry-after')).toBe('30')
    expect(firstMs).toBeLessThan(4500)
    expect({ status: second.status, code: errorOf(second).code }).toEqual({
      status: 503,
      code: 'IDPCommunicationError',
    })
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(secondMs).toBeLessThan(500)
    expect(other.status).toBe(200)
  })

  it.each([
    ['huge', json({ keys: [], padding: 'x'.repeat(200 * 1024) })],
    ['an HTML page', json('<html>maintenance</html>', 'text/html')],
    ['not JSON', json('{"keys": [')],
    ['key-less', json({ keys: [] })],
    ['HTTP 502', json({}, 'application/json', 502)],
  ])(
    'answers the coded 503 quickly when the endpoint is %s, while other issuers keep working',
    async (_label, handler) => {
      // Prepare
      endpoint.handle(handler)
      clock.advance(30)
      const started = performance.now()
      // Act
      const failing = await credentialsFor(await mintAtBrokerTime(edge))
      const elapsed = performance.now() - started
      const other = await credentialsFor(await mintAtBrokerTime(steady))
      // Assess
      expect({ status: failing.status, code: errorOf(failing).code }).toEqual({
        status: 503,
        code: 'IDPCommunicationError',
      })
      expect(failing.headers.get('retry-after')).toBe('30')
      expect(elapsed).toBeLessThan(1500)
      expect(other.status).toBe(200)
    },
  )

  it('recovers when the endpoint is healthy again, after the cooldown', async () => {
    // Prepare
    endpoint.handle(json(edge.jwks))
    clock.advance(30)
    // Act
    const answer = await credentialsFor(await mintAtBrokerTime(edge))
    // Assess
    expect(answer.status).toBe(200)
  })
})

describe('across every request of this file', () => {
  it('announced the loopback allowance in its log at startup', () => {
    // Assess
    expect(JSON.parse(logLines[0] ?? '{}')).toMatchObject({
      level: 'WARN',
      message: 'issuers may fetch their keys over http from loopback (IRSA_BROKER_ALLOW_LOOPBACK_JWKS=true)',
    })
  })

  it('never answered a 5xx other than the coded 503', () => {
    // Assess
    const serverErrors = answered.filter((answer) => answer.status >= 500)
    expect(serverErrors.length).toBeGreaterThanOrEqual(7)
    expect(
      serverErrors.filter((answer) => answer.status !== 503 || answer.code !== 'IDPCommunicationError'),
    ).toEqual([])
  })

  it('never logged a token, a signature segment or the admin token', () => {
    // Prepare
    const forbidden = [adminToken, ...sentTokens.flatMap((token) => [token, token.split('.')[2] as string])]
    // Act
    const leaks = forbidden.filter((secret) => logLines.some((line) => line.includes(secret)))
    // Assess
    expect(sentTokens.length).toBeGreaterThan(10)
    expect(logLines.some((line) => line.includes('remote JWKS fetch failed'))).toBe(true)
    expect(leaks).toEqual([])
  })
})
