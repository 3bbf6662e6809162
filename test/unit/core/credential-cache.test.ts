import { describe, expect, it } from 'vitest'
import {
  type CredentialCacheOptions,
  createCredentialCache,
  credentialCacheKey,
  type StsRequestShape,
} from '../../../shared/core/credential-cache.js'
import { UpstreamUnavailableError } from '../../../shared/core/errors.js'
import type { AwsCredentials } from '../../../shared/core/model.js'
import { createTestClock } from '../fixtures.js'

interface Deferred {
  resolve(credentials: AwsCredentials): void
  reject(error: unknown): void
}

/** A fake STS call: counts calls, answers at once or when the test says so. */
const createFakeIssue = (clock: { now(): Date }, lifetimeSeconds = 3600) => {
  let calls = 0
  const parked: Deferred[] = []
  let park = false
  const credentialsFor = (call: number): AwsCredentials => ({
    accessKeyId: `ASIA${call}`,
    secretAccessKey: `secret-${call}`,
    sessionToken: `session-token-${call}`,
    expiration: new Date(clock.now().getTime() + lifetimeSeconds * 1000),
    assumedRoleArn: 'arn:aws:sts::111122223333:assumed-role/reader/session',
    accountId: '111122223333',
  })
  const issue = (): Promise<AwsCredentials> => {
    calls++
    const call = calls
    if (!park) return Promise.resolve(credentialsFor(call))
    return new Promise((resolve, reject) =>
      parked.push({ resolve: () => resolve(credentialsFor(call)), reject }),
    )
  }
  return {
    issue,
    calls: () => calls,
    /** From now on calls wait until released. */
    hold: () => {
      park = true
    },
    /** Lets every waiting call answer (or fail with `error`), and stops holding. */
    release: (error?: unknown) => {
      park = false
      for (const call of parked.splice(0)) {
        if (error === undefined) call.resolve(credentialsFor(0))
        else call.reject(error)
      }
    },
  }
}

const setup = (options: Partial<CredentialCacheOptions> = {}, lifetimeSeconds = 3600) => {
  const clock = createTestClock()
  const cache = createCredentialCache({
    clock,
    refreshMarginSeconds: 1200,
    maxEntries: 100,
    maxBytes: 1 << 20,
    ...options,
  })
  return { clock, cache, sts: createFakeIssue(clock, lifetimeSeconds) }
}

/** Lets every promise callback queued so far run. */
const settle = () => new Promise<void>((done) => setImmediate(done))

const shape: StsRequestShape = {
  mode: 'broker',
  brokerIssuerUrl: 'https://broker.example.com',
  issuerId: 'onprem-a',
  subject: 'system:serviceaccount:ml:trainer',
  roleArn: 'arn:aws:iam::111122223333:role/ml-s3-reader',
  sessionName: 'ml.trainer',
  durationSeconds: 3600,
  sessionTags: {
    principalTags: { namespace: 'ml', 'data-plane': 'onprem-a' },
    transitiveTagKeys: ['data-plane'],
  },
}

