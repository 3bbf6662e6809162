// The remote key resolver with a scripted endpoint (a fake JsonFetcher) and a test clock:
// caching, rotation, cooldown, shared fetches, outages with the last good keys, the stale
// bound, key hygiene of fetched sets, and how a fetch failure reaches the caller.
import { describe, expect, it } from 'vitest'
import { createAdmin } from '../../../shared/core/admin.js'
import { IdentityProviderUnavailableError } from '../../../shared/core/errors.js'
import { createExchange } from '../../../shared/core/exchange.js'
import { explain } from '../../../shared/core/exchange-trace.js'
import { createIssuerKeyResolver } from '../../../shared/core/keys.js'
import type { Issuer } from '../../../shared/core/model.js'
import type { JsonFetcher, Logger } from '../../../shared/core/ports.js'
import { createRegistryCache } from '../../../shared/core/registry-cache.js'
import {
  createRemoteKeyResolver,
  discoveryUrlOf,
  KeyFetchError,
  type RemoteKeyOptions,
} from '../../../shared/core/remote-keys.js'
import { createWorkloadTokenVerifier, verifyWorkloadToken } from '../../../shared/core/verify.js'
import { errorResponse } from '../../../shared/http/response.js'
import { createMemoryRegistry } from '../../support/memory-registry.js'
import { AUDIENCE, createTestIssuer, K8S_ISSUER, type TestIssuer } from '../../support/workload-issuer.js'
import {
  createAuditLog,
  createTestClock,
  generateRsaKey,
  makeBinding,
  makeIssuer,
  signCompact,
  type TestClock,
  tokenClaims,
} from '../fixtures.js'

const JWKS_URL = 'https://oidc.example.com/keys'
const GKE_ISSUER = 'https://container.googleapis.com/v1/projects/p/locations/l/clusters/c'

const keyOne = await createTestIssuer({ kid: 'key-1' })
const keyTwo = await createTestIssuer({ kid: 'key-2' })
const keyThree = await createTestIssuer({ kid: 'key-3' })
const gkeKey = await createTestIssuer({ kid: 'gke-1', iss: GKE_ISSUER })

const jwksOf = (...issuers: TestIssuer[]) => ({ keys: issuers.flatMap((issuer) => issuer.jwks.keys) })

/**
 * A scripted endpoint: documents by URL, failures by URL, and a gate to hold answers back.
 * A request answers with what was served when it was made, however long it is held.
 */
const createEndpoint = () => {
  const documents = new Map<string, unknown>()
  const calls: string[] = []
  let running = 0
  let gate: Promise<void> | undefined
  let open: (() => void) | undefined
  const fetchJson: JsonFetcher = async (url) => {
    calls.push(url)
    running++
    try {
      const value = documents.get(url)
      if (gate) await gate
      if (value instanceof KeyFetchError) throw value
      if (value === undefined) throw new KeyFetchError('http_status', `${url}: answered HTTP 404`)
      return structuredClone(value)
    } finally {
      running--
    }
  }
  return {
    fetchJson,
    calls,
    /** Requests made and not answered yet. */
    running: () => running,
    serve: (url: string, document: unknown) => documents.set(url, document),
    fail: (url: string, code: KeyFetchError['code'] = 'unreachable') =>
      documents.set(url, new KeyFetchError(code, `${url}: scripted ${code}`)),
    /** Holds every answer until the returned function is called. */
    hold: () => {
      gate = new Promise((release) => {
        open = release
      })
      return () => {
        gate = undefined
        open?.()
      }
    },
  }
}

const createLogger = () => {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = []
  const metrics: { name: string; value: number; dimensions: Record<string, string> }[] = []
  const logger: Logger = {
    info: (message, fields = {}) => lines.push({ level: 'info', message, fields }),
    warn: (message, fields = {}) => lines.push({ level: 'warn', message, fields }),
    error: (message, fields = {}) => lines.push({ level: 'error', message, fields }),
    metric: (name, value, dimensions) => metrics.push({ name, value, dimensions: { ...dimensions } }),
  }
  return { logger, lines, metrics }
}

/** One turn of the event loop: every fetch a request was going to start has started. */
const nextTurn = () => new Promise((done) => setImmediate(done))

/**
 * Starts verifying every token at once while the endpoint holds its answers, lets each reach the
 * key set, then releases the endpoint: concurrent requests meeting one fetch.
 */
