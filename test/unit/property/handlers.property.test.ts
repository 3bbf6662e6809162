// Property tests of the Lambda handlers with hand-built API Gateway events and in-memory fakes:
// random and mutated tokens, headers, query strings, bodies and admin documents. Whatever comes
// in, a handler never throws and never answers 5xx; an error answer has the wire shape and never
// echoes the token; and credentials are issued only for a token whose signature verifies with the
// registered key — checked independently with jose against the data plane's public key.
import { generateKeyPairSync } from 'node:crypto'
import type { Context } from 'aws-lambda'
import fc from 'fast-check'
import { compactVerify, createLocalJWKSet } from 'jose'
import { describe, expect, it } from 'vitest'
import { createAdminHandler } from '../../../functions/admin/app.js'
import { createCredentialsHandler } from '../../../functions/credentials/app.js'
import { createRolesHandler } from '../../../functions/roles/app.js'
import { createJsonLogger } from '../../../shared/adapters/json-logger.js'
import { createLocalSigner } from '../../../shared/adapters/local-signer.js'
import { loadLocalConfig } from '../../../shared/config.js'
import { WIRE_STATUS } from '../../../shared/core/errors.js'
import type { AssumeRoleRequest, RoleAssumer } from '../../../shared/core/ports.js'
import { tokenAdminAuthenticator } from '../../../shared/http/admin-auth.js'
import type { HttpEvent } from '../../../shared/http/event.js'
import type { HttpResponse } from '../../../shared/http/response.js'
import { createCore } from '../../../shared/wiring.js'
import { capturingSink } from '../../support/log-capture.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { createTestIssuer, K8S_ISSUER } from '../../support/workload-issuer.js'
import { createTestClock, makeBinding, makeIssuer, NOW, NOW_SECONDS } from '../fixtures.js'
import { httpEvent } from '../http/http-event.js'

const ADMIN_TOKEN = 'property-admin-token-0123456789'
const RUNS = 150

const dataPlane = await createTestIssuer({ kid: 'property-rsa' })
const ecPlane = await createTestIssuer({ alg: 'ES256', kid: 'property-ec' })
/** Both registered for the same `iss`, so the multi-issuer path runs too. */
const verifierKeys = createLocalJWKSet({ keys: [...dataPlane.jwks.keys, ...ecPlane.jwks.keys] })

const stsRequests: AssumeRoleRequest[] = []
const sts: RoleAssumer = {
  async assumeRoleWithWebIdentity(request) {
    stsRequests.push(request)
    return {
      accessKeyId: 'ASIAPROPERTYTEST0001',
      secretAccessKey: 'property-secret-access-key',
      sessionToken: 'property-session-token',
      expiration: new Date(NOW.getTime() + request.durationSeconds * 1000),
      assumedRoleArn: `arn:aws:sts::111122223333:assumed-role/r/${request.sessionName}`,
      accountId: '111122223333',
    }
  },
}

const registry = createMemoryRegistry()
registry.seed({
  issuers: [
    makeIssuer({ issuerId: 'plane-rsa', jwks: dataPlane.jwks }),
    makeIssuer({ issuerId: 'plane-ec', jwks: ecPlane.jwks }),
  ],
  bindings: [
    makeBinding({ issuerId: 'plane-rsa', bindingId: 'readers', profile: 'ml-reader' }),
    makeBinding({
      issuerId: 'plane-rsa',
      bindingId: 'by-namespace',
      profile: 'by-namespace',
      subjects: undefined,
      claims: { '/kubernetes.io/namespace': ['ml', 'payments'] },
      condition: "claims['kubernetes.io'].serviceaccount.name.startsWith('t')",
      sessionName: '{/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}',
      sessionTags: { namespace: '{/kubernetes.io/namespace}', pod: '{/kubernetes.io/pod/name}' },
      transitiveTagKeys: ['namespace'],
    }),
    makeBinding({ issuerId: 'plane-ec', bindingId: 'ec-readers', profile: 'ml-reader' }),
  ],
})

