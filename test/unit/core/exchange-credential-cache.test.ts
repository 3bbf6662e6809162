// The credential cache as wired (shared/wiring.ts): the exchange shares STS calls between
// requests with the same STS request, still verifies every token, and never serves cached
// credentials to a request the registry no longer allows.
import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createJsonLogger } from '../../../shared/adapters/json-logger.js'
import { createLocalSigner } from '../../../shared/adapters/local-signer.js'
import { type BrokerSettings, loadLocalConfig } from '../../../shared/config.js'
import { BrokerError, UpstreamUnavailableError } from '../../../shared/core/errors.js'
import type { ExchangeRequest } from '../../../shared/core/exchange.js'
import type { AwsCredentials, Binding, Issuer } from '../../../shared/core/model.js'
import type { AssumeRoleRequest, RoleAssumer } from '../../../shared/core/ports.js'
import { createCore } from '../../../shared/wiring.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { createTestIssuer, type MintOptions } from '../../support/workload-issuer.js'
import { createAuditLog, createTestClock, makeBinding, makeIssuer, NOW_SECONDS } from '../fixtures.js'

const READER_ARN = 'arn:aws:iam::111122223333:role/ml-s3-reader'
const WRITER_ARN = 'arn:aws:iam::111122223333:role/ml-s3-writer'

const dataPlane = await createTestIssuer({ kid: 'cache-a' })
const stranger = await createTestIssuer({ kid: 'cache-a' })
const signer = createLocalSigner(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)
const quiet = createJsonLogger(() => undefined)

/** STS that counts its calls; it answers at once, or holds every call until released. */
const createCountingSts = (clock: { now(): Date }) => {
  const requests: AssumeRoleRequest[] = []
  const held: (() => void)[] = []
  let holding = false
  let failure: unknown
  const sts: RoleAssumer = {
    async assumeRoleWithWebIdentity(request) {
      requests.push(request)
      const call = requests.length
      if (holding) await new Promise<void>((resolve) => held.push(resolve))
      if (failure !== undefined) throw failure
      const credentials: AwsCredentials = {
        accessKeyId: `ASIA${call}`,
        secretAccessKey: `secret-access-key-${call}`,
        sessionToken: `session-token-${call}`,
        expiration: new Date(clock.now().getTime() + request.durationSeconds * 1000),
        assumedRoleArn: `arn:aws:sts::111122223333:assumed-role/r/${request.sessionName}`,
        accountId: '111122223333',
      }
      return credentials
    },
  }
  return {
    sts,
    requests,
    hold: () => {
      holding = true
    },
    release: () => {
      holding = false
      for (const resolve of held.splice(0)) resolve()
    },
    failWith: (error: unknown) => {
      failure = error
    },
  }
}

/** The documented defaults (whatever settings other features add), with the cache's own. */
const settings = (credentialCache: Partial<BrokerSettings['credentialCache']> = {}): BrokerSettings => {
  const defaults = loadLocalConfig({ IRSA_BROKER_ISSUER_URL: 'https://broker.example.com' })
  return {
    ...defaults,
    credentialCache: { maxEntries: 100, maxBytes: 1 << 20, refreshMarginSeconds: 1200, ...credentialCache },
  }
}

const issuerA = makeIssuer({ issuerId: 'onprem-a', jwks: dataPlane.jwks })
const readers = makeBinding({ bindingId: 'readers', profile: 'ml-reader', roleArn: READER_ARN })
const writers = makeBinding({ bindingId: 'writers', profile: 'ml-writer', roleArn: WRITER_ARN })
const admin = { actor: 'test-admin', requestId: 'admin-1' }

const setup = (
  objects: { issuers: Issuer[]; bindings: Binding[] },
  cache: Partial<BrokerSettings['credentialCache']> = {},
) => {
  const clock = createTestClock()
  const registry = createMemoryRegistry()
  registry.seed(objects)
  const fake = createCountingSts(clock)
  const audit = createAuditLog()
  const core = createCore(
    {
      registry,
      sts: fake.sts,
      signer,
      clock,
      logger: quiet,
      audit: audit.sink,
      fetchJson: async () => {
        throw new Error('no remote key sets in this test')
      },
    },
    settings(cache),
  )
  return { core, exchange: core.exchange, registry, clock, audit, fake }
}