const verifyAllWhileHeld = async <T>(
  endpoint: { hold(): () => void },
  tokens: readonly string[],
  verify: (token: string) => Promise<T>,
): Promise<T[]> => {
  const release = endpoint.hold()
  const pending = Promise.all(tokens.map((token) => verify(token)))
  await nextTurn()
  release()
  return pending
}

const setup = (options: Partial<RemoteKeyOptions> = {}) => {
  const endpoint = createEndpoint()
  const clock = createTestClock()
  const log = createLogger()
  const remote = createRemoteKeyResolver({
    fetchJson: endpoint.fetchJson,
    clock,
    logger: log.logger,
    ...options,
  })
  const keysFor = createIssuerKeyResolver(remote.keysFor)
  const verify = (token: string, issuers: Issuer[] = [remoteIssuer]) =>
    verifyWorkloadToken(token, issuers, keysFor, clock.now())
  return { endpoint, clock, log, remote, keysFor, verify }
}

const remoteIssuer = makeIssuer({ issuerId: 'remote', jwks: undefined, jwksUri: JWKS_URL })

/** A token of `key` issued at the clock's current time. */
const tokenOf = (key: TestIssuer, clock: TestClock, kid?: string) =>
  key.mint({ iat: Math.floor(clock.now().getTime() / 1000), ...(kid ? { kid } : {}) })

const outcome = (result: Awaited<ReturnType<typeof verifyWorkloadToken>>) =>
  result.ok ? 'verified' : `${result.error.code}:${result.error.reason}`

const VERIFIED = 'verified'
const KEY_NOT_FOUND = 'InvalidIdentityToken:signature_not_verified'
const UNAVAILABLE = 'IDPCommunicationError:jwks_unavailable'

