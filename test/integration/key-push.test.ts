// Key push (docs/api.md, "Key push"; issue 13) through the local broker over real HTTP: a private cluster
// rotates its service-account signing key with no admin call, `irsa-broker sync-keys` reading
// the keys from a loopback stand-in of the Kubernetes API (HTTPS with its own CA, bearer token:
// test/support/kube-api.ts; no API server runs here) and pushing them; and every refusal of
// PUT /v1/issuers/{issuerId}/jwks, each with its code and the registry left as it was.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportJWK, generateKeyPair } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '../../cli/main.js'
import { type LocalStack, startLocalStack } from '../../infra/local/stack.js'
import { loadLocalConfig } from '../../shared/config.js'
import type { JsonFetcher } from '../../shared/core/ports.js'
import { type KubeApiStandIn, kubeconfigFor, startKubeApiStandIn } from '../support/kube-api.js'
import { capturingSink } from '../support/log-capture.js'
import { createMovableClock } from '../support/movable-clock.js'
import { createTestCa, type TestCa } from '../support/test-ca.js'
import { AUDIENCE, createTestIssuer, type MintOptions, type TestIssuer } from '../support/workload-issuer.js'

type Json = Record<string, unknown>

interface Answer {
  status: number
  headers: Headers
  body: Json
}

const KEY_SYNC_AUDIENCE = 'irsa-broker-key-sync'
const KEY_SYNC_SUBJECT = 'system:serviceaccount:irsa-broker:key-sync'
const READER_ARN = 'arn:aws:iam::111122223333:role/ml-s3-reader'
const REMOTE_JWKS_URL = 'https://remote.clusters.example.test/openid/v1/jwks'
const KUBE_TOKEN = randomBytes(24).toString('base64url')
/** The registry TTL of the local stack (IRSA_BROKER_CACHE_TTL_SECONDS' default). */
const REGISTRY_TTL_SECONDS = 30
/** One accepted change per issuer per minute (shared/core/key-push.ts). */
const PUSH_INTERVAL_SECONDS = 60

const adminToken = randomBytes(24).toString('base64url')
const logLines: string[] = []
const sentTokens: string[] = []
const answered: { request: string; status: number }[] = []

/** The broker's clock: tokens expire, caches lapse and the push interval passes on purpose. */
const clock = createMovableClock()

let stack: LocalStack
let dir: string
let ca: TestCa
let api: KubeApiStandIn
let remote: TestIssuer

const issOf = (name: string) => `https://${name}.clusters.example.test`

const call = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  const text = await response.text()
  answered.push({ request: `${method} ${path}`, status: response.status })
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? {} : (JSON.parse(text) as Json),
  } satisfies Answer
}

const asAdmin = (method: string, path: string, body?: unknown) =>
  call(method, path, { authorization: `Bearer ${adminToken}` }, body)

const mint = async (issuer: TestIssuer, options: MintOptions = {}) => {
  const token = await issuer.mint({ iat: clock.seconds(), ...options })
  sentTokens.push(token)
  return token
}

/** A token of the cluster's key-sync ServiceAccount, as the CronJob's projected volume holds it. */
const keySyncToken = (issuer: TestIssuer, iss: string, options: MintOptions = {}) =>
  mint(issuer, {
    iss,
    aud: [KEY_SYNC_AUDIENCE],
    namespace: 'irsa-broker',
    serviceAccount: 'key-sync',
    lifetimeSeconds: 3600,
    ...options,
  })

const push = (issuerId: string, token: string | undefined, body: unknown) =>
  call(
    'PUT',
    `/v1/issuers/${issuerId}/jwks`,
    token === undefined ? {} : { authorization: `Bearer ${token}` },
    body,
  )

const credentialsFor = (token: string) => call('GET', '/v1/credentials', { authorization: token })

const errorOf = (answer: Answer) => answer.body.error as { code: string; message: string } | undefined

const expectRefused = (answer: Answer, status: number, code: string) =>
  expect({ status: answer.status, code: errorOf(answer)?.code }).toEqual({ status, code })

