// The whole broker over real HTTP: the local stack (embedded dynalite, a local signing key,
// the moto_server it starts for STS) behind node:http, driven with fetch like a workload, an
// AWS SDK and an admin would. Every log line it writes is captured and checked for secrets.
import { randomBytes } from 'node:crypto'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LocalStack } from '../../infra/local/stack.js'
import type { RoleAssumer } from '../../shared/core/ports.js'
import { capturingSink } from '../support/log-capture.js'
import { createMovableClock } from '../support/movable-clock.js'
import { startTestStack } from '../support/test-stack.js'
import { AUDIENCE, createTestIssuer, type MintOptions, type TestIssuer } from '../support/workload-issuer.js'
import { ISSUER_DEFAULTS } from '../unit/fixtures.js'

type Json = Record<string, unknown>

interface Answer {
  status: number
  headers: Headers
  text: string
  body: Json
}

interface RequestOptions {
  headers?: Record<string, string>
  /** An object is sent as JSON; a string as it is. */
  body?: unknown
}

const READER_ARN = 'arn:aws:iam::111122223333:role/ml-s3-reader'
const MULTI_READER_ARN = 'arn:aws:iam::111122223333:role/ml-reader'
const MULTI_WRITER_ARN = 'arn:aws:iam::444455556666:role/ml-writer'
const ISO_8601_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3})?Z$/

let stack: LocalStack
/**
 * Each function holds its own registry cache, as in AWS: an admin write reaches the credentials
 * and roles functions once their cache entries are older than the TTL. With no stale window the
 * first request past the TTL reads the registry (rather than racing the reload).
 */
const REGISTRY_TTL_SECONDS = 30
const clock = createMovableClock()
const waitOutRegistryTtl = () => clock.advance(REGISTRY_TTL_SECONDS + 1)
const adminToken = randomBytes(24).toString('base64url')
const logLines: string[] = []
/** Every answer of this file, to prove none was a 5xx. */
const answered: { request: string; status: number }[] = []
/** Everything that must never reach a log line. */
const sentTokens: string[] = []
const brokerTokens: string[] = []
const receivedSecrets: string[] = []

/** Sees the broker tokens the exchange hands to STS, so the test can verify them against the JWKS. */
const recordBrokerTokens = (sts: RoleAssumer): RoleAssumer => ({
  assumeRoleWithWebIdentity: (request) => {
    brokerTokens.push(request.webIdentityToken)
    return sts.assumeRoleWithWebIdentity(request)
  },
})

const call = async (method: string, path: string, options: RequestOptions = {}): Promise<Answer> => {
  const body =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body)
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
    ...(body === undefined ? {} : { body }),
  })
  const text = await response.text()
  answered.push({ request: `${method} ${path.slice(0, 80)}`, status: response.status })
  let parsed: Json = {}
  if (response.headers.get('content-type')?.startsWith('application/json') && text !== '') {
    parsed = JSON.parse(text) as Json
  }
  return { status: response.status, headers: response.headers, text, body: parsed }
}

const asAdmin = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  call(method, path, { headers: { authorization: `Bearer ${adminToken}`, ...headers }, body })

const mint = async (issuer: TestIssuer, options: MintOptions = {}): Promise<string> => {
  const token = await issuer.mint(options)
  sentTokens.push(token)
  return token
}

const withToken = (token: string, bearer = true) => ({ authorization: bearer ? `Bearer ${token}` : token })

/** Records what the broker handed out, so the log check can look for it. */
const received = (answer: Answer): Answer => {
  for (const field of ['SecretAccessKey', 'SessionToken', 'Token']) {
    const value = answer.body[field]
    if (typeof value === 'string') receivedSecrets.push(value)
  }
  return answer
}

const errorOf = (answer: Answer) => answer.body.error as { code: string; message: string; requestId: string }

/** The error shape of docs/api.md, "Errors", with the request id echoed in the header. */
const expectError = (answer: Answer, status: number, code: string) => {
  expect({ status: answer.status, code: errorOf(answer)?.code }).toEqual({ status, code })
  expect(Object.keys(answer.body)).toEqual(['error'])
  expect(typeof errorOf(answer).message).toBe('string')
  expect(errorOf(answer).requestId).toBe(answer.headers.get('x-request-id'))
}

const issuerDocument = (issuer: TestIssuer, iss: string, extra: Json = {}): Json => ({
  issuer: iss,
  audiences: [AUDIENCE],
  jwks: issuer.jwks,
  ...extra,
})