describe('remote keys: fetching and caching', () => {
  it('fetches the JWKS on first use and verifies a token with it', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    // Act
    const result = await verify(await tokenOf(keyOne, clock))
    // Assess
    expect(outcome(result)).toBe(VERIFIED)
    expect(endpoint.calls).toEqual([JWKS_URL])
  })

  it('serves later tokens from the cache for the whole TTL without fetching again', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    await verify(await tokenOf(keyOne, clock))
    // Act
    clock.advance(599)
    const results = [await verify(await tokenOf(keyOne, clock)), await verify(await tokenOf(keyOne, clock))]
    // Assess
    expect(results.map(outcome)).toEqual([VERIFIED, VERIFIED])
    expect(endpoint.calls).toHaveLength(1)
  })

  it('refetches past the TTL before answering: a key gone from the endpoint stops verifying on that very request', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne, keyTwo))
    await verify(await tokenOf(keyOne, clock))
    endpoint.serve(JWKS_URL, jwksOf(keyTwo))
    clock.advance(600)
    // Act
    const goneKey = await verify(await tokenOf(keyOne, clock))
    const keptKey = await verify(await tokenOf(keyTwo, clock))
    // Assess
    expect(outcome(goneKey)).toBe(KEY_NOT_FOUND)
    expect(outcome(keptKey)).toBe(VERIFIED)
    expect(endpoint.calls).toEqual([JWKS_URL, JWKS_URL])
  })

  it('waits for the TTL refetch and leaves no fetch running once it has answered (nothing for a frozen Lambda container to time out on thaw)', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    await verify(await tokenOf(keyOne, clock))
    endpoint.serve(JWKS_URL, jwksOf(keyOne, keyTwo))
    clock.advance(600)
    const token = await tokenOf(keyOne, clock)
    const release = endpoint.hold()
    // Act
    let runningAtAnswer: number | undefined
    const request = verify(token).then((result) => {
      runningAtAnswer = endpoint.running()
      return result
    })
    const answeredWhileHeld = await Promise.race([
      request.then(() => true),
      new Promise<boolean>((done) => setTimeout(() => done(false), 200)),
    ])
    const whileHeld = { answeredWhileHeld, calls: endpoint.calls.length, running: endpoint.running() }
    release()
    const result = await request
    // Assess
    expect(whileHeld).toEqual({ answeredWhileHeld: false, calls: 2, running: 1 })
    expect(runningAtAnswer).toBe(0)
    expect(outcome(result)).toBe(VERIFIED)
  })

  it('answers with the keys held when the TTL refetch fails, and tries again only after the cooldown', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    await verify(await tokenOf(keyOne, clock))
    endpoint.fail(JWKS_URL, 'timeout')
    clock.advance(600)
    // Act
    const failedRefetch = await verify(await tokenOf(keyOne, clock))
    clock.advance(29)
    const withinCooldown = await verify(await tokenOf(keyOne, clock))
    const callsWithinCooldown = endpoint.calls.length
    clock.advance(1)
    endpoint.serve(JWKS_URL, jwksOf(keyTwo))
    const afterCooldown = await verify(await tokenOf(keyOne, clock))
    // Assess
    expect([failedRefetch, withinCooldown].map(outcome)).toEqual([VERIFIED, VERIFIED])
    expect(callsWithinCooldown).toBe(2)
    expect(outcome(afterCooldown)).toBe(KEY_NOT_FOUND)
    expect(endpoint.calls).toHaveLength(3)
    expect(endpoint.running()).toBe(0)
  })

  it('finds the keys by discovery: the document at <issuer>/.well-known/openid-configuration, then its jwks_uri', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    const issuer = makeIssuer({ issuerId: 'gke', issuer: GKE_ISSUER, jwks: undefined, discovery: true })
    endpoint.serve(`${GKE_ISSUER}/.well-known/openid-configuration`, {
      issuer: GKE_ISSUER,
      jwks_uri: JWKS_URL,
    })
    endpoint.serve(JWKS_URL, jwksOf(gkeKey))
    // Act
    const result = await verify(await tokenOf(gkeKey, clock), [issuer])
    // Assess
    expect(outcome(result)).toBe(VERIFIED)
    expect(endpoint.calls).toEqual([`${GKE_ISSUER}/.well-known/openid-configuration`, JWKS_URL])
  })

  it('builds the discovery URL of an issuer ending in "/" (AKS) without a double slash', () => {
    // Act / Assess
    expect(discoveryUrlOf('https://oidc.prod-aks.azure.com/tenant/cluster/')).toBe(
      'https://oidc.prod-aks.azure.com/tenant/cluster/.well-known/openid-configuration',
    )
    expect(discoveryUrlOf(GKE_ISSUER)).toBe(`${GKE_ISSUER}/.well-known/openid-configuration`)
  })

  it.each([
    ['a missing trailing slash', 'https://oidc.example.com/aks/', 'https://oidc.example.com/aks'],
    ['an extra trailing slash', 'https://oidc.example.com/aks', 'https://oidc.example.com/aks/'],
    ['another host', 'https://oidc.example.com/aks', 'https://evil.example.net/aks'],
    ['another case', 'https://oidc.example.com/aks', 'https://OIDC.example.com/aks'],
  ])('refuses a discovery document whose issuer differs by %s', async (_label, registered, claimed) => {
    // Prepare
    const { endpoint, remote } = setup()
    endpoint.serve(discoveryUrlOf(registered), { issuer: claimed, jwks_uri: JWKS_URL })
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    const issuer = makeIssuer({ issuer: registered, jwks: undefined, discovery: true })
    // Act
    const refused = remote.refresh(issuer)
    // Assess
    await expect(refused).rejects.toMatchObject({ name: 'KeyFetchError', code: 'discovery_issuer_mismatch' })
    expect(endpoint.calls).toEqual([discoveryUrlOf(registered)])
  })

  it.each([
    ['without jwks_uri', { issuer: GKE_ISSUER }],
    ['with a non-string jwks_uri', { issuer: GKE_ISSUER, jwks_uri: ['https://a'] }],
    ['that is an array', [GKE_ISSUER]],
  ])('refuses a discovery document %s', async (_label, document) => {
    // Prepare
    const { endpoint, remote } = setup()
    endpoint.serve(discoveryUrlOf(GKE_ISSUER), document)
    // Act
    const refused = remote.refresh(makeIssuer({ issuer: GKE_ISSUER, jwks: undefined, discovery: true }))
    // Assess
    await expect(refused).rejects.toMatchObject({ code: 'discovery_invalid' })
  })

  it('reports the kids, the key count, the JWKS URL and the fetch time on refresh', async () => {
    // Prepare
    const { endpoint, remote } = setup()
    endpoint.serve(JWKS_URL, {
      keys: [...jwksOf(keyOne, keyTwo).keys, { ...keyThree.jwks.keys[0], kid: undefined }],
    })
    // Act
    const status = await remote.refresh(remoteIssuer)
    // Assess
    expect(status).toEqual({
      issuerId: 'remote',
      source: 'jwksUri',
      jwksUri: JWKS_URL,
      kids: ['key-1', 'key-2'],
      keyCount: 3,
      fetchedAt: '2031-05-04T12:00:00.000Z',
    })
  })

  it('keeps a separate key set per registration: a changed jwksUri is fetched from the new URL', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    const otherUrl = 'https://oidc.example.com/other-keys'
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    endpoint.serve(otherUrl, jwksOf(keyTwo))
    await verify(await tokenOf(keyOne, clock))
    // Act
    const moved = { ...remoteIssuer, jwksUri: otherUrl }
    const result = await verify(await tokenOf(keyTwo, clock), [moved])
    // Assess
    expect(outcome(result)).toBe(VERIFIED)
    expect(endpoint.calls).toEqual([JWKS_URL, otherUrl])
  })

  it('starts a new version of a registration (any admin PUT) from no keys: a key dropped at the endpoint stops verifying at once', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne, keyTwo))
    await verify(await tokenOf(keyOne, clock))
    endpoint.serve(JWKS_URL, jwksOf(keyTwo))
    clock.advance(1)
    // Act
    const sameVersion = await verify(await tokenOf(keyOne, clock))
    const rePut = { ...remoteIssuer, version: remoteIssuer.version + 1 }
    const newVersion = await verify(await tokenOf(keyOne, clock), [rePut])
    // Assess
    expect(outcome(sameVersion)).toBe(VERIFIED)
    expect(outcome(newVersion)).toBe(KEY_NOT_FOUND)
    expect(endpoint.calls).toHaveLength(2)
  })

  it('does not keep the keys of a replaced version: asked for again, they are fetched anew', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    const token = await tokenOf(keyOne, clock)
    const rePut = { ...remoteIssuer, version: remoteIssuer.version + 1 }
    await verify(token)
    await verify(token, [rePut])
    // Act
    const result = await verify(token)
    // Assess
    expect(outcome(result)).toBe(VERIFIED)
    expect(endpoint.calls).toHaveLength(3)
  })

  it('names a JWKS URL without its query in a rejection, so a signed URL keeps its secret out of messages and logs', async () => {
    // Prepare
    const { endpoint, log, remote } = setup()
    const signedUrl = `${JWKS_URL}?X-Amz-Signature=s3cr3t-signature`
    endpoint.serve(signedUrl, { keys: [] })
    // Act
    const refused = await remote
      .refresh({ ...remoteIssuer, jwksUri: signedUrl })
      .catch((error: unknown) => error)
    // Assess
    expect(refused).toMatchObject({ name: 'KeyFetchError', code: 'keys_rejected' })
    expect((refused as Error).message).toMatch(/^https:\/\/oidc\.example\.com\/keys: /)
    expect(JSON.stringify([(refused as Error).message, log.lines])).not.toContain('s3cr3t')
  })

  it('holds at most maxIssuers key sets, dropping the oldest', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup({ maxIssuers: 2 })
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    const issuers = ['a', 'b', 'c'].map((id) => ({ ...remoteIssuer, issuerId: id }))
    const token = await tokenOf(keyOne, clock)
    // Act
    for (const issuer of issuers) await verify(token, [issuer])
    await verify(token, [issuers[2] as Issuer])
    await verify(token, [issuers[0] as Issuer])
    // Assess: c was still held, a had been dropped
    expect(endpoint.calls).toHaveLength(4)
  })
})