describe('credentialCacheKey', () => {
  it.each<[string, Partial<StsRequestShape>]>([
    ['issuer', { issuerId: 'onprem-b' }],
    ['subject', { subject: 'system:serviceaccount:ml:other' }],
    ['role', { roleArn: 'arn:aws:iam::111122223333:role/ml-s3-writer' }],
    ['session name', { sessionName: 'ml.other' }],
    ['duration', { durationSeconds: 7200 }],
    ['mode', { mode: 'passthrough' }],
    ['broker issuer URL', { brokerIssuerUrl: 'https://other-broker.example.com' }],
    ['source identity', { sourceIdentity: 'alice' }],
    [
      'a tag value',
      {
        sessionTags: {
          principalTags: { namespace: 'ops', 'data-plane': 'onprem-a' },
          transitiveTagKeys: ['data-plane'],
        },
      },
    ],
    ['the tag set', { sessionTags: { principalTags: { namespace: 'ml' }, transitiveTagKeys: [] } }],
    [
      'the transitive keys',
      {
        sessionTags: { principalTags: { namespace: 'ml', 'data-plane': 'onprem-a' }, transitiveTagKeys: [] },
      },
    ],
  ])('differs when the %s differs', (_, change) => {
    // Act / Assess
    expect(credentialCacheKey({ ...shape, ...change })).not.toBe(credentialCacheKey(shape))
  })

  it('does not depend on the order tags and transitive keys were written in', () => {
    // Prepare
    const reordered: StsRequestShape = {
      ...shape,
      sessionTags: {
        principalTags: { 'data-plane': 'onprem-a', namespace: 'ml' },
        transitiveTagKeys: ['data-plane'],
      },
    }
    // Act / Assess
    expect(credentialCacheKey(reordered)).toBe(credentialCacheKey(shape))
  })

  it('cannot be forged by moving text between fields', () => {
    // Prepare: the same characters, split differently between issuer and subject
    const a = { ...shape, issuerId: 'onprem-a:x', subject: 'y' }
    const b = { ...shape, issuerId: 'onprem-a', subject: 'x:y' }
    // Act / Assess
    expect(credentialCacheKey(a)).not.toBe(credentialCacheKey(b))
  })

  it('keys passthrough on the token STS receives, and broker mode never on a token', () => {
    // Prepare
    const passthrough = { ...shape, mode: 'passthrough' as const }
    // Act / Assess
    expect(credentialCacheKey({ ...passthrough, webIdentityTokenSha256: 'a'.repeat(64) })).not.toBe(
      credentialCacheKey({ ...passthrough, webIdentityTokenSha256: 'b'.repeat(64) }),
    )
    expect(credentialCacheKey({ ...shape, webIdentityTokenSha256: 'a'.repeat(64) })).toBe(
      credentialCacheKey({ ...shape, webIdentityTokenSha256: 'b'.repeat(64) }),
    )
  })
})

describe('createCredentialCache: one STS call for many callers', () => {
  it('makes exactly one call for 1,000 concurrent misses of one key, and shares its answer', async () => {
    // Prepare
    const { cache, sts } = setup()
    sts.hold()
    // Act
    const pending = Array.from({ length: 1000 }, () => cache.obtain('k', sts.issue))
    await settle()
    sts.release()
    const results = await Promise.all(pending)
    // Assess
    expect(sts.calls()).toBe(1)
    expect(new Set(results.map((r) => r.credentials)).size).toBe(1)
    expect(results.filter((r) => r.source === 'sts')).toHaveLength(1)
    expect(results.filter((r) => r.source === 'shared')).toHaveLength(999)
  })

  it('answers later callers from the cache without a call', async () => {
    // Prepare
    const { cache, sts, clock } = setup()
    const first = await cache.obtain('k', sts.issue)
    // Act
    clock.advance(600)
    const second = await cache.obtain('k', sts.issue)
    // Assess
    expect(sts.calls()).toBe(1)
    expect(second).toEqual({ credentials: first.credentials, source: 'cache' })
  })

  it('keeps different keys apart', async () => {
    // Prepare
    const { cache, sts } = setup()
    // Act
    const [a, b] = await Promise.all([cache.obtain('a', sts.issue), cache.obtain('b', sts.issue)])
    // Assess
    expect(sts.calls()).toBe(2)
    expect(a.credentials).not.toBe(b.credentials)
    expect(cache.size).toBe(2)
  })

  it('with 0 entries allowed, makes every call itself', async () => {
    // Prepare
    const { cache, sts } = setup({ maxEntries: 0 })
    // Act
    const results = await Promise.all([cache.obtain('k', sts.issue), cache.obtain('k', sts.issue)])
    await cache.obtain('k', sts.issue)
    // Assess
    expect(sts.calls()).toBe(3)
    expect(results.map((r) => r.source)).toEqual(['sts', 'sts'])
    expect(cache.size).toBe(0)
  })
})