const register = async (issuerId: string, keys: TestIssuer[], extra: Json = {}) => {
  const answer = await asAdmin('PUT', `/v1/admin/issuers/${issuerId}`, {
    issuer: issOf(issuerId),
    audiences: [AUDIENCE],
    jwks: { keys: keys.flatMap((key) => key.jwks.keys) },
    keySync: { subject: KEY_SYNC_SUBJECT },
    ...extra,
  })
  expect(answer.status).toBe(201)
  return answer.body
}

const issuerNow = async (issuerId: string) => (await asAdmin('GET', `/v1/admin/issuers/${issuerId}`)).body

const syncKeys = async (issuerId: string, tokenFile: string) => {
  const kubeconfig = join(dir, 'kubeconfig.json')
  writeFileSync(kubeconfig, kubeconfigFor(api, ca.cert, KUBE_TOKEN))
  let stdout = ''
  let stderr = ''
  const code = await run(
    ['sync-keys', '--endpoint', stack.url, '--issuer-id', issuerId, '--token-file', tokenFile],
    {
      env: { KUBECONFIG: kubeconfig },
      stdout: (text) => {
        stdout += text
      },
      stderr: (text) => {
        stderr += text
      },
    },
  )
  const lines = stdout.split('\n').filter((line) => line !== '')
  return { code, stderr, lines: lines.map((line) => JSON.parse(line) as Json) }
}

const writeTokenFile = (name: string, token: string) => {
  const file = join(dir, name)
  writeFileSync(file, `${token}\n`)
  return file
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'irsa-broker-key-push-'))
  ca = createTestCa()
  const serving = ca.issue(['kubernetes.default.svc'])
  api = await startKubeApiStandIn({ cert: serving.cert, key: serving.key, token: KUBE_TOKEN })
  remote = await createTestIssuer({ iss: issOf('remote') })
  // The remote issuers of this file: their keys come from the jwksUri (given, or found by
  // discovery from the issuer URL), never from a push.
  const fetchJson: JsonFetcher = async (url) => {
    if (url === REMOTE_JWKS_URL) return remote.jwks
    if (url === `${issOf('discovered')}/.well-known/openid-configuration`)
      return { issuer: issOf('discovered'), jwks_uri: REMOTE_JWKS_URL }
    throw new Error(`no remote JWKS at ${url} in this test`)
  }
  stack = await startLocalStack(
    loadLocalConfig({
      PORT: '0',
      IRSA_BROKER_DATA_DIR: join(dir, 'data'),
      IRSA_BROKER_ADMIN_TOKEN: adminToken,
      // What this file checks is the rotation, not the latency (BENCHMARKS.md measures that): on
      // a shared machine moto's first STS answer can take longer than the production deadlines.
      IRSA_BROKER_REQUEST_DEADLINE_MS: '10000',
      IRSA_BROKER_STS_TIMEOUT_MS: '5000',
      IRSA_BROKER_DYNAMODB_TIMEOUT_MS: '3000',
    }),
    { logSink: capturingSink('key-push', (line) => logLines.push(line)), clock, fetchJson },
  )
})