const logLines: string[] = []
const logger = createJsonLogger(capturingSink('property-handlers', (line) => logLines.push(line)))
const core = createCore(
  {
    registry,
    sts,
    signer: createLocalSigner(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey),
    clock: createTestClock(),
    logger,
    audit: logger.audit,
    fetchJson: async () => {
      throw new Error('no remote key sets in this test')
    },
  },
  {
    region: 'us-east-1',
    tableName: 'unused',
    issuerUrl: 'https://broker.example.com',
    cacheTtlSeconds: 30,
    negativeCacheSize: 100,
    brokerTokenTtlSeconds: 300,
    // Off: these properties count exactly one STS call per issued answer. The sharing of
    // calls has its own tests (credential-cache.test.ts, exchange-credential-cache.test.ts).
    credentialCache: { maxEntries: 0, maxBytes: 1 << 20, refreshMarginSeconds: 1200 },
    verifiedTokenCache: loadLocalConfig({}).verifiedTokenCache,
    cacheStaleSeconds: 300,
    timeouts: loadLocalConfig({}).timeouts,
    endpoints: {},
  },
)
const credentials = createCredentialsHandler(core)
const roles = createRolesHandler(core)
const admin = createAdminHandler({ ...core, authenticate: tokenAdminAuthenticator(ADMIN_TOKEN) })
const context = {} as Context

const genuine = await Promise.all([
  dataPlane.mint({ iat: NOW_SECONDS }),
  dataPlane.mint({ iat: NOW_SECONDS, namespace: 'payments', serviceAccount: 'trainer' }),
  dataPlane.mint({ iat: NOW_SECONDS - 600, lifetimeSeconds: 7200 }),
  ecPlane.mint({ iat: NOW_SECONDS }),
  dataPlane.mint({ iat: NOW_SECONDS, namespace: 'other' }),
])

const signatureVerifies = async (token: string): Promise<boolean> =>
  compactVerify(token, verifierKeys).then(
    () => true,
    () => false,
  )

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const base64urlChar = fc.constantFrom(...BASE64URL.split(''))
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const decode = (segment: string): Record<string, unknown> => {
  try {
    const value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null ? value : {}
  } catch {
    return {}
  }
}

/** A genuine token changed the ways attackers change tokens. */
const mutatedToken: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...genuine), fc.nat(), base64urlChar, fc.nat({ max: 12 }))
  .chain(([token, position, char, kind]) => {
    const [header = '', payload = '', signature = ''] = token.split('.')
    const at = position % token.length
    switch (kind) {
      case 0:
        return fc.constant(`${token.slice(0, at)}${char}${token.slice(at + 1)}`)
      case 1:
        return fc.constant(`${token.slice(0, at)}${token.slice(at + 1)}`)
      case 2:
        return fc.constant(`${token.slice(0, at)}${char}${token.slice(at)}`)
      case 3:
        return fc
          .constantFrom('none', 'None', 'HS256', 'RS512', 'PS256', 'ES256', '', 'EdDSA')
          .map((alg) => `${encode({ ...decode(header), alg })}.${payload}.${signature}`)
      case 4:
        return fc
          .record({
            jku: fc.constantFrom('http://169.254.169.254/', 'https://attacker.test/jwks'),
            crit: fc.constantFrom(['exp'], ['b64'], []),
            kid: fc.string({ maxLength: 20 }),
          })
          .map((extra) => `${encode({ ...decode(header), ...extra })}.${payload}.${signature}`)
      case 5:
        return fc
          .record({
            sub: fc.constantFrom(
              'system:serviceaccount:ml:trainer',
              'system:serviceaccount:kube-system:admin',
            ),
            exp: fc.integer({ min: NOW_SECONDS - 7200, max: NOW_SECONDS + 400 * 86400 }),
            aud: fc.constantFrom('irsa-broker', ['irsa-broker', 'x'], []),
          })
          .map((claims) => `${header}.${encode({ ...decode(payload), ...claims })}.${signature}`)
      case 6:
        return fc.constant(`${header}.${payload}`)
      case 7:
        return fc.constant(`${header}.${payload}.${signature.slice(0, Math.max(0, signature.length - 4))}`)
      case 8:
        return fc.constant(`${payload}.${header}.${signature}`)
      case 9:
        return fc.constantFrom(`${token}\n`, ` ${token}`, `${token}=`, `${token}.`, `${token}.${signature}`)
      case 10:
        return fc.constant(`${header}.${payload}.${genuine[(at % 4) + 1]?.split('.')[2] ?? ''}`)
      default:
        return fc
          .array(base64urlChar, { minLength: 1, maxLength: 400 })
          .map((chars) => `${header}.${payload}.${chars.join('')}`)
    }
  })

