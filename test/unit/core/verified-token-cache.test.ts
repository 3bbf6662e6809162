import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose'
import { describe, expect, it } from 'vitest'
import { UpstreamUnavailableError } from '../../../shared/core/errors.js'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
import type { KeyResolver } from '../../../shared/core/ports.js'
import {
  createVerifiedTokenCache,
  type VerifiedTokenCacheOptions,
} from '../../../shared/core/verified-token-cache.js'
import { createTestIssuer } from '../../support/workload-issuer.js'
import { makeIssuer, NOW, NOW_SECONDS } from '../fixtures.js'

const dataPlane = await createTestIssuer({ kid: 'vt-a' })
const other = await createTestIssuer({ kid: 'vt-b' })

const setup = (options: Partial<VerifiedTokenCacheOptions> = {}) =>
  createVerifiedTokenCache({ maxEntries: 100, maxBytes: 1 << 20, ...options })

const issuerA = makeIssuer({ issuerId: 'onprem-a', jwks: dataPlane.jwks })
const mint = (extra: Record<string, unknown> = {}, lifetimeSeconds = 3600) =>
  dataPlane.mint({ iat: NOW_SECONDS, lifetimeSeconds, extraClaims: extra })
const at = (secondsFromNow: number) => new Date(NOW.getTime() + secondsFromNow * 1000)

/** A key resolver over key sets the test replaces, like a remote JWKS refetched. */
const createSwappableKeys = (initial: Record<string, JWTVerifyGetKey>) => {
  const sets = { ...initial }
  const keysFor: KeyResolver = (issuer) => {
    const set = sets[issuer.issuerId]
    if (!set) throw new Error(`no key set for ${issuer.issuerId}`)
    return set
  }
  return {
    keysFor,
    swap: (issuerId: string, set: JWTVerifyGetKey) => {
      sets[issuerId] = set
    },
  }
}

describe('createVerifiedTokenCache: hits', () => {
  it('answers the same token again from memory, without verifying it anew', async () => {
    // Prepare
    const cache = setup()
    const keysFor = createInlineKeyResolver()
    const token = await mint()
    const candidates = [issuerA]
    // Act
    const first = await cache.verify(token, candidates, keysFor, NOW)
    const second = await cache.verify(token, candidates, keysFor, at(60))
    // Assess
    expect(first.ok && second.ok).toBe(true)
    expect(first.fromCache).toBeUndefined()
    expect(second.fromCache).toBe(true)
    // A fresh verification would hand out a new claims object; a remembered one is the same.
    if (!first.ok || !second.ok) throw new Error('unreachable')
    expect(second.claims).toBe(first.claims)
    expect(second.issuer).toBe(issuerA)
    expect(cache.size).toBe(1)
  })

  it('never answers another token from memory, even one for the same workload', async () => {
    // Prepare
    const cache = setup()
    const keysFor = createInlineKeyResolver()
    await cache.verify(await mint({ jti: 'pod-1' }), [issuerA], keysFor, NOW)
    // Act
    const other = await cache.verify(await mint({ jti: 'pod-2' }), [issuerA], keysFor, NOW)
    // Assess
    expect(other.ok).toBe(true)
    expect(other.fromCache).toBeUndefined()
    expect(cache.size).toBe(2)
  })

  it('verifies afresh for explain, and remembers nothing from it', async () => {
    // Prepare
    const cache = setup()
    const keysFor = createInlineKeyResolver()
    const token = await mint()
    await cache.verify(token, [issuerA], keysFor, NOW)
    // Act
    const explained = await cache.verify(token, [issuerA], keysFor, NOW, { explain: true })
    // Assess
    expect(explained.fromCache).toBeUndefined()
    expect(explained.attempts[0]?.claimChecks?.length).toBeGreaterThan(0)
  })
})

describe('createVerifiedTokenCache: recall', () => {
  it('recalls a token that verified, with its verified iss, and nothing for a token it never verified', async () => {
    // Prepare
    const cache = setup()
    const keysFor = createInlineKeyResolver()
    const token = await mint()
    const unseen = await mint({ jti: 'never-verified' })
    // Act
    const before = cache.recall(token)
    await cache.verify(token, [issuerA], keysFor, NOW)
    const after = cache.recall(token)
    // Assess
    expect(before).toBeUndefined()
    expect(after?.iss).toBe(issuerA.issuer)
    expect(cache.recall(unseen)).toBeUndefined()
  })

  it('recalls nothing for what is not a string, for a string over the token size limit, or with the cache off', async () => {
    // Prepare
    const off = setup({ maxEntries: 0 })
    const token = await mint()
    await off.verify(token, [issuerA], createInlineKeyResolver(), NOW)
    // Act + Assess
    expect(off.recall(token)).toBeUndefined()
    expect(setup().recall(undefined)).toBeUndefined()
    expect(setup().recall(42)).toBeUndefined()
    expect(setup().recall('a'.repeat(16 * 1024 + 1))).toBeUndefined()
  })

  it('still refuses a recalled token once its issuer object changed: recall only skips re-reading the string', async () => {
    // Prepare: remembered under issuerA, then the registry hands out a disabled replacement
    const cache = setup()
    const keysFor = createInlineKeyResolver()
    const token = await mint()
    await cache.verify(token, [issuerA], keysFor, NOW)
    const recalled = cache.recall(token)
    const disabled = { ...issuerA, enabled: false, version: issuerA.version + 1 }
    // Act
    const result = await cache.verify(token, [disabled], keysFor, NOW, { recalled })
    // Assess
    expect(recalled).toBeDefined()
    expect(result.ok).toBe(false)
    expect(result.fromCache).toBeUndefined()
    expect(result.attempts).toEqual([{ issuerId: issuerA.issuerId, outcome: 'disabled' }])
  })
})