describe('remote keys: rotation and the unknown-kid refetch', () => {
  it('refetches once for an unknown kid, so a key rotated in verifies at once', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    await verify(await tokenOf(keyOne, clock))
    clock.advance(30)
    endpoint.serve(JWKS_URL, jwksOf(keyOne, keyTwo))
    // Act
    const result = await verify(await tokenOf(keyTwo, clock))
    // Assess
    expect(outcome(result)).toBe(VERIFIED)
    expect(endpoint.calls).toHaveLength(2)
  })

  it('refetches for unknown kids at most once per 30 s cooldown per issuer', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    await verify(await tokenOf(keyOne, clock))
    // Act
    const within = []
    for (let second = 0; second < 30; second += 10) {
      within.push(await verify(await tokenOf(keyTwo, clock)))
      clock.advance(10)
    }
    const callsWithinCooldown = endpoint.calls.length
    const afterCooldown = await verify(await tokenOf(keyTwo, clock))
    // Assess
    expect(callsWithinCooldown).toBe(1)
    expect(within.map(outcome)).toEqual([KEY_NOT_FOUND, KEY_NOT_FOUND, KEY_NOT_FOUND])
    expect(endpoint.calls).toHaveLength(2)
    expect(outcome(afterCooldown)).toBe(KEY_NOT_FOUND)
  })

  it('counts the cooldown per issuer: an unknown kid at one issuer does not hold back another', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    const other = { ...remoteIssuer, issuerId: 'remote-2' }
    await verify(await tokenOf(keyOne, clock))
    await verify(await tokenOf(keyOne, clock), [other])
    clock.advance(30)
    endpoint.serve(JWKS_URL, jwksOf(keyOne, keyTwo))
    // Act
    await verify(await tokenOf(keyThree, clock))
    const result = await verify(await tokenOf(keyTwo, clock), [other])
    // Assess
    expect(outcome(result)).toBe(VERIFIED)
    expect(endpoint.calls).toHaveLength(4)
  })

  it('shares one request among concurrent tokens with an unknown kid', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    await verify(await tokenOf(keyOne, clock))
    clock.advance(30)
    endpoint.serve(JWKS_URL, jwksOf(keyOne, keyTwo))
    const tokens = await Promise.all(Array.from({ length: 20 }, () => tokenOf(keyTwo, clock)))
    // Act
    const results = await verifyAllWhileHeld(endpoint, tokens, verify)
    // Assess
    expect(results.map(outcome)).toEqual(Array(20).fill(VERIFIED))
    expect(endpoint.calls).toHaveLength(2)
  })

  it('shares one request among concurrent first uses (a cold start under load)', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    const tokens = await Promise.all(Array.from({ length: 20 }, () => tokenOf(keyOne, clock)))
    // Act
    const results = await verifyAllWhileHeld(endpoint, tokens, verify)
    // Assess
    expect(results.map(outcome)).toEqual(Array(20).fill(VERIFIED))
    expect(endpoint.calls).toHaveLength(1)
  })

  it('stops verifying with a rotated-out key after the next successful fetch, not before', async () => {
    // Prepare
    const { endpoint, clock, remote, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne, keyTwo))
    await remote.refresh(remoteIssuer)
    endpoint.serve(JWKS_URL, jwksOf(keyTwo))
    // Act
    const beforeFetch = await verify(await tokenOf(keyOne, clock))
    const status = await remote.refresh(remoteIssuer)
    const afterFetch = await verify(await tokenOf(keyOne, clock))
    // Assess
    expect(outcome(beforeFetch)).toBe(VERIFIED)
    expect(status.kids).toEqual(['key-2'])
    expect(outcome(afterFetch)).toBe(KEY_NOT_FOUND)
  })

  it('does not refetch for a token without kid (only the TTL refreshes then)', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    await verify(await tokenOf(keyOne, clock))
    clock.advance(31)
    const other = await generateRsaKey('unused')
    const iat = Math.floor(clock.now().getTime() / 1000)
    // Act
    const result = await verify(
      signCompact({ alg: 'RS256' }, tokenClaims({ iat, nbf: iat, exp: iat + 3600 }), other.privateKey),
    )
    // Assess
    expect(outcome(result)).toBe(KEY_NOT_FOUND)
    expect(endpoint.calls).toHaveLength(1)
  })

  it("makes a forced refresh see the endpoint now, even while a request's fetch is running", async () => {
    // Prepare
    const { endpoint, clock, remote, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    await verify(await tokenOf(keyOne, clock))
    clock.advance(600)
    const token = await tokenOf(keyOne, clock)
    const release = endpoint.hold()
    const request = verify(token)
    await nextTurn()
    // Act
    const forced = remote.refresh(remoteIssuer)
    endpoint.serve(JWKS_URL, jwksOf(keyTwo))
    release()
    const status = await forced
    // Assess
    expect(outcome(await request)).toBe(VERIFIED)
    expect(endpoint.calls).toHaveLength(3)
    expect(status.kids).toEqual(['key-2'])
  })
})