const registerIssuer = async (issuerId: string, issuer: TestIssuer, iss: string, extra: Json = {}) => {
  const answer = await asAdmin('PUT', `/v1/admin/issuers/${issuerId}`, issuerDocument(issuer, iss, extra))
  expect(answer.status).toBe(201)
  return answer.body
}

const registerBinding = async (issuerId: string, bindingId: string, document: Json) => {
  const answer = await asAdmin('PUT', `/v1/admin/issuers/${issuerId}/bindings/${bindingId}`, document)
  expect(answer.status).toBe(201)
  return answer.body
}

const issOf = (name: string) => `https://${name}.clusters.example.test`

/**
 * Issuer `name` (iss issOf(name)) with one binding `only` for namespace ml, a token of it, and
 * that token's GET /v1/credentials answer while both are enabled.
 */
const workloadWhileEnabled = async (name: string) => {
  const plane = await createTestIssuer({ iss: issOf(name) })
  await registerIssuer(name, plane, issOf(name))
  await registerBinding(name, 'only', { roleArn: READER_ARN, subjects: ['system:serviceaccount:ml:*'] })
  const token = await mint(plane)
  const enabled = received(await call('GET', '/v1/credentials', { headers: withToken(token, false) }))
  return { token, enabled }
}

/** PUTs the admin document at `path` back as it is, with `enabled: false`. */
const disable = async (path: string) => {
  const current = await asAdmin('GET', path)
  const disabling = await asAdmin('PUT', path, { ...current.body, enabled: false })
  expect(disabling.status).toBe(200)
}

beforeAll(async () => {
  stack = await startTestStack(
    'http-api',
    {
      IRSA_BROKER_ADMIN_TOKEN: adminToken,
      IRSA_BROKER_CACHE_TTL_SECONDS: String(REGISTRY_TTL_SECONDS),
      IRSA_BROKER_CACHE_STALE_SECONDS: '0',
    },
    {
      logSink: capturingSink('http-api', (line) => logLines.push(line)),
      wrapSts: recordBrokerTokens,
      clock,
    },
  )
})

afterAll(async () => {
  await stack?.stop()
})