describe('createVerifiedTokenCache: what ends a remembered result', () => {
  it('the token expiring: past exp plus the skew it is verified again, and refused', async () => {
    // Prepare: exp = NOW + 600, skew 60
    const cache = setup()
    const keysFor = createInlineKeyResolver()
    const token = await mint({}, 600)
    await cache.verify(token, [issuerA], keysFor, NOW)
    // Act
    const inside = await cache.verify(token, [issuerA], keysFor, at(659))
    const after = await cache.verify(token, [issuerA], keysFor, at(660))
    // Assess
    expect(inside).toMatchObject({ ok: true, fromCache: true })
    expect(after.fromCache).toBeUndefined()
    expect(after).toMatchObject({ ok: false, error: { code: 'ExpiredToken' } })
    expect(cache.size).toBe(0)
  })

  it('the clock going back before nbf: verified again, and refused', async () => {
    // Prepare
    const cache = setup()
    const keysFor = createInlineKeyResolver()
    const token = await mint()
    await cache.verify(token, [issuerA], keysFor, NOW)
    // Act
    const early = await cache.verify(token, [issuerA], keysFor, at(-61))
    // Assess
    expect(early.fromCache).toBeUndefined()
    expect(early.ok).toBe(false)
  })

  it('the issuer object being replaced (a new version, a registry reload)', async () => {
    // Prepare
    const cache = setup()
    const keysFor = createInlineKeyResolver()
    const token = await mint()
    await cache.verify(token, [issuerA], keysFor, NOW)
    // Act
    const reloaded = await cache.verify(token, [{ ...issuerA, version: 2 }], keysFor, NOW)
    const again = await cache.verify(token, [{ ...issuerA, version: 2 }], keysFor, NOW)
    // Assess
    expect(reloaded).toMatchObject({ ok: true })
    expect(reloaded.fromCache).toBeUndefined()
    expect(again.fromCache).toBeUndefined()
  })

  it('the issuer being disabled', async () => {
    // Prepare
    const cache = setup()
    const keysFor = createInlineKeyResolver()
    const token = await mint()
    await cache.verify(token, [issuerA], keysFor, NOW)
    // Act
    const disabled = await cache.verify(token, [{ ...issuerA, enabled: false, version: 2 }], keysFor, NOW)
    // Assess
    expect(disabled).toMatchObject({ ok: false, error: { reason: 'issuer_unknown' } })
  })

  it('the key set changing: a new key set object is checked afresh, a removed key refuses', async () => {
    // Prepare
    const cache = setup()
    const keys = createSwappableKeys({ 'onprem-a': createLocalJWKSet(dataPlane.jwks) })
    const token = await mint()
    await cache.verify(token, [issuerA], keys.keysFor, NOW)
    // Act: refetched, the same JWK: new key objects
    keys.swap('onprem-a', createLocalJWKSet(structuredClone(dataPlane.jwks)))
    const refetched = await cache.verify(token, [issuerA], keys.keysFor, NOW)
    const hit = await cache.verify(token, [issuerA], keys.keysFor, NOW)
    // the key is rotated out
    keys.swap('onprem-a', createLocalJWKSet(other.jwks))
    const rotated = await cache.verify(token, [issuerA], keys.keysFor, NOW)
    // Assess
    expect(refetched).toMatchObject({ ok: true })
    expect(refetched.fromCache).toBeUndefined()
    expect(hit.fromCache).toBe(true)
    expect(rotated).toMatchObject({ ok: false, error: { reason: 'signature_not_verified' } })
    expect(cache.size).toBe(0)
  })

  it('an issuer tried first gaining the key: it decides again, as a fresh verification would', async () => {
    // Prepare: two issuers share the iss; "aa" (tried first) holds another key, "bb" the right one
    const cache = setup()
    const first = makeIssuer({ issuerId: 'aa', jwks: other.jwks })
    const second = makeIssuer({ issuerId: 'bb', jwks: dataPlane.jwks })
    const keys = createSwappableKeys({
      aa: createLocalJWKSet({ keys: [] }),
      bb: createLocalJWKSet(dataPlane.jwks),
    })
    const token = await mint()
    const decidedByB = await cache.verify(token, [first, second], keys.keysFor, NOW)
    const hit = await cache.verify(token, [first, second], keys.keysFor, NOW)
    // Act
    keys.swap('aa', createLocalJWKSet(dataPlane.jwks))
    const now = await cache.verify(token, [first, second], keys.keysFor, NOW)
    // Assess
    expect(decidedByB).toMatchObject({ ok: true, issuer: { issuerId: 'bb' } })
    expect(hit).toMatchObject({ ok: true, issuer: { issuerId: 'bb' }, fromCache: true })
    expect(now).toMatchObject({ ok: true, issuer: { issuerId: 'aa' } })
    expect(now.fromCache).toBeUndefined()
  })

  it('a candidate added for the same iss', async () => {
    // Prepare
    const cache = setup()
    const keysFor = createInlineKeyResolver()
    const token = await mint()
    await cache.verify(token, [issuerA], keysFor, NOW)
    const added = makeIssuer({ issuerId: 'aaa-first', jwks: dataPlane.jwks })
    // Act
    const result = await cache.verify(token, [added, issuerA], keysFor, NOW)
    // Assess
    expect(result).toMatchObject({ ok: true, issuer: { issuerId: 'aaa-first' } })
    expect(result.fromCache).toBeUndefined()
  })

  it('invalidate', async () => {
    // Prepare
    const cache = setup()
    const keysFor = createInlineKeyResolver()
    const token = await mint()
    await cache.verify(token, [issuerA], keysFor, NOW)
    // Act
    cache.invalidate()
    const result = await cache.verify(token, [issuerA], keysFor, NOW)
    // Assess
    expect(result.fromCache).toBeUndefined()
    expect(cache.size).toBe(1)
  })
})

