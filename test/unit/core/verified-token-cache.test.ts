import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose'
import { describe, expect, it } from 'vitest'
import { IdentityProviderUnavailableError } from '../../../shared/core/errors.js'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
import type { Issuer } from '../../../shared/core/model.js'
import type { KeyResolver } from '../../../shared/core/ports.js'
import {
  type CachingTokenVerifier,
  type VerifiedTokenCacheOptions,
  withVerifiedTokenCache,
} from '../../../shared/core/verified-token-cache.js'
import {
  createWorkloadTokenVerifier,
  readUnverifiedToken,
  type VerifyOptions,
} from '../../../shared/core/verify.js'
import { createTestIssuer } from '../../support/workload-issuer.js'
import { makeIssuer, NOW, NOW_SECONDS } from '../fixtures.js'

const dataPlane = await createTestIssuer({ kid: 'vt-a' })
const other = await createTestIssuer({ kid: 'vt-b' })

/** The cache in front of a verifier, both with the same key resolver (as the wiring builds them). */
const setup = (
  options: Partial<VerifiedTokenCacheOptions> = {},
  keysFor: KeyResolver = createInlineKeyResolver(),
): CachingTokenVerifier =>
  withVerifiedTokenCache(createWorkloadTokenVerifier(keysFor), keysFor, {
    maxEntries: 100,
    maxBytes: 1 << 20,
    ...options,
  })

/** A token read afresh (not recalled), then verified through the cache. */
const verifyThrough = (
  cache: CachingTokenVerifier,
  token: string,
  candidates: Issuer[],
  now: Date,
  options?: VerifyOptions,
) => cache.verify(readUnverifiedToken(token), candidates, now, options)

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

describe('withVerifiedTokenCache: hits', () => {
  it('answers the same token again from memory, without verifying it anew', async () => {
    // Prepare
    const cache = setup()
    const token = await mint()
    const candidates = [issuerA]
    // Act
    const first = await verifyThrough(cache, token, candidates, NOW)
    const second = await verifyThrough(cache, token, candidates, at(60))
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
    await verifyThrough(cache, await mint({ jti: 'pod-1' }), [issuerA], NOW)
    // Act
    const other = await verifyThrough(cache, await mint({ jti: 'pod-2' }), [issuerA], NOW)
    // Assess
    expect(other.ok).toBe(true)
    expect(other.fromCache).toBeUndefined()
    expect(cache.size).toBe(2)
  })

  it('verifies afresh for explain, and remembers nothing from it', async () => {
    // Prepare
    const cache = setup()
    const token = await mint()
    await verifyThrough(cache, token, [issuerA], NOW)
    // Act
    const explained = await verifyThrough(cache, token, [issuerA], NOW, { explain: true })
    // Assess
    expect(explained.fromCache).toBeUndefined()
    expect(explained.attempts[0]?.claimChecks?.length).toBeGreaterThan(0)
  })
})

describe('withVerifiedTokenCache: recall', () => {
  it('recalls a token that verified, with its verified iss, and nothing for a token it never verified', async () => {
    // Prepare
    const cache = setup()
    const token = await mint()
    const unseen = await mint({ jti: 'never-verified' })
    // Act
    const before = cache.recall(token)
    await verifyThrough(cache, token, [issuerA], NOW)
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
    await verifyThrough(off, token, [issuerA], NOW)
    // Act + Assess
    expect(off.recall(token)).toBeUndefined()
    expect(setup().recall(undefined)).toBeUndefined()
    expect(setup().recall(42)).toBeUndefined()
    expect(setup().recall('a'.repeat(16 * 1024 + 1))).toBeUndefined()
  })

  it('still refuses a recalled token once its issuer object changed: recall only skips re-reading the string', async () => {
    // Prepare: remembered under issuerA, then the registry hands out a disabled replacement
    const cache = setup()
    const token = await mint()
    await verifyThrough(cache, token, [issuerA], NOW)
    const recalled = cache.recall(token)
    const disabled = { ...issuerA, enabled: false, version: issuerA.version + 1 }
    // Act
    const result = await cache.verify(recalled ?? readUnverifiedToken(token), [disabled], NOW)
    // Assess
    expect(recalled).toBeDefined()
    expect(result.ok).toBe(false)
    expect(result.fromCache).toBeUndefined()
    expect(result.attempts).toEqual([{ issuerId: issuerA.issuerId, outcome: 'disabled' }])
  })
})