describe('remote keys: endpoint failures', () => {
  it('keeps verifying with the last good keys while the endpoint fails, and warns and counts a metric once per failed fetch', async () => {
    // Prepare
    const { endpoint, clock, remote, log, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    await verify(await tokenOf(keyOne, clock))
    endpoint.fail(JWKS_URL, 'timeout')
    clock.advance(600)
    // Act
    const token = await tokenOf(keyOne, clock)
    const results = [await verify(token), await verify(token), await verify(token)]
    await remote.settled()
    const later = await verify(token)
    // Assess
    expect([...results, later].map(outcome)).toEqual(Array(4).fill(VERIFIED))
    const warnings = log.lines.filter((line) => line.level === 'warn')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({
      message: 'remote JWKS fetch failed; the last good keys stay in use',
      fields: {
        issuerId: 'remote',
        code: 'timeout',
        keysAgeSeconds: 600,
        staleUntil: '2031-05-05T12:00:00.000Z',
      },
    })
    expect(log.metrics).toEqual([
      { name: 'RemoteJwksStaleKeysServed', value: 1, dimensions: { issuerId: 'remote' } },
    ])
    expect(JSON.stringify(log.lines)).not.toContain(token.split('.')[2])
  })

  it('counts a failed fetch with no keys held as RemoteJwksUnavailable, by issuerId', async () => {
    // Prepare
    const { endpoint, clock, log, verify } = setup()
    endpoint.fail(JWKS_URL)
    // Act
    await verify(await tokenOf(keyOne, clock))
    // Assess
    expect(log.lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: 'remote JWKS fetch failed; no keys held for this issuer',
      }),
    ])
    expect(log.metrics).toEqual([
      { name: 'RemoteJwksUnavailable', value: 1, dimensions: { issuerId: 'remote' } },
    ])
  })

  it("logs a fetch failure's operator-only detail (logDetail) beside the message an admin sees", async () => {
    // Prepare
    const { endpoint, log, remote } = setup()
    const refusal = new KeyFetchError(
      'address_refused',
      `${JWKS_URL}: oidc.example.com resolves to a private address, which is refused`,
      { logDetail: 'oidc.example.com resolved to 10.0.0.8' },
    )
    endpoint.serve(JWKS_URL, refusal)
    // Act
    const refused = await remote.refresh(remoteIssuer).catch((error: unknown) => error)
    // Assess
    expect(refused).toBe(refusal)
    expect((refused as Error).message).not.toContain('10.0.0.8')
    expect(log.lines[0]?.fields).toMatchObject({
      detail: refusal.message,
      logDetail: 'oidc.example.com resolved to 10.0.0.8',
    })
  })

  it('keeps the last good keys for 24 h of failures, and answers IDPCommunicationError after that', async () => {
    // Prepare
    const { endpoint, clock, remote, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    await remote.refresh(remoteIssuer)
    endpoint.fail(JWKS_URL)
    // Act
    clock.advance(86_400)
    const lastSecond = await verify(await tokenOf(keyOne, clock))
    await remote.settled()
    clock.advance(1)
    const pastTheBound = await verify(await tokenOf(keyOne, clock))
    // Assess
    expect(outcome(lastSecond)).toBe(VERIFIED)
    expect(outcome(pastTheBound)).toBe(UNAVAILABLE)
  })

  it('answers IDPCommunicationError (IdentityProviderUnavailableError, Retry-After) when no keys were ever fetched and the endpoint fails', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.fail(JWKS_URL, 'address_refused')
    // Act
    const result = await verify(await tokenOf(keyOne, clock))
    // Assess
    expect(result.ok).toBe(false)
    const error = result.ok ? undefined : result.error
    expect(error).toBeInstanceOf(IdentityProviderUnavailableError)
    expect(error).toMatchObject({
      code: 'IDPCommunicationError',
      statusCode: 503,
      reason: 'jwks_unavailable',
    })
    expect(error?.retryAfterSeconds).toBe(30)
    expect(error?.cause).toMatchObject({ name: 'KeyFetchError', code: 'address_refused' })
    expect(result.attempts).toEqual([
      { issuerId: 'remote', outcome: 'unavailable', reason: 'jwks_unavailable' },
    ])
  })

  it('does not try a failed endpoint again within the cooldown: later callers get 503 at once', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.fail(JWKS_URL)
    await verify(await tokenOf(keyOne, clock))
    // Act
    clock.advance(10)
    const within = await verify(await tokenOf(keyOne, clock))
    const callsWithin = endpoint.calls.length
    clock.advance(20)
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    const after = await verify(await tokenOf(keyOne, clock))
    // Assess
    expect(outcome(within)).toBe(UNAVAILABLE)
    expect(!within.ok && within.error.retryAfterSeconds).toBe(20)
    expect(callsWithin).toBe(1)
    expect(outcome(after)).toBe(VERIFIED)
    expect(endpoint.calls).toHaveLength(2)
  })

  it('answers 503 rather than 401 to an unknown kid while the endpoint is down (the key may exist)', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    await verify(await tokenOf(keyOne, clock))
    clock.advance(30)
    endpoint.fail(JWKS_URL)
    // Act
    const unknownKid = await verify(await tokenOf(keyTwo, clock))
    const knownKid = await verify(await tokenOf(keyOne, clock))
    // Assess
    expect(outcome(unknownKid)).toBe(UNAVAILABLE)
    expect(outcome(knownKid)).toBe(VERIFIED)
  })

  it.each([
    ['an empty key set', { keys: [] }],
    ['101 keys', { keys: Array.from({ length: 101 }, (_, i) => ({ ...keyTwo.jwks.keys[0], kid: `k${i}` })) }],
    ['an RSA key with e = 1', { keys: [{ ...keyTwo.jwks.keys[0], e: 'AQ' }] }],
    ['a private key member', { keys: [{ ...keyTwo.jwks.keys[0], d: 'AQAB' }] }],
    ['a symmetric key', { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'key-2' }] }],
    ['duplicate kids', { keys: [keyTwo.jwks.keys[0], keyTwo.jwks.keys[0]] }],
    ['no keys member', { jwks: [] }],
  ])('treats a fetched set with %s as a failed fetch and keeps the last good keys', async (_label, bad) => {
    // Prepare
    const { endpoint, clock, remote, verify } = setup()
    endpoint.serve(JWKS_URL, jwksOf(keyOne))
    await remote.refresh(remoteIssuer)
    endpoint.serve(JWKS_URL, bad)
    // Act
    const refused = remote.refresh(remoteIssuer)
    // Assess
    await expect(refused).rejects.toMatchObject({ name: 'KeyFetchError', code: 'keys_rejected' })
    expect(outcome(await verify(await tokenOf(keyOne, clock)))).toBe(VERIFIED)
  })

  it('answers 503 for a first fetch that brings a bad key set', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.serve(JWKS_URL, { keys: [{ ...keyOne.jwks.keys[0], e: 'AQ' }] })
    // Act
    const result = await verify(await tokenOf(keyOne, clock))
    // Assess
    expect(outcome(result)).toBe(UNAVAILABLE)
  })

  it('keeps other issuers working while one endpoint fails', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.fail(JWKS_URL)
    const inline = makeIssuer({ issuerId: 'inline', issuer: GKE_ISSUER, jwks: gkeKey.jwks })
    // Act
    const failing = await verify(await tokenOf(keyOne, clock))
    const working = await verify(await tokenOf(gkeKey, clock), [inline])
    // Assess
    expect(outcome(failing)).toBe(UNAVAILABLE)
    expect(outcome(working)).toBe(VERIFIED)
  })

  it('lets another issuer with the same iss verify the token while the first one is unavailable', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.fail(JWKS_URL)
    const a = { ...remoteIssuer, issuerId: 'a-remote' }
    const b = makeIssuer({ issuerId: 'b-inline', issuer: K8S_ISSUER, jwks: keyTwo.jwks })
    // Act
    const result = await verify(await tokenOf(keyTwo, clock), [a, b])
    // Assess
    expect(outcome(result)).toBe(VERIFIED)
    expect(result.attempts.map((attempt) => attempt.outcome)).toEqual(['unavailable', 'verified'])
  })

  it('answers 503, not 401, when no candidate verified the token and one was unavailable', async () => {
    // Prepare
    const { endpoint, clock, verify } = setup()
    endpoint.fail(JWKS_URL)
    const a = { ...remoteIssuer, issuerId: 'a-remote' }
    const b = makeIssuer({ issuerId: 'b-inline', issuer: K8S_ISSUER, jwks: keyTwo.jwks })
    // Act
    const result = await verify(await tokenOf(keyOne, clock), [a, b])
    // Assess
    expect(outcome(result)).toBe(UNAVAILABLE)
    expect(result.attempts.map((attempt) => attempt.outcome)).toEqual(['unavailable', 'key_mismatch'])
  })
})