let requestCounter = 0
const request = (token: string, extra: Partial<ExchangeRequest> = {}): ExchangeRequest => ({
  token,
  requestId: `req-${++requestCounter}`,
  ...extra,
})

/** A pod's token: each pod of a service account has its own, with the same `sub`. */
const podToken = (pod: number, options: MintOptions = {}) =>
  dataPlane.mint({ iat: NOW_SECONDS, extraClaims: { jti: `pod-${pod}` }, ...options })

const outcomeOf = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'issued',
    (error: unknown) => (error instanceof BrokerError ? error.code : 'unexpected'),
  )

/** Waits (a bounded number of turns of the event loop) until `count` callers wait on STS. */
const untilWaiting = async (core: { credentialCache: { waiting: number } }, count: number) => {
  for (let turn = 0; turn < 10_000 && core.credentialCache.waiting < count; turn++) {
    await new Promise<void>((done) => setImmediate(done))
  }
  expect(core.credentialCache.waiting).toBe(count)
}

const issuedAudits = (records: Record<string, unknown>[]) =>
  records.filter((record) => record.event === 'credentials' && record.decision === 'allow')

describe('exchange with the credential cache: one STS call for a herd', () => {
  it('makes exactly 1 STS call for 1,000 concurrent requests of one identity and role', async () => {
    // Prepare: 1,000 pods of one service account, each with its own token
    const { core, exchange, fake, audit } = setup({ issuers: [issuerA], bindings: [readers] })
    const tokens = await Promise.all(Array.from({ length: 1000 }, (_, pod) => podToken(pod)))
    fake.hold()
    // Act: STS answers only once all 1,000 wait for it, so none is served from a finished call
    const pending = tokens.map((token) => exchange.issueCredentials(request(token)))
    await untilWaiting(core, 1000)
    fake.release()
    const issued = await Promise.all(pending)
    // Assess
    expect(fake.requests).toHaveLength(1)
    expect(new Set(issued.map((i) => i.credentials.accessKeyId))).toEqual(new Set(['ASIA1']))
    const records = issuedAudits(audit.records)
    expect(records).toHaveLength(1000)
    expect(records.filter((record) => record.cached === true)).toHaveLength(999)
    expect(new Set(records.map((record) => record.requestId)).size).toBe(1000)
  })

  it('still verifies every token: a forged one in the herd is refused', async () => {
    // Prepare: same iss, kid and claims, signed by a key the broker was never given
    const { exchange, fake } = setup({ issuers: [issuerA], bindings: [readers] })
    const genuine = await Promise.all(Array.from({ length: 20 }, (_, pod) => podToken(pod)))
    const forged = await stranger.mint({ iat: NOW_SECONDS })
    const expired = await podToken(99, { iat: NOW_SECONDS - 7200 })
    // Act
    const outcomes = await Promise.all(
      [...genuine, forged, expired].map((token) => outcomeOf(exchange.issueCredentials(request(token)))),
    )
    // Assess
    expect(outcomes.slice(0, 20).every((outcome) => outcome === 'issued')).toBe(true)
    expect(outcomes.slice(20)).toEqual(['InvalidIdentityToken', 'ExpiredToken'])
    expect(fake.requests).toHaveLength(1)
  })

  it('keeps a separate entry per role, session name, session tags and duration', async () => {
    // Prepare: tags from the pod name, so two pods of one account differ only in their tags
    const tagged = makeBinding({
      bindingId: 'tagged',
      profile: 'tagged',
      roleArn: READER_ARN,
      sessionTags: { pod: '{/kubernetes.io/pod/name}' },
    })
    const { exchange, fake } = setup({ issuers: [issuerA], bindings: [readers, writers, tagged] })
    const asked = async (options: MintOptions, extra: Partial<ExchangeRequest>) =>
      exchange.issueCredentials(request(await podToken(1, options), extra))
    // Act
    await asked({}, { role: 'ml-reader' })
    await asked({}, { role: 'ml-reader' })
    await asked({}, { role: 'ml-writer' })
    await asked({ serviceAccount: 'other' }, { role: 'ml-reader' })
    await asked({ serviceAccount: 'worker' }, { role: 'tagged' })
    await asked({ serviceAccount: 'worker', extraClaims: { jti: 'x' } }, { role: 'tagged' })
    await asked({ serviceAccount: 'runner' }, { role: 'tagged' })
    await asked({}, { role: 'ml-reader', durationSeconds: 1800 })
    // Assess
    expect(fake.requests.map((r) => [r.roleArn, r.sessionName, r.durationSeconds])).toEqual([
      [READER_ARN, 'onprem-a.ml.trainer', 3600],
      [WRITER_ARN, 'onprem-a.ml.trainer', 3600],
      [READER_ARN, 'onprem-a.ml.other', 3600],
      [READER_ARN, 'onprem-a.ml.worker', 3600],
      [READER_ARN, 'onprem-a.ml.runner', 3600],
      [READER_ARN, 'onprem-a.ml.trainer', 1800],
    ])
  })

  it('keeps pods apart when the session tags name the pod', async () => {
    // Prepare
    const perPod = makeBinding({ sessionTags: { pod: '{/kubernetes.io/pod/name}' } })
    const { exchange, fake } = setup({ issuers: [issuerA], bindings: [perPod] })
    const podNamed = (name: string) =>
      dataPlane.mint({
        iat: NOW_SECONDS,
        extraClaims: {
          'kubernetes.io': { namespace: 'ml', serviceaccount: { name: 'trainer' }, pod: { name } },
        },
      })
    // Act
    await exchange.issueCredentials(request(await podNamed('trainer-0')))
    await exchange.issueCredentials(request(await podNamed('trainer-1')))
    await exchange.issueCredentials(request(await podNamed('trainer-0')))
    // Assess
    expect(fake.requests).toHaveLength(2)
  })

  it('with the cache off (0 entries), makes one STS call per request', async () => {
    // Prepare
    const { exchange, fake } = setup({ issuers: [issuerA], bindings: [readers] }, { maxEntries: 0 })
    const tokens = await Promise.all(Array.from({ length: 10 }, (_, pod) => podToken(pod)))
    // Act
    await Promise.all(tokens.map((token) => exchange.issueCredentials(request(token))))
    // Assess
    expect(fake.requests).toHaveLength(10)
  })
})

