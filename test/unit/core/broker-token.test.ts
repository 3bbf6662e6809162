import { generateKeyPairSync } from 'node:crypto'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import { createLocalSigner } from '../../../shared/adapters/local-signer.js'
import {
  AWS_TAGS_CLAIM,
  BROKER_AUDIENCE,
  brokerSubject,
  MAX_BROKER_TOKEN_TTL_SECONDS,
  mintBrokerToken,
} from '../../../shared/core/broker-token.js'
import type { SessionTags } from '../../../shared/core/session.js'
import { NOW, NOW_SECONDS } from '../fixtures.js'

const BROKER_URL = 'https://broker.example.com'
const signer = createLocalSigner(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)
const otherSigner = createLocalSigner(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)
const noTags: SessionTags = { principalTags: {}, transitiveTagKeys: [] }

const mint = (overrides: { tags?: SessionTags; ttlSeconds?: number; subject?: string } = {}) =>
  mintBrokerToken(signer, {
    issuerUrl: BROKER_URL,
    issuerId: 'onprem-a',
    subject: overrides.subject ?? 'system:serviceaccount:ml:trainer',
    tags: overrides.tags ?? noTags,
    ttlSeconds: overrides.ttlSeconds ?? 300,
    now: NOW,
  })

/** What STS does with the token: verify it against the broker's published JWKS. */
const verifyAsSts = async (token: string, jwks = signer.publicJwks()) =>
  jwtVerify(token, createLocalJWKSet(await jwks), {
    issuer: BROKER_URL,
    audience: BROKER_AUDIENCE,
    algorithms: ['RS256'],
    currentDate: NOW,
  })

describe('mintBrokerToken', () => {
  it('mints an RS256 token that verifies against the signer public JWKS', async () => {
    // Act
    const token = await mint()
    const { payload, protectedHeader } = await verifyAsSts(token)
    // Assess
    expect(protectedHeader).toEqual({ alg: 'RS256', kid: await signer.keyId(), typ: 'JWT' })
    expect(payload).toMatchObject({
      iss: BROKER_URL,
      aud: 'sts.amazonaws.com',
      sub: 'onprem-a:system:serviceaccount:ml:trainer',
      iat: NOW_SECONDS,
      nbf: NOW_SECONDS,
      exp: NOW_SECONDS + 300,
    })
  })

  it('does not verify against another signer key set', async () => {
    // Prepare
    const token = await mint()
    // Act
    const verification = verifyAsSts(token, otherSigner.publicJwks())
    // Assess
    await expect(verification).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' })
  })

  it('names the signer key in kid, which its JWKS publishes', async () => {
    // Act
    const token = await mint()
    const jwks = await signer.publicJwks()
    // Assess
    expect(decodeProtectedHeader(token).kid).toBe(await signer.keyId())
    expect(jwks.keys.map((k) => k.kid)).toContain(await signer.keyId())
  })

  it('publishes only public key members', async () => {
    // Act
    const jwks = await signer.publicJwks()
    // Assess
    for (const key of jwks.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use'])
    }
  })

  it.each([
    [3600, MAX_BROKER_TOKEN_TTL_SECONDS],
    [120, 120],
    [0, 1],
    [-50, 1],
  ])('keeps a requested ttl of %i within 1..300 seconds (%i)', async (ttlSeconds, expected) => {
    // Act
    const token = await mint({ ttlSeconds })
    const [, payloadSegment = ''] = token.split('.')
    const payload = JSON.parse(Buffer.from(payloadSegment, 'base64url').toString('utf8')) as Record<
      string,
      number
    >
    // Assess
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(expected)
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBeLessThanOrEqual(300)
  })

  it('carries session tags in the AWS tags claim shape', async () => {
    // Prepare
    const tags: SessionTags = {
      principalTags: { namespace: 'ml', 'data-plane': 'onprem-a' },
      transitiveTagKeys: ['data-plane'],
    }
    // Act
    const { payload } = await verifyAsSts(await mint({ tags }))
    // Assess
    expect(payload[AWS_TAGS_CLAIM]).toEqual({
      principal_tags: { namespace: ['ml'], 'data-plane': ['onprem-a'] },
      transitive_tag_keys: ['data-plane'],
    })
  })

  it('leaves out transitive_tag_keys when there are none', async () => {
    // Prepare
    const tags: SessionTags = { principalTags: { namespace: 'ml' }, transitiveTagKeys: [] }
    // Act
    const { payload } = await verifyAsSts(await mint({ tags }))
    // Assess
    expect(payload[AWS_TAGS_CLAIM]).toEqual({ principal_tags: { namespace: ['ml'] } })
  })

  it('leaves out the tags claim when there are no tags', async () => {
    // Act
    const { payload } = await verifyAsSts(await mint())
    // Assess
    expect(payload).not.toHaveProperty([AWS_TAGS_CLAIM])
  })

  it('gives every token its own jti', async () => {
    // Act
    const first = await verifyAsSts(await mint())
    const second = await verifyAsSts(await mint())
    // Assess
    expect(typeof first.payload.jti).toBe('string')
    expect(first.payload.jti).not.toBe(second.payload.jti)
  })

  it('prefixes sub with the issuerId so two data planes never share a subject', () => {
    // Act
    const a = brokerSubject('onprem-a', 'system:serviceaccount:ml:trainer')
    const b = brokerSubject('onprem-b', 'system:serviceaccount:ml:trainer')
    // Assess
    expect(a).toBe('onprem-a:system:serviceaccount:ml:trainer')
    expect(a).not.toBe(b)
  })
})