describe('createVerifiedTokenCache: what is never remembered', () => {
  it('a refused token', async () => {
    // Prepare
    const cache = setup()
    const keysFor = createInlineKeyResolver()
    const forged = await other.mint({ iat: NOW_SECONDS })
    // Act
    const first = await cache.verify(forged, [issuerA], keysFor, NOW)
    const second = await cache.verify(forged, [issuerA], keysFor, NOW)
    // Assess
    expect(first.ok || second.ok).toBe(false)
    expect(second.fromCache).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('a token that is not strict compact serialization', async () => {
    // Prepare: jose accepts padding in the signature; the broker's strict check does not
    const cache = setup()
    const keysFor = createInlineKeyResolver()
    const padded = `${await mint()}=`
    // Act
    await cache.verify(padded, [issuerA], keysFor, NOW)
    // Assess
    expect(cache.size).toBe(0)
  })

  it('a verification where an issuer tried first could not be reached', async () => {
    // Prepare
    const cache = setup()
    const unreachable = makeIssuer({ issuerId: 'aa' })
    const keysFor: KeyResolver = (issuer) =>
      issuer.issuerId === 'aa'
        ? async () => {
            throw new UpstreamUnavailableError('jwks')
          }
        : createLocalJWKSet(dataPlane.jwks)
    const token = await mint()
    // Act
    const result = await cache.verify(token, [unreachable, issuerA], keysFor, NOW)
    // Assess
    expect(result).toMatchObject({ ok: true, issuer: { issuerId: 'onprem-a' } })
    expect(cache.size).toBe(0)
  })

  it('with 0 entries allowed, anything', async () => {
    // Prepare
    const cache = setup({ maxEntries: 0 })
    const keysFor = createInlineKeyResolver()
    const token = await mint()
    // Act
    await cache.verify(token, [issuerA], keysFor, NOW)
    const second = await cache.verify(token, [issuerA], keysFor, NOW)
    // Assess
    expect(second.fromCache).toBeUndefined()
    expect(cache.size).toBe(0)
  })
})

describe('createVerifiedTokenCache: bounds', () => {
  it('evicts the least recently used token past the entry limit', async () => {
    // Prepare
    const cache = setup({ maxEntries: 2 })
    const keysFor = createInlineKeyResolver()
    const [a, b, c] = await Promise.all([mint({ n: 1 }), mint({ n: 2 }), mint({ n: 3 })])
    const verify = (token: string) => cache.verify(token, [issuerA], keysFor, NOW)
    await verify(a as string)
    await verify(b as string)
    await verify(a as string)
    // Act
    await verify(c as string)
    // Assess
    expect((await verify(a as string)).fromCache).toBe(true)
    expect((await verify(b as string)).fromCache).toBeUndefined()
    expect(cache.size).toBe(2)
  })

  it('evicts past the byte limit', async () => {
    // Prepare: room for about two entries
    const keysFor = createInlineKeyResolver()
    const probe = setup()
    const token = await mint()
    await probe.verify(token, [issuerA], keysFor, NOW)
    const cache = setup({ maxBytes: Math.floor(probe.bytes * 2.5) })
    // Act
    for (let n = 0; n < 4; n++) await cache.verify(await mint({ n }), [issuerA], keysFor, NOW)
    // Assess
    expect(cache.size).toBe(2)
    expect(cache.bytes).toBeLessThanOrEqual(Math.floor(probe.bytes * 2.5))
  })
})