describe('createCredentialCache: the refresh margin', () => {
  it('serves an entry while at least the margin remains, and makes a new call once less would', async () => {
    // Prepare: 3600 s credentials, 1200 s margin → servable for 2400 s
    const { cache, sts, clock } = setup()
    const first = await cache.obtain('k', sts.issue)
    // Act
    clock.advance(2399)
    const justInside = await cache.obtain('k', sts.issue)
    const remainingMs = justInside.credentials.expiration.getTime() - clock.now().getTime()
    clock.advance(1)
    const renewed = await cache.obtain('k', sts.issue)
    // Assess
    expect(justInside).toEqual({ credentials: first.credentials, source: 'cache' })
    expect(remainingMs).toBe(1201 * 1000)
    expect(renewed.source).toBe('sts')
    expect(renewed.credentials).not.toBe(first.credentials)
    expect(sts.calls()).toBe(2)
  })

  it('shares one new call between callers arriving when an entry falls under the margin', async () => {
    // Prepare
    const { cache, sts, clock } = setup()
    await cache.obtain('k', sts.issue)
    clock.advance(2400)
    sts.hold()
    // Act
    const pending = Array.from({ length: 100 }, () => cache.obtain('k', sts.issue))
    await settle()
    sts.release()
    const results = await Promise.all(pending)
    // Assess
    expect(sts.calls()).toBe(2)
    expect(new Set(results.map((r) => r.credentials)).size).toBe(1)
    expect(results.every((r) => r.source !== 'cache')).toBe(true)
  })

  it('never hands out cached credentials with less than the margin left', async () => {
    // Prepare
    const { cache, sts, clock } = setup({ refreshMarginSeconds: 1200 })
    // Act: one request a minute for four hours
    const remaining: number[] = []
    for (let minute = 0; minute < 240; minute++) {
      const { credentials, source } = await cache.obtain('k', sts.issue)
      if (source === 'cache') remaining.push(credentials.expiration.getTime() - clock.now().getTime())
      clock.advance(60)
    }
    // Assess
    expect(remaining.length).toBeGreaterThan(200)
    expect(Math.min(...remaining)).toBeGreaterThan(1200 * 1000)
    expect(sts.calls()).toBe(6)
  })

  it('does not cache credentials too short-lived for the margin', async () => {
    // Prepare: 1200 s credentials against a 1200 s margin
    const { cache, sts } = setup({}, 1200)
    // Act
    await cache.obtain('k', sts.issue)
    const second = await cache.obtain('k', sts.issue)
    // Assess
    expect(second.source).toBe('sts')
    expect(sts.calls()).toBe(2)
    expect(cache.size).toBe(0)
  })

  it('never uses a margin under 15 minutes, whatever it is given', async () => {
    // Prepare: 1000 s credentials, a configured margin of 60 s
    const { cache, sts, clock } = setup({ refreshMarginSeconds: 60 }, 1000)
    await cache.obtain('k', sts.issue)
    // Act: 101 s later only 899 s would remain
    clock.advance(101)
    const later = await cache.obtain('k', sts.issue)
    // Assess
    expect(later.source).toBe('sts')
    expect(sts.calls()).toBe(2)
  })
})