describe('admin API: issuers and bindings', () => {
  let dataPlane: TestIssuer

  beforeAll(async () => {
    dataPlane = await createTestIssuer()
  })

  it('creates an issuer with PUT: 201, version 1, ETag "1", defaults filled and server fields set by the server', async () => {
    // Act
    const answer = await asAdmin(
      'PUT',
      '/v1/admin/issuers/admin-a',
      issuerDocument(dataPlane, issOf('admin-a')),
    )

    // Assess
    expect(answer.status).toBe(201)
    expect(answer.headers.get('etag')).toBe('"1"')
    expect(answer.body).toMatchObject({
      issuerId: 'admin-a',
      issuer: issOf('admin-a'),
      audiences: [AUDIENCE],
      jwks: dataPlane.jwks,
      ...ISSUER_DEFAULTS,
      version: 1,
      updatedBy: 'local-admin',
    })
    expect(answer.body.createdAt).toMatch(ISO_8601_UTC)
    expect(answer.body.updatedAt).toBe(answer.body.createdAt)
  })

  it('refuses a second PUT without version for an existing issuer with 409 Conflict (no blind overwrite)', async () => {
    // Prepare
    const before = await asAdmin('GET', '/v1/admin/issuers/admin-a')

    // Act
    const answer = await asAdmin(
      'PUT',
      '/v1/admin/issuers/admin-a',
      issuerDocument(dataPlane, issOf('admin-a'), { description: 'overwrite attempt' }),
    )

    // Assess
    expectError(answer, 409, 'Conflict')
    expect((await asAdmin('GET', '/v1/admin/issuers/admin-a')).body).toEqual(before.body)
  })

  it('updates through GET → edit → PUT with the version read: 200, version 2, the server fields sent back are accepted', async () => {
    // Prepare
    const read = await asAdmin('GET', '/v1/admin/issuers/admin-a')
    expect(read.headers.get('etag')).toBe('"1"')
    const edited = { ...read.body, description: 'on-prem cluster A' }

    // Act
    const answer = await asAdmin('PUT', '/v1/admin/issuers/admin-a', edited)

    // Assess
    expect(answer.status).toBe(200)
    expect(answer.headers.get('etag')).toBe('"2"')
    expect(answer.body).toMatchObject({ description: 'on-prem cluster A', version: 2 })
    expect(answer.body.createdAt).toBe(read.body.createdAt)
    expect((await asAdmin('GET', '/v1/admin/issuers/admin-a')).body).toEqual(answer.body)
  })

  it('takes the precondition from If-Match and sets createdAt/updatedBy itself, ignoring forged values', async () => {
    // Prepare
    const read = await asAdmin('GET', '/v1/admin/issuers/admin-a')
    const { version: _version, ...withoutVersion } = read.body
    const forged = {
      ...withoutVersion,
      createdAt: '1999-01-01T00:00:00.000Z',
      updatedBy: 'arn:aws:iam::999999999999:user/mallory',
      description: 'edited with If-Match',
    }

    // Act
    const answer = await asAdmin('PUT', '/v1/admin/issuers/admin-a', forged, {
      'if-match': `"${read.body.version}"`,
    })

    // Assess
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({
      description: 'edited with If-Match',
      version: (read.body.version as number) + 1,
      createdAt: read.body.createdAt,
      updatedBy: 'local-admin',
    })
  })

  it('refuses an update naming a stale version with 409 Conflict and leaves the issuer unchanged', async () => {
    // Prepare
    const current = await asAdmin('GET', '/v1/admin/issuers/admin-a')
    const stale = { ...current.body, version: 1, description: 'stale edit' }

    // Act
    const answer = await asAdmin('PUT', '/v1/admin/issuers/admin-a', stale)

    // Assess
    expectError(answer, 409, 'Conflict')
    const after = await asAdmin('GET', '/v1/admin/issuers/admin-a')
    expect(after.body).toEqual(current.body)
    expect(after.headers.get('etag')).toBe(current.headers.get('etag'))
  })

  it('refuses an unknown field with 400 InvalidParameterValue naming the field, and stores nothing', async () => {
    // Prepare
    const document = issuerDocument(dataPlane, issOf('admin-unknown-field'), { colour: 'blue' })

    // Act
    const answer = await asAdmin('PUT', '/v1/admin/issuers/admin-unknown-field', document)

    // Assess
    expectError(answer, 400, 'InvalidParameterValue')
    expect(errorOf(answer).message).toContain('colour')
    expectError(await asAdmin('GET', '/v1/admin/issuers/admin-unknown-field'), 404, 'NotFound')
  })

  it('refuses an unknown field in an update with 400 naming it, and the stored issuer keeps its version', async () => {
    // Prepare
    const current = await asAdmin('GET', '/v1/admin/issuers/admin-a')

    // Act
    const answer = await asAdmin('PUT', '/v1/admin/issuers/admin-a', {
      ...current.body,
      jwksCacheSeconds: 60,
    })

    // Assess
    expectError(answer, 400, 'InvalidParameterValue')
    expect(errorOf(answer).message).toContain('jwksCacheSeconds')
    expect((await asAdmin('GET', '/v1/admin/issuers/admin-a')).body).toEqual(current.body)
  })

  it('answers 401 Unauthorized to admin calls without the admin token or with a wrong one, and stores nothing', async () => {
    // Prepare
    const document = issuerDocument(dataPlane, issOf('admin-unauthorized'))
    const wrongToken = randomBytes(24).toString('base64url')

    // Act
    const missing = await call('PUT', '/v1/admin/issuers/admin-unauthorized', { body: document })
    const wrong = await call('PUT', '/v1/admin/issuers/admin-unauthorized', {
      body: document,
      headers: { authorization: `Bearer ${wrongToken}` },
    })
    const notBearer = await call('GET', '/v1/admin/issuers', { headers: { authorization: adminToken } })
    const listWrong = await call('GET', '/v1/admin/issuers', {
      headers: { authorization: `Bearer ${wrongToken}` },
    })

    // Assess
    for (const answer of [missing, wrong, notBearer, listWrong]) {
      expectError(answer, 401, 'Unauthorized')
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer /)
    }
    expectError(await asAdmin('GET', '/v1/admin/issuers/admin-unauthorized'), 404, 'NotFound')
  })

  it('answers 404 NotFound to a binding PUT for an issuer that does not exist, and stores no binding', async () => {
    // Act
    const answer = await asAdmin('PUT', '/v1/admin/issuers/admin-missing/bindings/reader', {
      roleArn: READER_ARN,
      subjects: ['system:serviceaccount:ml:trainer'],
    })

    // Assess
    expectError(answer, 404, 'NotFound')
    expectError(await asAdmin('GET', '/v1/admin/issuers/admin-missing/bindings/reader'), 404, 'NotFound')
  })

  it('refuses to DELETE an issuer that has bindings (409), then deletes both with ?cascade=true (204)', async () => {
    // Prepare
    await registerIssuer('admin-cascade', dataPlane, issOf('admin-cascade'))
    await registerBinding('admin-cascade', 'reader', {
      roleArn: READER_ARN,
      subjects: ['system:serviceaccount:ml:trainer'],
    })

    // Act
    const refused = await asAdmin('DELETE', '/v1/admin/issuers/admin-cascade')
    const stillThere = await asAdmin('GET', '/v1/admin/issuers/admin-cascade/bindings')
    const cascaded = await asAdmin('DELETE', '/v1/admin/issuers/admin-cascade?cascade=true')

    // Assess
    expectError(refused, 409, 'Conflict')
    expect((stillThere.body.bindings as Json[]).map((binding) => binding.bindingId)).toEqual(['reader'])
    expect(cascaded.status).toBe(204)
    expect(cascaded.text).toBe('')
    expectError(await asAdmin('GET', '/v1/admin/issuers/admin-cascade'), 404, 'NotFound')
    expectError(await asAdmin('GET', '/v1/admin/issuers/admin-cascade/bindings/reader'), 404, 'NotFound')
  })
})

