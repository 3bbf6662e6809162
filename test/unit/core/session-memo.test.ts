// The session memo (shared/core/session-memo.ts): what it keeps — a binding's session for one
// claims object, and its credential-cache keys for one issuer object — and when it computes
// again: another claims object (another token), another binding object (a reload, an admin
// write), another issuer object or duration for the keys.
import { describe, expect, it } from 'vitest'
import { createSessionMemo } from '../../../shared/core/session-memo.js'
import { makeBinding, makeClaims, makeIssuer } from '../fixtures.js'

const tagged = makeBinding({
  sessionName: '{/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}',
  sessionTags: { namespace: '{/kubernetes.io/namespace}' },
})

describe('createSessionMemo: what it keeps', () => {
  it('renders a binding for a claims object once, and hands the same session out again', () => {
    // Prepare
    const memo = createSessionMemo()
    const claims = makeClaims()
    // Act
    const first = memo.sessionOf(tagged, claims)
    const again = memo.sessionOf(tagged, claims)
    // Assess
    expect(again).toBe(first)
    expect(first).toMatchObject({
      sessionName: 'ml.trainer',
      sessionTags: { principalTags: { namespace: 'ml' }, transitiveTagKeys: [] },
    })
  })

  it('keeps one session per binding of the same claims', () => {
    // Prepare
    const memo = createSessionMemo()
    const claims = makeClaims()
    const plain = makeBinding({ bindingId: 'plain' })
    // Act
    const byTemplate = memo.sessionOf(tagged, claims)
    const bySub = memo.sessionOf(plain, claims)
    // Assess
    expect(bySub).not.toBe(byTemplate)
    expect(bySub.sessionName).toBe('onprem-a.ml.trainer')
    expect(memo.sessionOf(tagged, claims)).toBe(byTemplate)
    expect(memo.sessionOf(plain, claims)).toBe(bySub)
  })

  it('keeps a credential-cache key per issuer object and duration, for the session that made it', () => {
    // Prepare
    const memo = createSessionMemo()
    const issuer = makeIssuer()
    const session = memo.sessionOf(tagged, makeClaims())
    // Act
    const before = session.cacheKey(issuer, 3600)
    session.keepCacheKey(issuer, 3600, 'key-3600')
    session.keepCacheKey(issuer, 900, 'key-900')
    // Assess
    expect(before).toBeUndefined()
    expect(session.cacheKey(issuer, 3600)).toBe('key-3600')
    expect(session.cacheKey(issuer, 900)).toBe('key-900')
    expect(session.cacheKey(issuer, 1800)).toBeUndefined()
  })
})

describe('createSessionMemo: when it computes again', () => {
  it('for another claims object, even one with equal claims (another token of the same workload)', () => {
    // Prepare
    const memo = createSessionMemo()
    const first = memo.sessionOf(tagged, makeClaims())
    // Act
    const equalClaims = memo.sessionOf(tagged, makeClaims())
    const otherWorkload = memo.sessionOf(
      tagged,
      makeClaims({
        sub: 'system:serviceaccount:ops:deployer',
        'kubernetes.io': { namespace: 'ops', serviceaccount: { name: 'deployer' } },
      }),
    )
    // Assess
    expect(equalClaims).not.toBe(first)
    expect(equalClaims.sessionName).toBe(first.sessionName)
    expect(otherWorkload.sessionName).toBe('ops.deployer')
    expect(otherWorkload.sessionTags.principalTags).toEqual({ namespace: 'ops' })
  })

  it('for another binding object, as the registry cache hands out after a reload or an admin write', () => {
    // Prepare
    const memo = createSessionMemo()
    const claims = makeClaims()
    const first = memo.sessionOf(tagged, claims)
    // Act: the same binding id, a new version with another template
    const renamed = memo.sessionOf({ ...tagged, sessionName: 'fixed-name', version: 2 }, claims)
    // Assess
    expect(renamed).not.toBe(first)
    expect(renamed.sessionName).toBe('fixed-name')
    expect(memo.sessionOf(tagged, claims)).toBe(first)
  })

  it('forgets every credential-cache key when the keys are asked for under another issuer object', () => {
    // Prepare
    const memo = createSessionMemo()
    const issuer = makeIssuer()
    const reloaded = { ...issuer, version: 2 }
    const session = memo.sessionOf(tagged, makeClaims())
    session.keepCacheKey(issuer, 3600, 'key-v1')
    // Act
    const underReloaded = session.cacheKey(reloaded, 3600)
    session.keepCacheKey(reloaded, 3600, 'key-v2')
    // Assess
    expect(underReloaded).toBeUndefined()
    expect(session.cacheKey(reloaded, 3600)).toBe('key-v2')
    expect(session.cacheKey(issuer, 3600)).toBeUndefined()
  })
})