describe('withVerifiedTokenCache: what ends a remembered result', () => {
  it('the token expiring: past exp plus the skew it is verified again, and refused', async () => {
    // Prepare: exp = NOW + 600, skew 60
    const cache = setup()
    const token = await mint({}, 600)
    await verifyThrough(cache, token, [issuerA], NOW)
    // Act
    const inside = await verifyThrough(cache, token, [issuerA], at(659))
    const after = await verifyThrough(cache, token, [issuerA], at(660))
    // Assess
    expect(inside).toMatchObject({ ok: true, fromCache: true })
    expect(after.fromCache).toBeUndefined()
    expect(after).toMatchObject({ ok: false, error: { code: 'ExpiredToken' } })
    expect(cache.size).toBe(0)
  })

  it('the clock going back before nbf: verified again, and refused', async () => {
    // Prepare
    const cache = setup()
    const token = await mint()
    await verifyThrough(cache, token, [issuerA], NOW)
    // Act
    const early = await verifyThrough(cache, token, [issuerA], at(-61))
    // Assess
    expect(early.fromCache).toBeUndefined()
    expect(early.ok).toBe(false)
  })

  it('the issuer object being replaced (a new version, a registry reload)', async () => {
    // Prepare
    const cache = setup()
    const token = await mint()
    await verifyThrough(cache, token, [issuerA], NOW)
    // Act
    const reloaded = await verifyThrough(cache, token, [{ ...issuerA, version: 2 }], NOW)
    const again = await verifyThrough(cache, token, [{ ...issuerA, version: 2 }], NOW)
    // Assess
    expect(reloaded).toMatchObject({ ok: true })
    expect(reloaded.fromCache).toBeUndefined()
    expect(again.fromCache).toBeUndefined()
  })

  it('the issuer being disabled', async () => {
    // Prepare
    const cache = setup()
    const token = await mint()
    await verifyThrough(cache, token, [issuerA], NOW)
    // Act
    const disabled = await verifyThrough(cache, token, [{ ...issuerA, enabled: false, version: 2 }], NOW)
    // Assess
    expect(disabled).toMatchObject({ ok: false, error: { reason: 'issuer_unknown' } })
  })

  it('the key set changing: a new key set object is checked afresh, a removed key refuses', async () => {
    // Prepare
    const keys = createSwappableKeys({ 'onprem-a': createLocalJWKSet(dataPlane.jwks) })
    const cache = setup({}, keys.keysFor)
    const token = await mint()
    await verifyThrough(cache, token, [issuerA], NOW)
    // Act: refetched, the same JWK: new key objects
    keys.swap('onprem-a', createLocalJWKSet(structuredClone(dataPlane.jwks)))
    const refetched = await verifyThrough(cache, token, [issuerA], NOW)
    const hit = await verifyThrough(cache, token, [issuerA], NOW)
    // the key is rotated out
    keys.swap('onprem-a', createLocalJWKSet(other.jwks))
    const rotated = await verifyThrough(cache, token, [issuerA], NOW)
    // Assess
    expect(refetched).toMatchObject({ ok: true })
    expect(refetched.fromCache).toBeUndefined()
    expect(hit.fromCache).toBe(true)
    expect(rotated).toMatchObject({ ok: false, error: { reason: 'signature_not_verified' } })
    expect(cache.size).toBe(0)
  })

  it('an issuer tried first gaining the key: it decides again, as a fresh verification would', async () => {
    // Prepare: two issuers share the iss; "aa" (tried first) holds another key, "bb" the right one
    const first = makeIssuer({ issuerId: 'aa', jwks: other.jwks })
    const second = makeIssuer({ issuerId: 'bb', jwks: dataPlane.jwks })
    const keys = createSwappableKeys({
      aa: createLocalJWKSet({ keys: [] }),
      bb: createLocalJWKSet(dataPlane.jwks),
    })
    const cache = setup({}, keys.keysFor)
    const token = await mint()
    const decidedByB = await verifyThrough(cache, token, [first, second], NOW)
    const hit = await verifyThrough(cache, token, [first, second], NOW)
    // Act
    keys.swap('aa', createLocalJWKSet(dataPlane.jwks))
    const now = await verifyThrough(cache, token, [first, second], NOW)
    // Assess
    expect(decidedByB).toMatchObject({ ok: true, issuer: { issuerId: 'bb' } })
    expect(hit).toMatchObject({ ok: true, issuer: { issuerId: 'bb' }, fromCache: true })
    expect(now).toMatchObject({ ok: true, issuer: { issuerId: 'aa' } })
    expect(now.fromCache).toBeUndefined()
  })

  it('a candidate added for the same iss', async () => {
    // Prepare
    const cache = setup()
    const token = await mint()
    await verifyThrough(cache, token, [issuerA], NOW)
    const added = makeIssuer({ issuerId: 'aaa-first', jwks: dataPlane.jwks })
    // Act
    const result = await verifyThrough(cache, token, [added, issuerA], NOW)
    // Assess
    expect(result).toMatchObject({ ok: true, issuer: { issuerId: 'aaa-first' } })
    expect(result.fromCache).toBeUndefined()
  })

  it('invalidate', async () => {
    // Prepare
    const cache = setup()
    const token = await mint()
    await verifyThrough(cache, token, [issuerA], NOW)
    // Act
    cache.invalidate()
    const result = await verifyThrough(cache, token, [issuerA], NOW)
    // Assess
    expect(result.fromCache).toBeUndefined()
    expect(cache.size).toBe(1)
  })
})