describe('remote keys across containers: an admin re-PUT of the issuer', () => {
  it('makes the credentials container refetch once its registry cache (30 s) has the new version, so a key dropped at the endpoint stops verifying there', async () => {
    // Prepare: one registry; an admin container and a credentials container with their own caches
    const endpoint = createEndpoint()
    const clock = createTestClock()
    const registry = createMemoryRegistry()
    const { logger } = createLogger()
    const adminKeys = createRemoteKeyResolver({ fetchJson: endpoint.fetchJson, clock, logger })
    const admin = createAdmin({ registry, clock, audit: () => undefined, keySets: adminKeys })
    const credentialKeys = createRemoteKeyResolver({ fetchJson: endpoint.fetchJson, clock, logger })
    const keysFor = createIssuerKeyResolver(credentialKeys.keysFor)
    const cache = createRegistryCache(registry, {
      ttlSeconds: 30,
      maxEntries: 100,
      negativeMaxEntries: 100,
      clock,
    })
    const verifyInCredentials = async (token: string) =>
      verifyWorkloadToken(token, await cache.findIssuersByIss(K8S_ISSUER), keysFor, clock.now())
    const context = { actor: 'arn:aws:iam::111122223333:user/alice', requestId: 'req-1' }
    const body = { issuer: K8S_ISSUER, audiences: [AUDIENCE], jwksUri: JWKS_URL }
    endpoint.serve(JWKS_URL, jwksOf(keyOne, keyTwo))
    const { object: registered } = await admin.putIssuer('remote', body, context)
    const before = await verifyInCredentials(await tokenOf(keyOne, clock))
    endpoint.serve(JWKS_URL, jwksOf(keyTwo))
    // Act: the same registration PUT again, which bumps its version
    await admin.putIssuer('remote', { ...body, version: registered.version }, context)
    clock.advance(29)
    const withinCacheTtl = await verifyInCredentials(await tokenOf(keyOne, clock))
    clock.advance(1)
    const droppedKey = await verifyInCredentials(await tokenOf(keyOne, clock))
    const keptKey = await verifyInCredentials(await tokenOf(keyTwo, clock))
    // Assess
    expect([before, withinCacheTtl].map(outcome)).toEqual([VERIFIED, VERIFIED])
    expect([droppedKey, keptKey].map(outcome)).toEqual([KEY_NOT_FOUND, VERIFIED])
  })
})