describe('exchange with the credential cache: configuration changes', () => {
  it('serves no cached credentials once an admin disables the binding, and calls STS anew after re-enabling', async () => {
    // Prepare
    const { core, exchange, fake } = setup({ issuers: [issuerA], bindings: [readers] })
    await exchange.issueCredentials(request(await podToken(1)))
    // Act
    const { object } = await core.admin.putBinding(
      'onprem-a',
      'readers',
      { ...readers, enabled: false, version: 1 },
      admin,
    )
    const whileDisabled = await outcomeOf(exchange.issueCredentials(request(await podToken(2))))
    await core.admin.putBinding('onprem-a', 'readers', { ...readers, version: object.version }, admin)
    const reenabled = await exchange.issueCredentials(request(await podToken(3)))
    // Assess
    expect(whileDisabled).toBe('AccessDenied')
    expect(fake.requests).toHaveLength(2)
    expect(reenabled.credentials.accessKeyId).toBe('ASIA2')
  })

  it('serves no cached credentials once an admin disables the issuer', async () => {
    // Prepare
    const { core, exchange, fake } = setup({ issuers: [issuerA], bindings: [readers] })
    await exchange.issueCredentials(request(await podToken(1)))
    const { version: _v, createdAt: _c, updatedAt: _u, updatedBy: _b, ...spec } = issuerA
    // Act
    await core.admin.putIssuer('onprem-a', { ...spec, enabled: false, version: 1 }, admin)
    const outcome = await outcomeOf(exchange.issueCredentials(request(await podToken(2))))
    // Assess
    expect(outcome).toBe('InvalidIdentityToken')
    expect(fake.requests).toHaveLength(1)
  })

  it('drops every cached credential on any admin write in this process', async () => {
    // Prepare
    const { core, exchange, fake } = setup({ issuers: [issuerA], bindings: [readers, writers] })
    await exchange.issueCredentials(request(await podToken(1), { role: 'ml-reader' }))
    // Act: a write to another binding
    await core.admin.putBinding(
      'onprem-a',
      'writers',
      { ...writers, description: 'edited', version: 1 },
      admin,
    )
    const after = await exchange.issueCredentials(request(await podToken(2), { role: 'ml-reader' }))
    // Assess
    expect(fake.requests).toHaveLength(2)
    expect(after.credentials.accessKeyId).toBe('ASIA2')
  })

  it('denies a binding disabled by another instance as soon as this one reloads it, cached credentials included', async () => {
    // Prepare
    const { exchange, fake, registry, clock } = setup({ issuers: [issuerA], bindings: [readers] })
    await exchange.issueCredentials(request(await podToken(1)))
    registry.seed({ bindings: [{ ...readers, enabled: false, version: 2 }] })
    // Act: the registry cache (TTL 30 s) reloads after 30 s
    clock.advance(30)
    const outcome = await outcomeOf(exchange.issueCredentials(request(await podToken(2))))
    // Assess
    expect(outcome).toBe('AccessDenied')
    expect(fake.requests).toHaveLength(1)
  })
})