afterAll(async () => {
  await stack?.stop()
  await api?.stop()
  ca?.remove()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('a private cluster rotates its signing key with sync-keys and no admin call', () => {
  it('old key, both keys, new key only: workload credentials at every step, the old key refused once dropped', async () => {
    // Prepare: the cluster signs with A; the admin registers A once, with keySync, through the CLI.
    const iss = issOf('rotating')
    const keyA = await createTestIssuer({ iss, kid: 'cluster-key-a' })
    const keyB = await createTestIssuer({ iss, kid: 'cluster-key-b' })
    const jwksFile = join(dir, 'jwks-a.json')
    writeFileSync(jwksFile, JSON.stringify(keyA.jwks))
    const adminRun = await run(
      [
        'issuers',
        'put',
        'rotating',
        '--issuer',
        iss,
        '--audience',
        AUDIENCE,
        '--jwks-file',
        jwksFile,
        '--key-sync-subject',
        KEY_SYNC_SUBJECT,
        '--endpoint',
        stack.url,
      ],
      { env: { IRSA_BROKER_ADMIN_TOKEN: adminToken }, stdout: () => {}, stderr: () => {} },
    )
    expect(adminRun).toBe(0)
    expect((await issuerNow('rotating')).keySync).toEqual({ subject: KEY_SYNC_SUBJECT })
    const binding = await asAdmin('PUT', '/v1/admin/issuers/rotating/bindings/reader', {
      roleArn: READER_ARN,
      subjects: ['system:serviceaccount:ml:trainer'],
    })
    expect(binding.status).toBe(201)
    api.setJwks({ keys: [...keyA.jwks.keys] })
    const syncSignedByA = writeTokenFile('key-sync-a', await keySyncToken(keyA, iss))

    // Act 1: old key only. The cluster's set is the registered one.
    const first = await syncKeys('rotating', syncSignedByA)
    const withA = await credentialsFor(await mint(keyA))

    // Assess 1
    expect(first.code, first.stderr).toBe(0)
    expect(first.lines).toMatchObject([{ outcome: 'unchanged', issuerId: 'rotating', version: 1 }])
    expect(withA.status).toBe(200)

    // Act 2: the cluster adds B (still signing with A); B's tokens are refused until the push.
    api.setJwks({ keys: [...keyA.jwks.keys, ...keyB.jwks.keys] })
    const beforePush = await credentialsFor(await mint(keyB))
    const second = await syncKeys('rotating', syncSignedByA)
    clock.advance(REGISTRY_TTL_SECONDS + 1)
    const oldTokenOfA = await mint(keyA, { lifetimeSeconds: 600 })
    const bothA = await credentialsFor(oldTokenOfA)
    const bothB = await credentialsFor(await mint(keyB))

    // Assess 2
    expectRefused(beforePush, 401, 'InvalidIdentityToken')
    expect(second.code, second.stderr).toBe(0)
    expect(second.lines).toMatchObject([
      { outcome: 'changed', version: 2, kidsAdded: ['cluster-key-b'], kidsRemoved: [] },
    ])
    expect(bothA.status).toBe(200)
    expect(bothB.status).toBe(200)

    // Act 3: the cluster signs with B (key-sync token too); A stays published while its tokens live.
    const syncSignedByB = writeTokenFile('key-sync-b', await keySyncToken(keyB, iss))
    const third = await syncKeys('rotating', syncSignedByB)
    const oldAStillValid = await credentialsFor(oldTokenOfA)

    // Assess 3
    expect(third.code, third.stderr).toBe(0)
    expect(third.lines).toMatchObject([{ outcome: 'unchanged', version: 2 }])
    expect(oldAStillValid.status).toBe(200)

    // Act 4: A's last tokens expire, the cluster drops A, the next run pushes B alone.
    clock.advance(600 + 60 + 1)
    api.setJwks({ keys: [...keyB.jwks.keys] })
    const syncSignedByBNow = writeTokenFile('key-sync-b2', await keySyncToken(keyB, iss))
    const fourth = await syncKeys('rotating', syncSignedByBNow)
    clock.advance(REGISTRY_TTL_SECONDS + 1)
    const onlyB = await credentialsFor(await mint(keyB))
    const freshA = await credentialsFor(await mint(keyA))
    const stored = await issuerNow('rotating')

    // Assess 4
    expect(fourth.code, fourth.stderr).toBe(0)
    expect(fourth.lines).toMatchObject([
      { outcome: 'changed', version: 3, kidsAdded: [], kidsRemoved: ['cluster-key-a'] },
    ])
    expect(onlyB.status).toBe(200)
    expectRefused(freshA, 401, 'InvalidIdentityToken')
    expect(stored).toMatchObject({ version: 3, updatedBy: KEY_SYNC_SUBJECT, jwks: keyB.jwks })
    expect(api.count('jwks')).toBe(4)
    // Four CLI runs and a dozen exchanges: room for a shared machine (no timing is asserted).
  }, 120_000)

  it('an identical set changes nothing: no new version, no updatedAt, answer changed: false', async () => {
    // Prepare
    clock.advance(PUSH_INTERVAL_SECONDS + 1)
    const cluster = await createTestIssuer({ iss: issOf('steady'), kid: 'steady-a' })
    await register('steady', [cluster])
    const before = await issuerNow('steady')
    const token = await keySyncToken(cluster, issOf('steady'))
    // Members in another order are the same key.
    const reordered = {
      keys: cluster.jwks.keys.map((key) => Object.fromEntries(Object.entries(key).reverse())),
    }

    // Act
    const answer = await push('steady', token, reordered)

    // Assess
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ changed: false, version: 1, kidsAdded: [], kidsRemoved: [] })
    expect(await issuerNow('steady')).toEqual(before)
  })
})