describe('workload API: credentials and roles', () => {
  let cluster: TestIssuer
  let multi: TestIssuer

  beforeAll(async () => {
    cluster = await createTestIssuer({ iss: issOf('creds') })
    await registerIssuer('creds', cluster, issOf('creds'))
    await registerBinding('creds', 'ml-reader', {
      roleArn: READER_ARN,
      subjects: ['system:serviceaccount:ml:*'],
    })
    multi = await createTestIssuer({ iss: issOf('multi') })
    await registerIssuer('multi', multi, issOf('multi'))
    await registerBinding('multi', 'reader', {
      roleArn: MULTI_READER_ARN,
      subjects: ['system:serviceaccount:ml:trainer'],
    })
    await registerBinding('multi', 'writer', {
      roleArn: MULTI_WRITER_ARN,
      claims: { '/kubernetes.io/namespace': ['ml'] },
      durationSeconds: 900,
    })
  })

  it('answers GET /v1/credentials with a raw Authorization token in exactly the container-provider shape', async () => {
    // Prepare
    const token = await mint(cluster)
    const before = Date.now()

    // Act
    const answer = received(await call('GET', '/v1/credentials', { headers: withToken(token, false) }))

    // Assess
    expect(answer.status).toBe(200)
    expect(Object.keys(answer.body).sort()).toEqual([
      'AccessKeyId',
      'AccountId',
      'Expiration',
      'SecretAccessKey',
      'Token',
    ])
    expect(answer.body.AccessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/)
    expect(answer.body.SecretAccessKey).toEqual(expect.any(String))
    expect(answer.body.Token).toEqual(expect.any(String))
    expect(answer.body.AccountId).toBe('111122223333')
    const expiration = answer.body.Expiration as string
    expect(expiration).toMatch(ISO_8601_UTC)
    expect(new Date(expiration).toISOString()).toBe(expiration)
    // The binding's default duration, 3600 s.
    expect((Date.parse(expiration) - before) / 1000).toBeGreaterThan(3600 - 60)
    expect((Date.parse(expiration) - before) / 1000).toBeLessThan(3600 + 60)
  })

  it('accepts the token with a `Bearer ` prefix on GET /v1/credentials too, in the same shape', async () => {
    // Prepare
    const token = await mint(cluster)

    // Act
    const answer = received(await call('GET', '/v1/credentials', { headers: withToken(token) }))

    // Assess
    expect(answer.status).toBe(200)
    expect(Object.keys(answer.body).sort()).toEqual([
      'AccessKeyId',
      'AccountId',
      'Expiration',
      'SecretAccessKey',
      'Token',
    ])
    expect(answer.body.AccountId).toBe('111122223333')
  })

  it('answers POST /v1/credentials in exactly the credential_process shape plus RoleArn, AssumedRoleArn and SessionName', async () => {
    // Prepare
    const token = await mint(cluster)

    // Act
    const answer = received(await call('POST', '/v1/credentials', { headers: withToken(token), body: {} }))

    // Assess
    expect(answer.status).toBe(200)
    expect(Object.keys(answer.body).sort()).toEqual(
      [
        'AccessKeyId',
        'AssumedRoleArn',
        'Expiration',
        'RoleArn',
        'SecretAccessKey',
        'SessionName',
        'SessionToken',
        'Version',
      ].sort(),
    )
    expect(answer.body).toMatchObject({
      Version: 1,
      RoleArn: READER_ARN,
      SessionName: 'creds.ml.trainer',
      AssumedRoleArn: 'arn:aws:sts::111122223333:assumed-role/ml-s3-reader/creds.ml.trainer',
    })
    expect(answer.body.Expiration).toMatch(ISO_8601_UTC)
    expect(Date.parse(answer.body.Expiration as string)).toBeGreaterThan(Date.now())
  })

  it('honours a shorter durationSeconds in the POST body', async () => {
    // Prepare
    const token = await mint(cluster)
    const before = Date.now()

    // Act
    const answer = received(
      await call('POST', '/v1/credentials', { headers: withToken(token), body: { durationSeconds: 900 } }),
    )

    // Assess
    expect(answer.status).toBe(200)
    const lifetimeSeconds = (Date.parse(answer.body.Expiration as string) - before) / 1000
    expect(lifetimeSeconds).toBeGreaterThan(900 - 60)
    expect(lifetimeSeconds).toBeLessThan(900 + 60)
  })

  it('refuses a request without role when two bindings with different profiles match: 400 listing both profiles', async () => {
    // Prepare
    const token = await mint(multi)

    // Act
    const get = await call('GET', '/v1/credentials', { headers: withToken(token, false) })
    const post = await call('POST', '/v1/credentials', { headers: withToken(token), body: {} })

    // Assess
    for (const answer of [get, post]) {
      expectError(answer, 400, 'InvalidParameterValue')
      expect(errorOf(answer).message).toContain('reader')
      expect(errorOf(answer).message).toContain('writer')
    }
  })

  it('selects the role by profile (GET ?role= and POST body)', async () => {
    // Prepare
    const token = await mint(multi)

    // Act
    const get = received(
      await call('GET', '/v1/credentials?role=writer', { headers: withToken(token, false) }),
    )
    const post = received(
      await call('POST', '/v1/credentials', { headers: withToken(token), body: { role: 'reader' } }),
    )

    // Assess
    expect(get.status).toBe(200)
    expect(get.body.AccountId).toBe('444455556666')
    expect(post.status).toBe(200)
    expect(post.body.RoleArn).toBe(MULTI_READER_ARN)
    expect(post.body.AssumedRoleArn).toBe(
      `arn:aws:sts::111122223333:assumed-role/ml-reader/${post.body.SessionName as string}`,
    )
  })

  it('selects the role by role ARN (GET ?role= and POST body)', async () => {
    // Prepare
    const token = await mint(multi)

    // Act
    const get = received(
      await call('GET', `/v1/credentials?role=${encodeURIComponent(MULTI_READER_ARN)}`, {
        headers: withToken(token, false),
      }),
    )
    const post = received(
      await call('POST', '/v1/credentials', { headers: withToken(token), body: { role: MULTI_WRITER_ARN } }),
    )

    // Assess
    expect(get.status).toBe(200)
    expect(get.body.AccountId).toBe('111122223333')
    expect(post.status).toBe(200)
    expect(post.body.RoleArn).toBe(MULTI_WRITER_ARN)
    expect(post.body.AssumedRoleArn).toBe(
      `arn:aws:sts::444455556666:assumed-role/ml-writer/${post.body.SessionName as string}`,
    )
  })

  it('answers 403 AccessDenied for a role no binding of the token allows', async () => {
    // Prepare
    const token = await mint(multi)

    // Act
    const answer = await call('GET', '/v1/credentials?role=admin', { headers: withToken(token, false) })

    // Assess
    expectError(answer, 403, 'AccessDenied')
  })

  it('lists the roles a token may use on GET /v1/roles, one per profile', async () => {
    // Prepare
    const token = await mint(multi)

    // Act
    const answer = await call('GET', '/v1/roles', { headers: withToken(token) })

    // Assess
    expect(answer.status).toBe(200)
    expect(answer.body).toEqual({
      roles: [
        { profile: 'reader', roleArn: MULTI_READER_ARN, bindingId: 'reader', durationSeconds: 3600 },
        { profile: 'writer', roleArn: MULTI_WRITER_ARN, bindingId: 'writer', durationSeconds: 900 },
      ],
    })
  })

  it('answers 401 InvalidIdentityToken to a token with the registered iss but signed by an unregistered key', async () => {
    // Prepare
    const impostor = await createTestIssuer({ iss: issOf('creds') })
    const token = await mint(impostor)

    // Act
    const get = await call('GET', '/v1/credentials', { headers: withToken(token, false) })
    const roles = await call('GET', '/v1/roles', { headers: withToken(token) })

    // Assess
    expectError(get, 401, 'InvalidIdentityToken')
    expectError(roles, 401, 'InvalidIdentityToken')
  })

  it('answers 401 InvalidIdentityToken to a missing, a malformed, an unknown-iss and a wrong-audience token', async () => {
    // Prepare
    const stranger = await createTestIssuer({ iss: issOf('never-registered') })
    const unknownIss = await mint(stranger)
    const wrongAudience = await mint(cluster, { aud: ['someone-else'] })
    sentTokens.push('not-a-jwt')

    // Act
    const answers = [
      await call('GET', '/v1/credentials'),
      await call('GET', '/v1/credentials', { headers: withToken('not-a-jwt', false) }),
      await call('GET', '/v1/credentials', { headers: withToken(unknownIss, false) }),
      await call('POST', '/v1/credentials', { headers: withToken(wrongAudience), body: {} }),
    ]

    // Assess
    for (const answer of answers) expectError(answer, 401, 'InvalidIdentityToken')
    expect(new Set(answers.map((answer) => errorOf(answer).message)).size).toBe(1)
  })

  it('answers 401 ExpiredToken to an expired token', async () => {
    // Prepare
    const token = await mint(cluster, { iat: Math.floor(Date.now() / 1000) - 7200, lifetimeSeconds: 3600 })

    // Act
    const answer = await call('GET', '/v1/credentials', { headers: withToken(token, false) })

    // Assess
    expectError(answer, 401, 'ExpiredToken')
  })

  it('answers 403 AccessDenied to a valid token that no binding matches', async () => {
    // Prepare
    const token = await mint(cluster, { namespace: 'payments', serviceAccount: 'api' })

    // Act
    const get = await call('GET', '/v1/credentials', { headers: withToken(token, false) })
    const post = await call('POST', '/v1/credentials', { headers: withToken(token), body: {} })

    // Assess
    expectError(get, 403, 'AccessDenied')
    expectError(post, 403, 'AccessDenied')
  })

  it('treats a disabled binding as no binding: 200 while enabled, 403 AccessDenied once disabled (within the registry TTL)', async () => {
    // Prepare
    const { token, enabled } = await workloadWhileEnabled('toggle-binding')
    await disable('/v1/admin/issuers/toggle-binding/bindings/only')
    waitOutRegistryTtl()

    // Act
    const answer = await call('GET', '/v1/credentials', { headers: withToken(token, false) })

    // Assess
    expect(enabled.status).toBe(200)
    expectError(answer, 403, 'AccessDenied')
  })

  it('treats a disabled issuer as an unknown one: 200 while enabled, 401 InvalidIdentityToken once disabled (within the registry TTL)', async () => {
    // Prepare
    const { token, enabled } = await workloadWhileEnabled('toggle-issuer')
    await disable('/v1/admin/issuers/toggle-issuer')
    waitOutRegistryTtl()

    // Act
    const get = await call('GET', '/v1/credentials', { headers: withToken(token, false) })
    const roles = await call('GET', '/v1/roles', { headers: withToken(token) })

    // Assess
    expect(enabled.status).toBe(200)
    expectError(get, 401, 'InvalidIdentityToken')
    expectError(roles, 401, 'InvalidIdentityToken')
  })
})