describe('exchange with the credential cache: refresh margin, failures, passthrough', () => {
  it('calls STS again once cached credentials would have less than the margin left, once for concurrent callers', async () => {
    // Prepare: 3600 s credentials, 1200 s margin; tokens minted at the new time
    const { core, exchange, fake, clock } = setup({ issuers: [issuerA], bindings: [readers] })
    await exchange.issueCredentials(request(await podToken(0)))
    clock.advance(2399)
    const stillCached = await exchange.issueCredentials(
      request(await podToken(1, { iat: NOW_SECONDS + 2399 })),
    )
    clock.advance(1)
    const tokens = await Promise.all(
      Array.from({ length: 50 }, (_, pod) => podToken(pod, { iat: NOW_SECONDS + 2400 })),
    )
    fake.hold()
    // Act
    const pending = tokens.map((token) => exchange.issueCredentials(request(token)))
    await untilWaiting(core, 50)
    fake.release()
    const renewed = await Promise.all(pending)
    // Assess
    expect(stillCached.credentials.accessKeyId).toBe('ASIA1')
    expect(fake.requests).toHaveLength(2)
    expect(new Set(renewed.map((i) => i.credentials.accessKeyId))).toEqual(new Set(['ASIA2']))
    const leftMs = (renewed[0]?.credentials.expiration.getTime() ?? 0) - clock.now().getTime()
    expect(leftMs).toBe(3600 * 1000)
  })

  it('does not cache sessions too short for the margin', async () => {
    // Prepare
    const short = makeBinding({ durationSeconds: 900 })
    const { exchange, fake } = setup({ issuers: [issuerA], bindings: [short] })
    // Act
    await exchange.issueCredentials(request(await podToken(1)))
    await exchange.issueCredentials(request(await podToken(2)))
    // Assess
    expect(fake.requests).toHaveLength(2)
  })

  it('shares one STS failure with the requests waiting on it, caches nothing, and the next request calls again', async () => {
    // Prepare
    const { core, exchange, fake, audit } = setup({ issuers: [issuerA], bindings: [readers] })
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, pod) => podToken(pod)))
    fake.failWith(new UpstreamUnavailableError('sts_unavailable'))
    fake.hold()
    // Act
    const pending = tokens.map((token) => outcomeOf(exchange.issueCredentials(request(token))))
    await untilWaiting(core, 20)
    fake.release()
    const outcomes = await Promise.all(pending)
    fake.failWith(undefined)
    const next = await exchange.issueCredentials(request(await podToken(21)))
    // Assess
    expect(outcomes).toEqual(Array.from({ length: 20 }, () => 'ServiceUnavailable'))
    expect(fake.requests).toHaveLength(2)
    expect(next.credentials.accessKeyId).toBe('ASIA2')
    const denied = audit.records.filter((record) => record.decision === 'deny')
    expect(denied).toHaveLength(20)
    expect(
      denied.every((record) => record.code === 'ServiceUnavailable' && record.cached === undefined),
    ).toBe(true)
  })

  it('in passthrough mode shares credentials only between requests with the very same token', async () => {
    // Prepare
    const passthrough = makeIssuer({ issuerId: 'onprem-a', jwks: dataPlane.jwks, mode: 'passthrough' })
    const { exchange, fake } = setup({ issuers: [passthrough], bindings: [readers] })
    const podA = await podToken(1)
    const podB = await podToken(2)
    // Act
    await Promise.all([
      exchange.issueCredentials(request(podA)),
      exchange.issueCredentials(request(podA)),
      exchange.issueCredentials(request(podB)),
    ])
    await exchange.issueCredentials(request(podA))
    // Assess
    expect(fake.requests.map((r) => r.webIdentityToken)).toEqual([podA, podB])
  })
})

