// Bounds on a token's JSON shape: depth, collection sizes and audiences, each refused before
// any key is used and again on the verified claims.
import { describe, expect, it } from 'vitest'
import { isBrokerError } from '../../../shared/core/errors.js'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
import {
  checkJsonShape,
  MAX_AUDIENCES,
  MAX_CLAIM_COLLECTION_SIZE,
  MAX_CLAIMS_DEPTH,
} from '../../../shared/core/limits.js'
import { readUnverifiedToken, verifyWorkloadToken } from '../../../shared/core/verify.js'
import { AUDIENCE } from '../../support/workload-issuer.js'
import { generateRsaKey, makeIssuer, NOW, signCompact, thrownBy, tokenClaims } from '../fixtures.js'

const key = await generateRsaKey('limits')
const issuer = makeIssuer({ jwks: { keys: [key.jwk] } })
const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  signCompact({ alg: 'RS256', kid: 'limits', ...header }, tokenClaims(claims), key.privateKey)

/** An object nested `depth` levels deep counting the outermost one: {"n":{"n":…{}}}. */
const nested = (depth: number): Record<string, unknown> => {
  let value: Record<string, unknown> = {}
  for (let level = 1; level < depth; level++) value = { n: value }
  return value
}

const outcomes = async (token: string) => {
  const read = (() => {
    try {
      readUnverifiedToken(token)
      return 'read'
    } catch (error) {
      return isBrokerError(error) ? `${error.code}:${error.reason}` : 'thrown'
    }
  })()
  const verified = await verifyWorkloadToken(token, [issuer], createInlineKeyResolver(), NOW)
  return { read, verified: verified.ok ? 'verified' : `${verified.error.code}:${verified.error.reason}` }
}

describe('checkJsonShape', () => {
  it('accepts exactly the limits: depth 32, 1000 elements, 1000 members, 50 audiences', () => {
    // Act / Assess
    expect(checkJsonShape(nested(MAX_CLAIMS_DEPTH))).toBeUndefined()
    expect(checkJsonShape({ a: new Array(MAX_CLAIM_COLLECTION_SIZE).fill(0) })).toBeUndefined()
    const members = Object.fromEntries(
      Array.from({ length: MAX_CLAIM_COLLECTION_SIZE }, (_, index) => [`k${index}`, index]),
    )
    expect(checkJsonShape(members)).toBeUndefined()
    expect(checkJsonShape({ aud: new Array(MAX_AUDIENCES).fill('a') })).toBeUndefined()
  })

  it('refuses one past each limit', () => {
    // Act / Assess
    expect(checkJsonShape(nested(MAX_CLAIMS_DEPTH + 1))).toBe('claims_too_deep')
    expect(checkJsonShape({ a: new Array(MAX_CLAIM_COLLECTION_SIZE + 1).fill(0) })).toBe(
      'claims_collection_too_large',
    )
    const members = Object.fromEntries(
      Array.from({ length: MAX_CLAIM_COLLECTION_SIZE + 1 }, (_, index) => [`k${index}`, index]),
    )
    expect(checkJsonShape({ m: members })).toBe('claims_collection_too_large')
    expect(checkJsonShape({ aud: new Array(MAX_AUDIENCES + 1).fill('a') })).toBe('claims_too_many_audiences')
  })

  it('counts arrays as levels of depth like objects', () => {
    // Prepare
    let value: unknown = []
    for (let level = 1; level <= MAX_CLAIMS_DEPTH; level++) value = [value]
    // Act / Assess
    expect(checkJsonShape({ deep: value })).toBe('claims_too_deep')
  })
})

describe('the limits in the validator', () => {
  it('verifies a validly signed token at the depth limit', async () => {
    // Act
    const result = await outcomes(sign({ extra: nested(MAX_CLAIMS_DEPTH - 1) }))
    // Assess
    expect(result).toEqual({ read: 'read', verified: 'verified' })
  })

  it('refuses a validly signed token one level deeper, before the key and after verification', async () => {
    // Act
    const result = await outcomes(sign({ extra: nested(MAX_CLAIMS_DEPTH) }))
    // Assess
    expect(result).toEqual({
      read: 'InvalidIdentityToken:claims_too_deep',
      verified: 'InvalidIdentityToken:claims_too_deep',
    })
  })

  it('refuses a validly signed token with an array over 1000 elements', async () => {
    // Act
    const result = await outcomes(sign({ groups: new Array(MAX_CLAIM_COLLECTION_SIZE + 1).fill(1) }))
    // Assess
    expect(result.read).toBe('InvalidIdentityToken:claims_collection_too_large')
    expect(result.verified).toBe('InvalidIdentityToken:claims_collection_too_large')
  })

  it('refuses a validly signed token with 51 audiences even when one of them is the issuer audience', async () => {
    // Prepare
    const aud = [AUDIENCE, ...Array.from({ length: MAX_AUDIENCES }, (_, index) => `aud-${index}`)]
    // Act
    const result = await outcomes(sign({ aud }))
    // Assess
    expect(result.read).toBe('InvalidIdentityToken:claims_too_many_audiences')
    expect(result.verified).toBe('InvalidIdentityToken:claims_too_many_audiences')
  })

  it('refuses a header nested past the depth limit before any key is used', () => {
    // Act
    const error = thrownBy(() => readUnverifiedToken(sign({}, { x: nested(MAX_CLAIMS_DEPTH) })))
    // Assess
    expect(error).toMatchObject({ code: 'InvalidIdentityToken', reason: 'claims_too_deep' })
  })
})