describe('createCredentialCache: bounds', () => {
  it('evicts the least recently used entry past the entry limit', async () => {
    // Prepare
    const { cache, sts } = setup({ maxEntries: 2 })
    await cache.obtain('a', sts.issue)
    await cache.obtain('b', sts.issue)
    await cache.obtain('a', sts.issue) // a is now the most recently used
    // Act
    await cache.obtain('c', sts.issue)
    const a = await cache.obtain('a', sts.issue)
    const b = await cache.obtain('b', sts.issue)
    // Assess
    expect(a.source).toBe('cache')
    expect(b.source).toBe('sts')
    expect(sts.calls()).toBe(4)
    expect(cache.size).toBe(2)
  })

  it('evicts the least recently used entries past the byte limit', async () => {
    // Prepare: find one entry's size, then allow room for two
    const probe = setup()
    await probe.cache.obtain('a', probe.sts.issue)
    const one = probe.cache.bytes
    const { cache, sts } = setup({ maxBytes: 2 * one + one / 2 })
    // Act
    for (const key of ['a', 'b', 'c']) await cache.obtain(key, sts.issue)
    // Assess
    expect(cache.size).toBe(2)
    expect(cache.bytes).toBe(2 * one)
    expect((await cache.obtain('a', sts.issue)).source).toBe('sts')
    expect((await cache.obtain('c', sts.issue)).source).toBe('cache')
  })

  it('does not keep an entry larger than the whole byte limit', async () => {
    // Prepare
    const { cache, sts } = setup({ maxBytes: 64 })
    // Act
    await cache.obtain('k', sts.issue)
    // Assess
    expect(cache.size).toBe(0)
    expect(cache.bytes).toBe(0)
  })
})

describe('createCredentialCache: failures and invalidation', () => {
  it('gives the callers waiting on a failed call that one error, and caches nothing', async () => {
    // Prepare
    const { cache, sts } = setup()
    const failure = new UpstreamUnavailableError('sts_unavailable')
    sts.hold()
    // Act
    const pending = Array.from({ length: 50 }, () =>
      cache.obtain('k', sts.issue).then(
        () => 'issued',
        (error: unknown) => error,
      ),
    )
    await settle()
    sts.release(failure)
    const outcomes = await Promise.all(pending)
    const next = await cache.obtain('k', sts.issue)
    // Assess
    expect(outcomes.every((outcome) => outcome === failure)).toBe(true)
    expect(next.source).toBe('sts')
    expect(sts.calls()).toBe(2)
    expect((await cache.obtain('k', sts.issue)).source).toBe('cache')
  })

  it('does not cache a call that throws before it answers', async () => {
    // Prepare
    const { cache, sts } = setup()
    const broken = () => {
      throw new Error('synchronous failure')
    }
    // Act
    const outcome = await cache.obtain('k', broken).catch((error: unknown) => error)
    const next = await cache.obtain('k', sts.issue)
    // Assess
    expect((outcome as Error).message).toBe('synchronous failure')
    expect(next.source).toBe('sts')
  })

  it('forgets every entry on invalidate', async () => {
    // Prepare
    const { cache, sts } = setup()
    await cache.obtain('a', sts.issue)
    await cache.obtain('b', sts.issue)
    // Act
    cache.invalidate()
    const a = await cache.obtain('a', sts.issue)
    // Assess
    expect(a.source).toBe('sts')
    expect(sts.calls()).toBe(3)
    expect(cache.size).toBe(1)
  })

  it('does not keep what a call in flight during invalidate answers', async () => {
    // Prepare
    const { cache, sts } = setup()
    sts.hold()
    const before = cache.obtain('k', sts.issue)
    await settle()
    // Act
    cache.invalidate()
    sts.release()
    await before
    const next = await cache.obtain('k', sts.issue)
    // Assess
    expect(next.source).toBe('sts')
    expect(sts.calls()).toBe(2)
  })

  it('lets no call in flight during invalidate fill an entry, or be joined after it', async () => {
    // Prepare
    const { cache, sts } = setup()
    sts.hold()
    const before = cache.obtain('k', sts.issue)
    await settle()
    // Act
    cache.invalidate()
    const after = cache.obtain('k', sts.issue)
    await settle()
    sts.release()
    const [old, fresh] = await Promise.all([before, after])
    const next = await cache.obtain('k', sts.issue)
    // Assess
    expect(old.source).toBe('sts')
    expect(fresh.source).toBe('sts')
    expect(sts.calls()).toBe(2)
    expect(next).toEqual({ credentials: fresh.credentials, source: 'cache' })
  })
})