describe('withVerifiedTokenCache: what is never remembered', () => {
  it('a refused token', async () => {
    // Prepare
    const cache = setup()
    const forged = await other.mint({ iat: NOW_SECONDS })
    // Act
    const first = await verifyThrough(cache, forged, [issuerA], NOW)
    const second = await verifyThrough(cache, forged, [issuerA], NOW)
    // Assess
    expect(first.ok || second.ok).toBe(false)
    expect(second.fromCache).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('a token that is not strict compact serialization', async () => {
    // Prepare: jose accepts padding in the signature; the broker's strict check does not
    const cache = setup()
    const padded = `${await mint()}=`
    // Act: refused by read, and handed to verify as if read anyway
    const read = (() => {
      try {
        return cache.read(padded)
      } catch (error) {
        return error
      }
    })()
    await cache.verify({ token: padded, iss: issuerA.issuer }, [issuerA], NOW)
    // Assess
    expect(read).toMatchObject({ code: 'InvalidIdentityToken', reason: 'token_malformed' })
    expect(cache.size).toBe(0)
  })

  it('a verification where an issuer tried first could not be reached', async () => {
    // Prepare
    const unreachable = makeIssuer({ issuerId: 'aa' })
    const keysFor: KeyResolver = (issuer) =>
      issuer.issuerId === 'aa'
        ? async () => {
            throw new IdentityProviderUnavailableError('jwks')
          }
        : createLocalJWKSet(dataPlane.jwks)
    const cache = setup({}, keysFor)
    const token = await mint()
    // Act
    const result = await verifyThrough(cache, token, [unreachable, issuerA], NOW)
    // Assess
    expect(result).toMatchObject({ ok: true, issuer: { issuerId: 'onprem-a' } })
    expect(cache.size).toBe(0)
  })

  it('with 0 entries allowed, anything', async () => {
    // Prepare
    const cache = setup({ maxEntries: 0 })
    const token = await mint()
    // Act
    await verifyThrough(cache, token, [issuerA], NOW)
    const second = await verifyThrough(cache, token, [issuerA], NOW)
    // Assess
    expect(second.fromCache).toBeUndefined()
    expect(cache.size).toBe(0)
  })
})

describe('withVerifiedTokenCache: bounds', () => {
  it('evicts the least recently used token past the entry limit', async () => {
    // Prepare
    const cache = setup({ maxEntries: 2 })
    const [a, b, c] = await Promise.all([mint({ n: 1 }), mint({ n: 2 }), mint({ n: 3 })])
    const verify = (token: string) => verifyThrough(cache, token, [issuerA], NOW)
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
    const probe = setup()
    const token = await mint()
    await verifyThrough(probe, token, [issuerA], NOW)
    const cache = setup({ maxBytes: Math.floor(probe.bytes * 2.5) })
    // Act
    for (let n = 0; n < 4; n++) await verifyThrough(cache, await mint({ n }), [issuerA], NOW)
    // Assess
    expect(cache.size).toBe(2)
    expect(cache.bytes).toBeLessThanOrEqual(Math.floor(probe.bytes * 2.5))
  })
})