const randomToken: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc
    .tuple(fc.json(), fc.json(), fc.array(base64urlChar, { maxLength: 100 }))
    .map(
      ([h, p, s]) =>
        `${Buffer.from(h).toString('base64url')}.${Buffer.from(p).toString('base64url')}.${s.join('')}`,
    ),
)

const anyToken = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...genuine) },
  { weight: 4, arbitrary: mutatedToken },
  { weight: 2, arbitrary: randomToken },
)

/** Authorization as a workload, a proxy or an attacker might send it. */
const authorization = (token: string) =>
  fc.constantFrom(token, `Bearer ${token}`, `bearer   ${token}  `, `Basic ${token}`, `Bearer`, '')

const headerName = fc.constantFrom(
  'authorization',
  'Authorization',
  'AUTHORIZATION',
  'x-forwarded-for',
  'host',
)
const extraHeaders = fc.dictionary(headerName, fc.string({ maxLength: 60 }), { maxKeys: 3 })
const query = fc.oneof(
  fc.constant(undefined),
  fc.record({
    role: fc.constantFrom(
      'ml-reader',
      'by-namespace',
      'arn:aws:iam::111122223333:role/ml-s3-reader',
      '',
      'x',
    ),
  }),
  fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 40 }), { maxKeys: 3 }),
)
const body = fc.oneof(
  fc.constant(undefined),
  fc.json().map((text) => text),
  fc
    .record({ role: fc.string({ maxLength: 20 }), durationSeconds: fc.integer({ min: -1, max: 50_000 }) })
    .map((b) => JSON.stringify(b)),
  fc.string({ maxLength: 100 }),
)

interface Checked {
  response: HttpResponse
  stsCalls: number
}

/** How often each status came back from the workload handlers across all runs. */
const statuses = new Map<number, number>()
/** The same for the admin handler. */
const adminStatuses = new Map<number, number>()

const call = async (
  handler: (event: HttpEvent, context: Context) => Promise<HttpResponse>,
  event: HttpEvent,
) => {
  const before = stsRequests.length
  const response = await handler(event, context)
  const tally = handler === admin ? adminStatuses : statuses
  tally.set(response.statusCode, (tally.get(response.statusCode) ?? 0) + 1)
  return { response, stsCalls: stsRequests.length - before } satisfies Checked
}

/** The invariants every answer must keep. */
const expectSafeAnswer = ({ response }: Checked, token: string) => {
  expect(response.statusCode).toBeGreaterThanOrEqual(200)
  expect(response.statusCode).toBeLessThan(500)
  const text = typeof response.body === 'string' ? response.body : ''
  if (token.trim().length >= 16) expect(text.includes(token.trim())).toBe(false)
  if (response.statusCode >= 400) {
    const parsed = JSON.parse(text) as { error: { code: keyof typeof WIRE_STATUS; requestId: string } }
    expect(Object.keys(parsed)).toEqual(['error'])
    expect(WIRE_STATUS[parsed.error.code]).toBe(response.statusCode)
    expect(parsed.error.requestId).toBe(response.headers['x-request-id'])
  }
}

/** Credentials only for a token whose signature verifies, and STS only then. */
const expectIssuedOnlyForVerified = async ({ response, stsCalls }: Checked, token: string) => {
  expect(stsCalls).toBe(response.statusCode === 200 ? 1 : 0)
  if (response.statusCode === 200) expect(await signatureVerifies(token.trim())).toBe(true)
}