describe('remote keys through the credential exchange', () => {
  const signer = {
    algorithm: 'RS256' as const,
    keyId: async () => 'unused',
    sign: async () => new Uint8Array(),
    publicJwks: async () => ({ keys: [] }),
  }

  it('surfaces a fetch failure as IDPCommunicationError (503, Retry-After), audited, and never calls STS', async () => {
    // Prepare
    const { endpoint, clock, keysFor } = setup()
    endpoint.fail(JWKS_URL, 'timeout')
    const registry = createMemoryRegistry()
    registry.seed({ issuers: [remoteIssuer], bindings: [makeBinding({ issuerId: 'remote' })] })
    const audit = createAuditLog()
    let stsCalls = 0
    const exchange = createExchange({
      registry,
      verifier: createWorkloadTokenVerifier(keysFor),
      signer,
      sts: {
        assumeRoleWithWebIdentity: async () => {
          stsCalls++
          throw new Error('not reached')
        },
      },
      clock,
      audit: audit.sink,
      brokerIssuerUrl: 'https://broker.example.com',
      brokerTokenTtlSeconds: 300,
    })
    // Act
    const error = await exchange
      .issueCredentials({ token: await tokenOf(keyOne, clock), requestId: 'req-1' })
      .catch((caught: unknown) => caught)
    // Assess
    expect(error).toBeInstanceOf(IdentityProviderUnavailableError)
    const response = errorResponse(error as IdentityProviderUnavailableError, 'req-1')
    expect(response.statusCode).toBe(503)
    expect(response.headers['retry-after']).toBe('30')
    expect(JSON.parse(response.body as string)).toEqual({
      error: {
        code: 'IDPCommunicationError',
        message: 'A dependency of the broker is unavailable (jwks); retry later.',
        requestId: 'req-1',
      },
    })
    expect(stsCalls).toBe(0)
    expect(audit.records).toEqual([
      expect.objectContaining({
        decision: 'deny',
        code: 'IDPCommunicationError',
        reason: 'jwks_unavailable',
      }),
    ])
  })

  it('shows the unavailable issuer in the explain trace', async () => {
    // Prepare
    const { endpoint, clock, keysFor } = setup()
    endpoint.fail(JWKS_URL)
    const registry = createMemoryRegistry()
    registry.seed({ issuers: [remoteIssuer], bindings: [] })
    const exchange = createExchange({
      registry,
      verifier: createWorkloadTokenVerifier(keysFor),
      signer,
      sts: { assumeRoleWithWebIdentity: async () => Promise.reject(new Error('not reached')) },
      clock,
      audit: () => undefined,
      brokerIssuerUrl: 'https://broker.example.com',
      brokerTokenTtlSeconds: 300,
    })
    // Act
    const trace = await explain(exchange, { token: await tokenOf(keyOne, clock) })
    // Assess
    expect(trace).toMatchObject({
      decision: 'deny',
      code: 'IDPCommunicationError',
      candidates: [{ issuerId: 'remote', outcome: 'unavailable' }],
    })
  })
})