describe('exchange with the verified-token cache: the same token presented again', () => {
  it('is refused once an admin disables its issuer', async () => {
    // Prepare
    const { core, exchange } = setup({ issuers: [issuerA], bindings: [readers] })
    const token = await podToken(1)
    await exchange.issueCredentials(request(token))
    const { version: _v, createdAt: _c, updatedAt: _u, updatedBy: _b, ...spec } = issuerA
    // Act
    await core.admin.putIssuer('onprem-a', { ...spec, enabled: false, version: 1 }, admin)
    const outcome = await outcomeOf(exchange.issueCredentials(request(token)))
    // Assess
    expect(outcome).toBe('InvalidIdentityToken')
  })

  it('is refused once an admin replaces the key that signed it', async () => {
    // Prepare
    const { core, exchange } = setup({ issuers: [issuerA], bindings: [readers] })
    const token = await podToken(1)
    await exchange.issueCredentials(request(token))
    const { version: _v, createdAt: _c, updatedAt: _u, updatedBy: _b, ...spec } = issuerA
    // Act
    await core.admin.putIssuer('onprem-a', { ...spec, jwks: stranger.jwks, version: 1 }, admin)
    const outcome = await outcomeOf(exchange.issueCredentials(request(token)))
    // Assess
    expect(outcome).toBe('InvalidIdentityToken')
  })

  it('is refused once it expires, though its credentials are still cached', async () => {
    // Prepare: exp 40 s ago, inside the 60 s skew now, outside it 25 s later (within the
    // registry TTL, so the same issuer objects are still in use)
    const { exchange, fake, clock } = setup({ issuers: [issuerA], bindings: [readers] })
    const token = await podToken(1, { iat: NOW_SECONDS - 600, lifetimeSeconds: 560 })
    await exchange.issueCredentials(request(token))
    // Act
    clock.advance(25)
    const outcome = await outcomeOf(exchange.issueCredentials(request(token)))
    // Assess
    expect(outcome).toBe('ExpiredToken')
    expect(fake.requests).toHaveLength(1)
  })

  it('is refused once its issuer, disabled by another instance, is reloaded', async () => {
    // Prepare
    const { exchange, registry, clock } = setup({ issuers: [issuerA], bindings: [readers] })
    const token = await podToken(1)
    await exchange.issueCredentials(request(token))
    registry.seed({ issuers: [{ ...issuerA, enabled: false, version: 2 }] })
    // Act
    clock.advance(30)
    const outcome = await outcomeOf(exchange.issueCredentials(request(token)))
    // Assess
    expect(outcome).toBe('InvalidIdentityToken')
  })

  it('gets the session of now: a session template changed elsewhere and reloaded names the next STS call, the same token presented', async () => {
    // Prepare: the same token twice, the second time after its binding got a new session name
    const { exchange, fake, registry, clock } = setup({ issuers: [issuerA], bindings: [readers] })
    const token = await podToken(1, { lifetimeSeconds: 3600 })
    const first = await exchange.issueCredentials(request(token))
    registry.seed({
      bindings: [{ ...readers, sessionName: 'renamed-{/kubernetes.io/namespace}', version: 2 }],
    })
    // Act
    clock.advance(30)
    const second = await exchange.issueCredentials(request(token))
    // Assess: a new call under the new name, not the session (or the cache key) of the first
    expect(fake.requests.map((sent) => sent.sessionName)).toEqual([first.sessionName, 'renamed-ml'])
    expect(second.sessionName).toBe('renamed-ml')
  })

  it('gets the binding decision of now: 403 once its binding is disabled elsewhere and reloaded', async () => {
    // Prepare
    const { exchange, registry, clock } = setup({ issuers: [issuerA], bindings: [readers] })
    const token = await podToken(1, { lifetimeSeconds: 3600 })
    await exchange.issueCredentials(request(token))
    registry.seed({ bindings: [{ ...readers, enabled: false, version: 2 }] })
    // Act
    clock.advance(30)
    const outcome = await outcomeOf(exchange.issueCredentials(request(token)))
    // Assess
    expect(outcome).toBe('AccessDenied')
  })
})