describe('request limits and malformed requests', () => {
  let cluster: TestIssuer

  beforeAll(async () => {
    cluster = await createTestIssuer({ iss: issOf('limits') })
    await registerIssuer('limits', cluster, issOf('limits'))
    await registerBinding('limits', 'reader', {
      roleArn: READER_ARN,
      subjects: ['system:serviceaccount:ml:*'],
    })
  })

  it('reads a POST body sent chunked (no Content-Length) as it reads one with a length', async () => {
    // Prepare: a streamed body makes fetch send Transfer-Encoding: chunked
    const token = await mint(cluster)
    const chunks = [Buffer.from('{"role":'), Buffer.from('"nope"}')]
    const body = new ReadableStream({
      pull(controller) {
        const next = chunks.shift()
        if (next) controller.enqueue(next)
        else controller.close()
      },
    })

    // Act
    const response = await fetch(`${stack.url}/v1/credentials`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...withToken(token) },
      body,
      duplex: 'half',
    } as RequestInit)
    const answer = (await response.json()) as { error: { code: string } }

    // Assess: the body was read whole (a missing body would be {} and answer 200)
    expect(response.status).toBe(403)
    expect(answer.error.code).toBe('AccessDenied')
  })

  it('answers 400 InvalidParameterValue naming the body to a POST whose body is not JSON', async () => {
    // Prepare
    const token = await mint(cluster)

    // Act
    const answer = await call('POST', '/v1/credentials', {
      headers: withToken(token),
      body: '{"role": "reader",',
    })

    // Assess
    expectError(answer, 400, 'InvalidParameterValue')
    expect(errorOf(answer).message).toContain('body')
  })

  it('answers 400 InvalidParameterValue naming the field to an unknown credentials field or query parameter', async () => {
    // Prepare
    const token = await mint(cluster)

    // Act
    const body = await call('POST', '/v1/credentials', {
      headers: withToken(token),
      body: { roleName: 'reader' },
    })
    const query = await call('GET', '/v1/credentials?rol=reader', { headers: withToken(token, false) })

    // Assess
    expectError(body, 400, 'InvalidParameterValue')
    expect(errorOf(body).message).toContain('roleName')
    expectError(query, 400, 'InvalidParameterValue')
    expect(errorOf(query).message).toContain('rol')
  })

  it('answers 413 PayloadTooLarge to a body over 64 KiB', async () => {
    // Prepare
    const token = await mint(cluster)
    const body = JSON.stringify({ role: 'r'.repeat(64 * 1024) })

    // Act
    const answer = await call('POST', '/v1/credentials', { headers: withToken(token), body })

    // Assess
    expectError(answer, 413, 'PayloadTooLarge')
  })

  it('answers 413 PayloadTooLarge to a signed token over 16 KiB, raw or with Bearer', async () => {
    // Prepare
    const token = await mint(cluster, { extraClaims: { padding: 'p'.repeat(16 * 1024) } })
    expect(Buffer.byteLength(token)).toBeGreaterThan(16 * 1024)

    // Act
    const raw = await call('GET', '/v1/credentials', { headers: withToken(token, false) })
    const bearer = await call('POST', '/v1/credentials', { headers: withToken(token), body: {} })

    // Assess
    expectError(raw, 413, 'PayloadTooLarge')
    expectError(bearer, 413, 'PayloadTooLarge')
  })

  it('accepts a signed token just under the 16 KiB token limit (the header cap leaves room for it)', async () => {
    // Prepare
    const unpadded = Buffer.byteLength(await cluster.mint({ extraClaims: { padding: '' } }))
    const padding = 'p'.repeat(Math.floor(((16 * 1024 - 64 - unpadded) * 3) / 4))
    const token = await mint(cluster, { extraClaims: { padding } })
    expect(Buffer.byteLength(token)).toBeGreaterThan(16 * 1024 - 128)
    expect(Buffer.byteLength(token)).toBeLessThanOrEqual(16 * 1024)

    // Act
    const answer = received(await call('GET', '/v1/credentials', { headers: withToken(token, false) }))

    // Assess
    expect(answer.status).toBe(200)
    expect(answer.body.AccountId).toBe('111122223333')
  })

  it('answers 431 to request headers over 16 KiB besides the token, just over the cap and far over it, GET and POST', async () => {
    // Prepare
    const token = await mint(cluster)
    const justOver = { 'x-padding': 'h'.repeat(16 * 1024 + 1) }
    const farOver = { 'x-padding': 'h'.repeat(48 * 1024) }

    // Act
    const answers = [
      await call('GET', '/v1/credentials', { headers: { ...withToken(token, false), ...justOver } }),
      await call('POST', '/v1/credentials', { headers: { ...withToken(token), ...justOver }, body: {} }),
      await call('GET', '/v1/credentials', { headers: { ...withToken(token, false), ...farOver } }),
      await call('GET', '/v1/roles', { headers: justOver }),
    ]

    // Assess
    expect(answers.map((answer) => answer.status)).toEqual([431, 431, 431, 431])
  })

  it('answers 404 with a JSON NotFound error to an unknown route', async () => {
    // Act
    const answer = await call('GET', '/v1/credential')

    // Assess
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/)
    expectError(answer, 404, 'NotFound')
  })
})