describe('PUT /v1/issuers/{issuerId}/jwks refuses, with its code, and changes nothing', () => {
  let cluster: TestIssuer
  let next: TestIssuer
  let goodToken: string
  let before: Json

  beforeAll(async () => {
    clock.advance(PUSH_INTERVAL_SECONDS + 1)
    cluster = await createTestIssuer({ iss: issOf('guarded'), kid: 'guarded-a' })
    next = await createTestIssuer({ iss: issOf('guarded'), kid: 'guarded-b' })
    await register('guarded', [cluster])
    goodToken = await keySyncToken(cluster, issOf('guarded'))
    before = await issuerNow('guarded')
  })

  const newSet = () => ({ keys: [...cluster.jwks.keys, ...next.jwks.keys] })

  const refusals: [string, () => Promise<Answer>, number, string][] = [
    ['no Authorization header', () => push('guarded', undefined, newSet()), 401, 'InvalidIdentityToken'],
    [
      'a raw token without "Bearer "',
      async () => call('PUT', '/v1/issuers/guarded/jwks', { authorization: goodToken }, newSet()),
      401,
      'InvalidIdentityToken',
    ],
    [
      "a workload token of the same cluster (the workloads' audience)",
      async () => push('guarded', await mint(cluster, { iss: issOf('guarded') }), newSet()),
      401,
      'InvalidIdentityToken',
    ],
    [
      'the keySync subject with a workload audience',
      async () =>
        push('guarded', await keySyncToken(cluster, issOf('guarded'), { aud: [AUDIENCE] }), newSet()),
      401,
      'InvalidIdentityToken',
    ],
    [
      'the key-sync audience with another subject',
      async () =>
        push(
          'guarded',
          await keySyncToken(cluster, issOf('guarded'), { namespace: 'ml', serviceAccount: 'trainer' }),
          newSet(),
        ),
      403,
      'AccessDenied',
    ],
    [
      'a token signed by a key not registered yet (the one it pushes)',
      async () => push('guarded', await keySyncToken(next, issOf('guarded')), newSet()),
      401,
      'InvalidIdentityToken',
    ],
    [
      "a token of another issuer's iss",
      async () => push('guarded', await keySyncToken(cluster, issOf('elsewhere')), newSet()),
      401,
      'InvalidIdentityToken',
    ],
    [
      'an expired token',
      async () =>
        push(
          'guarded',
          await keySyncToken(cluster, issOf('guarded'), {
            iat: clock.seconds() - 7200,
            lifetimeSeconds: 3600,
          }),
          newSet(),
        ),
      401,
      'ExpiredToken',
    ],
    ['an empty key set', async () => push('guarded', goodToken, { keys: [] }), 400, 'InvalidParameterValue'],
    [
      'a body that is not JSON',
      async () => push('guarded', goodToken, '{"keys": ['),
      400,
      'InvalidParameterValue',
    ],
    ['no body', async () => push('guarded', goodToken, undefined), 400, 'InvalidParameterValue'],
    [
      'a field besides "keys"',
      async () => push('guarded', goodToken, { ...newSet(), extra: true }),
      400,
      'InvalidParameterValue',
    ],
    [
      'a private key in the set',
      async () => {
        const { privateKey } = await generateKeyPair('RS256', { extractable: true })
        const leaked = { ...(await exportJWK(privateKey)), kid: 'leaked', alg: 'RS256', use: 'sig' }
        return push('guarded', goodToken, { keys: [...cluster.jwks.keys, leaked] })
      },
      400,
      'InvalidParameterValue',
    ],
    [
      'a symmetric (HMAC) key in the set',
      async () =>
        push('guarded', goodToken, {
          keys: [
            ...cluster.jwks.keys,
            { kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ', kid: 'hmac', alg: 'HS256' },
          ],
        }),
      400,
      'InvalidParameterValue',
    ],
    [
      'a key of an algorithm the issuer does not allow',
      async () => {
        const { publicKey } = await generateKeyPair('PS256', { extractable: true })
        const other = { ...(await exportJWK(publicKey)), kid: 'ps', alg: 'PS256', use: 'sig' }
        return push('guarded', goodToken, { keys: [...cluster.jwks.keys, other] })
      },
      400,
      'InvalidParameterValue',
    ],
    [
      'a set without the key the request is signed with',
      async () => push('guarded', goodToken, next.jwks),
      400,
      'InvalidParameterValue',
    ],
    [
      'more keys than a registration allows',
      async () =>
        push('guarded', goodToken, {
          keys: [
            ...cluster.jwks.keys,
            ...Array.from({ length: 100 }, (_, i) => ({ ...next.jwks.keys[0], kid: `k${i}` })),
          ],
        }),
      400,
      'InvalidParameterValue',
    ],
    [
      'a query string',
      async () =>
        call('PUT', '/v1/issuers/guarded/jwks?force=1', { authorization: `Bearer ${goodToken}` }, newSet()),
      400,
      'InvalidParameterValue',
    ],
  ]

  it.each(refusals.map(([name, send, status, code]) => [name, status, code, send] as const))(
    '%s: %i %s',
    async (_name, status, code, send) => {
      // Act
      const answer = await send()

      // Assess
      expectRefused(answer, status, code)
      expect(await issuerNow('guarded')).toEqual(before)
    },
  )

  it('an issuer id that does not exist: 401 InvalidIdentityToken, nothing created', async () => {
    // Act
    const answer = await push('nobody-here', goodToken, newSet())

    // Assess
    expectRefused(answer, 401, 'InvalidIdentityToken')
    expect((await asAdmin('GET', '/v1/admin/issuers/nobody-here')).status).toBe(404)
  })

  it('a disabled issuer answers as an unknown one: 401 InvalidIdentityToken, still disabled with its keys', async () => {
    // Prepare
    const plane = await createTestIssuer({ iss: issOf('dormant'), kid: 'dormant-a' })
    const registered = await register('dormant', [plane], { enabled: false })

    // Act
    const answer = await push('dormant', await keySyncToken(plane, issOf('dormant')), {
      keys: [...plane.jwks.keys, ...next.jwks.keys],
    })

    // Assess
    expectRefused(answer, 401, 'InvalidIdentityToken')
    expect(await issuerNow('dormant')).toEqual(registered)
  })

  it('an issuer without keySync: 403 AccessDenied, even with a token its keys verify', async () => {
    // Prepare
    const plane = await createTestIssuer({ iss: issOf('manual'), kid: 'manual-a' })
    const { keySync: _off, ...registered } = await register('manual', [plane], { keySync: undefined })

    // Act
    const answer = await push('manual', await keySyncToken(plane, issOf('manual')), {
      keys: [...plane.jwks.keys, ...next.jwks.keys],
    })

    // Assess
    expectRefused(answer, 403, 'AccessDenied')
    expect(await issuerNow('manual')).toEqual(registered)
  })

  it.each([
    ['jwksUri', 'remote', { jwksUri: REMOTE_JWKS_URL }],
    ['discovery', 'discovered', { discovery: true }],
  ])(
    'an issuer registered by %s: 409 Conflict, its keys are fetched, not pushed',
    async (_, issuerId, source) => {
      // Prepare
      const answerOf = await asAdmin('PUT', `/v1/admin/issuers/${issuerId}`, {
        issuer: issOf(issuerId),
        audiences: [AUDIENCE],
        ...source,
      })
      expect(answerOf.status).toBe(201)

      // Act
      const answer = await push(issuerId, await keySyncToken(remote, issOf(issuerId)), {
        keys: [...remote.jwks.keys, ...next.jwks.keys],
      })

      // Assess
      expectRefused(answer, 409, 'Conflict')
      expect(await issuerNow(issuerId)).toEqual(answerOf.body)
    },
  )

  it('the admin API refuses keySync without inline keys, and the key-sync audience among workload audiences (400, naming the field)', async () => {
    // Act
    const remoteWithSync = await asAdmin('PUT', '/v1/admin/issuers/remote-sync', {
      issuer: issOf('remote-sync'),
      audiences: [AUDIENCE],
      jwksUri: REMOTE_JWKS_URL,
      keySync: { subject: KEY_SYNC_SUBJECT },
    })
    const reserved = await asAdmin('PUT', '/v1/admin/issuers/reserved', {
      issuer: issOf('reserved'),
      audiences: [AUDIENCE, KEY_SYNC_AUDIENCE],
      jwks: cluster.jwks,
    })
    const unknownField = await asAdmin('PUT', '/v1/admin/issuers/unknown-field', {
      issuer: issOf('unknown-field'),
      audiences: [AUDIENCE],
      jwks: cluster.jwks,
      keySync: { subject: KEY_SYNC_SUBJECT, audience: 'x' },
    })

    // Assess
    expectRefused(remoteWithSync, 400, 'InvalidParameterValue')
    expect(errorOf(remoteWithSync)?.message).toMatch(/^keySync: /)
    expectRefused(reserved, 400, 'InvalidParameterValue')
    expect(errorOf(reserved)?.message).toMatch(/^audiences\[1\]: /)
    expectRefused(unknownField, 400, 'InvalidParameterValue')
    expect(errorOf(unknownField)?.message).toMatch(/keySync\.audience/)
    for (const id of ['remote-sync', 'reserved', 'unknown-field'])
      expect((await asAdmin('GET', `/v1/admin/issuers/${id}`)).status).toBe(404)
  })

  it('a key-sync token never buys credentials: 401 at /v1/credentials', async () => {
    // Act
    const answer = await credentialsFor(goodToken)

    // Assess
    expectRefused(answer, 401, 'InvalidIdentityToken')
  })
})

describe('bounded and race-free', () => {
  it('a second change within the minute: 429 Throttling with Retry-After, nothing changed; accepted a minute later', async () => {
    // Prepare
    clock.advance(PUSH_INTERVAL_SECONDS + 1)
    const a = await createTestIssuer({ iss: issOf('eager'), kid: 'eager-a' })
    const b = await createTestIssuer({ iss: issOf('eager'), kid: 'eager-b' })
    const c = await createTestIssuer({ iss: issOf('eager'), kid: 'eager-c' })
    await register('eager', [a])
    const token = await keySyncToken(a, issOf('eager'))
    const first = await push('eager', token, { keys: [...a.jwks.keys, ...b.jwks.keys] })
    const afterFirst = await issuerNow('eager')

    // Act
    const second = await push('eager', token, { keys: [...a.jwks.keys, ...c.jwks.keys] })
    const same = await push('eager', token, { keys: [...a.jwks.keys, ...b.jwks.keys] })
    const unchanged = await issuerNow('eager')
    clock.advance(PUSH_INTERVAL_SECONDS)
    const later = await push('eager', await keySyncToken(a, issOf('eager')), {
      keys: [...a.jwks.keys, ...c.jwks.keys],
    })

    // Assess
    expect(first.body).toMatchObject({ changed: true, version: 2 })
    expectRefused(second, 429, 'Throttling')
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(Number(second.headers.get('retry-after'))).toBeLessThanOrEqual(PUSH_INTERVAL_SECONDS)
    expect(same.body).toMatchObject({ changed: false, version: 2 })
    expect(unchanged).toEqual(afterFirst)
    expect(later.body).toMatchObject({
      changed: true,
      version: 3,
      kidsAdded: ['eager-c'],
      kidsRemoved: ['eager-b'],
    })
  })

  it('two identical pushes at once: one changes the keys, the other finds them changed; one new version', async () => {
    // Prepare
    const a = await createTestIssuer({ iss: issOf('twins'), kid: 'twins-a' })
    const b = await createTestIssuer({ iss: issOf('twins'), kid: 'twins-b' })
    await register('twins', [a])
    const set = { keys: [...a.jwks.keys, ...b.jwks.keys] }
    const tokens = await Promise.all([1, 2, 3].map(() => keySyncToken(a, issOf('twins'))))

    // Act
    const answers = await Promise.all(tokens.map((token) => push('twins', token, set)))

    // Assess
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200])
    expect(answers.map((answer) => answer.body.changed).sort()).toEqual([false, false, true])
    expect(answers.map((answer) => answer.body.version)).toEqual([2, 2, 2])
    expect(await issuerNow('twins')).toMatchObject({ version: 2, jwks: set })
  })

  it('an admin PUT racing a push loses no update: every write answered 2xx is in the stored issuer', async () => {
    // Prepare
    clock.advance(PUSH_INTERVAL_SECONDS + 1)
    const a = await createTestIssuer({ iss: issOf('raced'), kid: 'raced-a' })
    const b = await createTestIssuer({ iss: issOf('raced'), kid: 'raced-b' })
    const read = await register('raced', [a])
    const set = { keys: [...a.jwks.keys, ...b.jwks.keys] }
    const token = await keySyncToken(a, issOf('raced'))

    // Act
    const [pushed, edited] = await Promise.all([
      push('raced', token, set),
      asAdmin('PUT', '/v1/admin/issuers/raced', { ...read, description: 'edited by the admin' }),
    ])
    const stored = await issuerNow('raced')

    // Assess
    expect(pushed.status).toBe(200)
    expect([200, 409]).toContain(edited.status)
    expect(stored.jwks).toEqual(set)
    if (edited.status === 200) {
      expect(stored).toMatchObject({ description: 'edited by the admin', version: 3 })
    } else {
      expect(stored.description).toBeUndefined()
      expect(stored.version).toBe(2)
    }
  })
})

describe('what a push leaves behind', () => {
  it('audits every push with kids added and removed, counts KeyPushAccepted and KeyPushFailures, and logs no token', () => {
    // Act
    const audits = logLines
      .map((line) => JSON.parse(line) as Json)
      .filter((line) => line.event === 'issuer.keys.push')
    const metrics = logLines.filter((line) => line.includes('KeyPush'))

    // Assess
    expect(audits.find((line) => line.issuerId === 'rotating' && line.outcome === 'changed')).toMatchObject({
      actor: KEY_SYNC_SUBJECT,
      versionBefore: 1,
      versionAfter: 2,
      kidsAdded: ['cluster-key-b'],
      kidsRemoved: [],
    })
    expect(audits.some((line) => line.outcome === 'refused' && line.code === 'Throttling')).toBe(true)
    expect(metrics.some((line) => line.includes('KeyPushAccepted'))).toBe(true)
    expect(metrics.some((line) => line.includes('KeyPushFailures') && line.includes('AccessDenied'))).toBe(
      true,
    )
    for (const token of sentTokens) expect(logLines.join('\n')).not.toContain(token.split('.')[2])
    expect(answered.filter((answer) => answer.status >= 500)).toEqual([])
  })
})