describe('credentials and roles handlers under random and mutated input', () => {
  it('GET /v1/credentials: never throws, never 5xx, credentials only for a verified signature', async () => {
    await fc.assert(
      fc.asyncProperty(
        anyToken.chain((token) => fc.tuple(fc.constant(token), authorization(token), extraHeaders, query)),
        async ([token, auth, headers, queryParameters]) => {
          // Prepare
          const event = httpEvent({
            headers: { ...headers, authorization: auth },
            ...(queryParameters ? { query: queryParameters } : {}),
          })
          // Act
          const result = await call(credentials, event)
          // Assess
          expectSafeAnswer(result, token)
          await expectIssuedOnlyForVerified(result, token)
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('POST /v1/credentials: never throws, never 5xx, credentials only for a verified signature', async () => {
    await fc.assert(
      fc.asyncProperty(
        anyToken.chain((token) => fc.tuple(fc.constant(token), authorization(token), body, fc.boolean())),
        async ([token, auth, requestBody, base64]) => {
          // Prepare
          const event = httpEvent({
            method: 'POST',
            headers: { authorization: auth },
            ...(requestBody === undefined
              ? {}
              : {
                  body: base64 ? Buffer.from(requestBody).toString('base64') : requestBody,
                  isBase64Encoded: base64,
                }),
          })
          // Act
          const result = await call(credentials, event)
          // Assess
          expectSafeAnswer(result, token)
          await expectIssuedOnlyForVerified(result, token)
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('GET /v1/roles: never throws, never 5xx, lists roles only for a verified signature, never calls STS', async () => {
    await fc.assert(
      fc.asyncProperty(
        anyToken.chain((token) => fc.tuple(fc.constant(token), authorization(token), query)),
        async ([token, auth, queryParameters]) => {
          // Prepare
          const event = httpEvent({
            path: '/v1/roles',
            headers: { authorization: auth },
            ...(queryParameters ? { query: queryParameters } : {}),
          })
          // Act
          const result = await call(roles, event)
          // Assess
          expectSafeAnswer(result, token)
          expect(result.stsCalls).toBe(0)
          if (result.response.statusCode === 200) expect(await signatureVerifies(token.trim())).toBe(true)
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('issues credentials for the genuine tokens, so the properties above are not vacuous', async () => {
    // Act: ml/trainer matches two profiles (400 without role), payments/trainer one, the EC plane one
    const results = await Promise.all(
      genuine.slice(0, 4).map((token) => call(credentials, httpEvent({ headers: { authorization: token } }))),
    )
    const chosen = await call(
      credentials,
      httpEvent({ headers: { authorization: genuine[0] ?? '' }, query: { role: 'by-namespace' } }),
    )
    // Assess
    expect(results.map((r) => r.response.statusCode)).toEqual([400, 200, 400, 200])
    expect(chosen.response.statusCode).toBe(200)
  })

  it('saw 200s and each kind of refusal while running the properties', () => {
    // Assess: the generators reach every outcome, not only early refusals
    expect(statuses.get(200)).toBeGreaterThanOrEqual(5)
    for (const status of [400, 401, 403]) expect(statuses.get(status), `status ${status}`).toBeGreaterThan(0)
  })
})

const ISSUER_FIELDS = [
  'issuer',
  'audiences',
  'jwks',
  'jwksUri',
  'discovery',
  'algorithms',
  'maxTokenLifetimeSeconds',
  'clockSkewSeconds',
  'mode',
  'enabled',
  'version',
  'updatedBy',
] as const
const BINDING_FIELDS = [
  'roleArn',
  'profile',
  'subjects',
  'claims',
  'condition',
  'allowAnyWorkload',
  'sessionName',
  'sessionTags',
  'transitiveTagKeys',
  'durationSeconds',
  'enabled',
  'version',
] as const

const plausibleValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    K8S_ISSUER,
    ['irsa-broker'],
    dataPlane.jwks,
    { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] },
    ['RS256'],
    'arn:aws:iam::111122223333:role/x',
    ['system:serviceaccount:ml:*'],
    ['*'],
    { '/kubernetes.io/namespace': ['ml'] },
    "claims.sub.startsWith('system:')",
    'claims.groups.exists(a, claims.groups.exists(b, a == b))',
    "claims.sub.matches('(a+)+$')",
    '{/sub}',
    '{/kubernetes.io/namespace',
    { ns: '{/kubernetes.io/namespace}' },
    'https://169.254.169.254/jwks',
    3600,
    1,
    true,
  ),
)

/** Random documents, and valid ones with one or two fields overridden or removed. */
const adminDocument = (fields: readonly string[], valid: Record<string, unknown>) =>
  fc.oneof(
    fc.dictionary(fc.constantFrom(...fields), plausibleValue, { maxKeys: fields.length }),
    fc.jsonValue({ maxDepth: 4 }),
    fc
      .tuple(
        fc.dictionary(fc.constantFrom(...fields), plausibleValue, { maxKeys: 2 }),
        fc.option(fc.constantFrom(...fields), { nil: undefined }),
      )
      .map(([overrides, removed]) => {
        const document: Record<string, unknown> = { ...valid, ...overrides }
        if (removed !== undefined) delete document[removed]
        return document
      }),
  )

const VALID_ISSUER = { issuer: K8S_ISSUER, audiences: ['irsa-broker'], jwks: dataPlane.jwks }
const VALID_BINDING = {
  roleArn: 'arn:aws:iam::111122223333:role/x',
  subjects: ['system:serviceaccount:ml:*'],
}

describe('admin handler under random documents', () => {
  const adminEvent = (method: string, path: string, pathParameters: Record<string, string>, text?: string) =>
    httpEvent({
      method,
      path,
      pathParameters,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      ...(text === undefined ? {} : { body: text }),
    })

  it('PUT issuer: never throws, never 5xx, 2xx only for a document the schema and key checks accept', async () => {
    await fc.assert(
      fc.asyncProperty(
        adminDocument(ISSUER_FIELDS, VALID_ISSUER),
        fc.constantFrom('prop-a', 'prop-b', 'plane-rsa'),
        async (document, issuerId) => {
          // Prepare
          const event = adminEvent(
            'PUT',
            '/v1/admin/issuers/{issuerId}',
            { issuerId },
            JSON.stringify(document),
          )
          const before = (await registry.getIssuer(issuerId))?.version
          // Act
          const result = await call(admin, event)
          // Assess
          expectSafeAnswer(result, '')
          const after = (await registry.getIssuer(issuerId))?.version
          if (result.response.statusCode >= 400) expect(after).toBe(before)
          else expect(after).toBe((before ?? 0) + 1)
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('PUT binding: never throws, never 5xx, stores only what it answers 2xx for', async () => {
    await fc.assert(
      fc.asyncProperty(
        adminDocument(BINDING_FIELDS, VALID_BINDING),
        fc.constantFrom('plane-rsa', 'missing-issuer'),
        async (document, issuerId) => {
          // Prepare
          const bindingId = 'prop-binding'
          const event = adminEvent(
            'PUT',
            '/v1/admin/issuers/{issuerId}/bindings/{bindingId}',
            { issuerId, bindingId },
            JSON.stringify(document),
          )
          const before = (await registry.getBinding(issuerId, bindingId))?.version
          // Act
          const result = await call(admin, event)
          // Assess
          expectSafeAnswer(result, '')
          const after = (await registry.getBinding(issuerId, bindingId))?.version
          if (result.response.statusCode >= 400) expect(after).toBe(before)
          else expect(after).toBe((before ?? 0) + 1)
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('POST explain: never throws, never 5xx, never calls STS, whatever the body', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          anyToken.map((token) => JSON.stringify({ token })),
          anyToken.map((token) => JSON.stringify({ token, role: 'ml-reader' })),
          fc.json(),
          fc.string({ maxLength: 100 }),
        ),
        async (text) => {
          // Act
          const result = await call(admin, adminEvent('POST', '/v1/admin/explain', {}, text))
          // Assess
          expectSafeAnswer(result, '')
          expect(result.stsCalls).toBe(0)
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('saw created, updated, refused and conflicting writes while running the properties', () => {
    // Assess
    for (const status of [200, 201, 400, 404, 409])
      expect(adminStatuses.get(status), `status ${status}`).toBeGreaterThan(0)
  })

  it('refuses every admin call without the admin token, whatever the route and body', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          'GET /v1/admin/issuers',
          'PUT /v1/admin/issuers/{issuerId}',
          'DELETE /v1/admin/issuers/{issuerId}',
          'POST /v1/admin/explain',
        ),
        fc.string({ maxLength: 60 }),
        adminDocument(ISSUER_FIELDS, VALID_ISSUER),
        async (routeKey, presented, document) => {
          // Prepare
          const [method = 'GET', path = '/'] = routeKey.split(' ')
          const event = httpEvent({
            method,
            path,
            pathParameters: { issuerId: 'plane-rsa' },
            headers: { authorization: `Bearer ${presented}` },
            body: JSON.stringify(document),
          })
          // Act
          const result = await call(admin, event)
          // Assess
          expect(result.response.statusCode).toBe(
            presented === ADMIN_TOKEN ? result.response.statusCode : 401,
          )
          expect((await registry.getIssuer('plane-rsa'))?.issuerId).toBe('plane-rsa')
        },
      ),
      { numRuns: RUNS },
    )
  })
})