describe('the broker as an OIDC issuer', () => {
  it('serves a discovery document whose issuer is the stack issuer URL and whose jwks_uri is its JWKS', async () => {
    // Act
    const answer = await call('GET', '/.well-known/openid-configuration')

    // Assess
    expect(answer.status).toBe(200)
    expect(answer.body.issuer).toBe(stack.issuerUrl)
    expect(answer.body.jwks_uri).toBe(`${stack.issuerUrl}/.well-known/jwks.json`)
    expect(answer.body.id_token_signing_alg_values_supported).toEqual(['RS256'])
  })

  it('serves a JWKS that verifies the broker token the exchange handed to STS', async () => {
    // Prepare
    const plane = await createTestIssuer({ iss: issOf('oidc') })
    await registerIssuer('oidc', plane, issOf('oidc'))
    await registerBinding('oidc', 'reader', {
      roleArn: READER_ARN,
      subjects: ['system:serviceaccount:ml:trainer'],
      sessionTags: { namespace: '{/kubernetes.io/namespace}' },
    })
    const issued = received(
      await call('GET', '/v1/credentials', { headers: withToken(await mint(plane), false) }),
    )
    expect(issued.status).toBe(200)
    const brokerToken = brokerTokens.at(-1) ?? ''
    const discovery = await call('GET', '/.well-known/openid-configuration')

    // Act
    const { payload, protectedHeader } = await jwtVerify(
      brokerToken,
      createRemoteJWKSet(new URL(discovery.body.jwks_uri as string)),
      // At the broker's clock, which the registry-TTL tests moved on.
      {
        issuer: stack.issuerUrl,
        audience: 'sts.amazonaws.com',
        algorithms: ['RS256'],
        currentDate: clock.now(),
      },
    )

    // Assess
    expect(protectedHeader.kid).toBe(stack.signingKey.kid)
    expect(payload.sub).toBe('oidc:system:serviceaccount:ml:trainer')
    expect(payload['https://aws.amazon.com/tags']).toEqual({ principal_tags: { namespace: ['ml'] } })
  })
})

describe('admin explain', () => {
  let plane: TestIssuer

  beforeAll(async () => {
    plane = await createTestIssuer({ iss: issOf('explain') })
    await registerIssuer('explain', plane, issOf('explain'))
    await registerBinding('explain', 'by-subject', {
      roleArn: READER_ARN,
      subjects: ['system:serviceaccount:ml:trainer'],
    })
    await registerBinding('explain', 'by-namespace', {
      roleArn: MULTI_WRITER_ARN,
      claims: { '/kubernetes.io/namespace': ['ml'] },
    })
  })

  it('returns a deny trace naming the rule each binding failed, without credentials', async () => {
    // Prepare
    const token = await mint(plane, { namespace: 'payments', serviceAccount: 'trainer' })
    const stsCallsBefore = brokerTokens.length

    // Act
    const answer = await asAdmin('POST', '/v1/admin/explain', { token })

    // Assess
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({
      decision: 'deny',
      code: 'AccessDenied',
      issuerId: 'explain',
      sub: 'system:serviceaccount:payments:trainer',
      candidates: [{ issuerId: 'explain', outcome: 'verified' }],
      bindings: [
        { bindingId: 'by-namespace', matched: false, failedRule: 'claims:/kubernetes.io/namespace' },
        { bindingId: 'by-subject', matched: false, failedRule: 'subjects' },
      ],
    })
    expect(answer.text).not.toMatch(/AccessKeyId|SecretAccessKey|SessionToken/)
    expect(brokerTokens.length).toBe(stsCallsBefore)
  })

  it('returns an allow trace with the selected binding for a role the token may use', async () => {
    // Prepare
    const token = await mint(plane)

    // Act
    const answer = await asAdmin('POST', '/v1/admin/explain', { token, role: 'by-namespace' })

    // Assess
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({
      decision: 'allow',
      selected: { bindingId: 'by-namespace', roleArn: MULTI_WRITER_ARN, mode: 'broker' },
    })
  })

  it('answers 401 Unauthorized to explain without the admin token', async () => {
    // Prepare
    const token = await mint(plane)

    // Act
    const answer = await call('POST', '/v1/admin/explain', { body: { token } })

    // Assess
    expectError(answer, 401, 'Unauthorized')
  })
})

describe('across every request of this file', () => {
  it('never answered with a 5xx', () => {
    // Assess
    expect(answered.length).toBeGreaterThan(50)
    expect(answered.filter((answer) => answer.status >= 500)).toEqual([])
  })

  it('never logged a token sent, a signature segment, a secret key, a session token or the admin token', () => {
    // Prepare
    const forbidden = [
      adminToken,
      ...receivedSecrets,
      ...[...sentTokens, ...brokerTokens].flatMap((token) => {
        const signature = token.split('.')[2]
        return signature ? [token, signature] : [token]
      }),
    ]

    // Act
    const leaks = forbidden.flatMap((secret) =>
      logLines.filter((line) => line.includes(secret)).map((line) => `${secret.slice(0, 12)}… in ${line}`),
    )

    // Assess
    expect(receivedSecrets.length).toBeGreaterThanOrEqual(20)
    expect(brokerTokens.length).toBeGreaterThan(0)
    expect(logLines.some((line) => line.includes('"decision":"allow"'))).toBe(true)
    expect(logLines.some((line) => line.includes('"decision":"deny"'))).toBe(true)
    expect(leaks).toEqual([])
  })
})
