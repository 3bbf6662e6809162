import { errors, type JWTVerifyGetKey } from 'jose'
import { describe, expect, it } from 'vitest'
import { createInlineKeyResolver, createIssuerKeyResolver } from '../../../shared/core/keys.js'
import type { Issuer } from '../../../shared/core/model.js'
import { generateRsaKey, makeIssuer } from '../fixtures.js'

const key = await generateRsaKey('k1')

describe('createInlineKeyResolver', () => {
  it('builds the key getter once per issuer object', () => {
    // Prepare
    const resolve = createInlineKeyResolver()
    const issuer = makeIssuer({ jwks: { keys: [key.jwk] } })
    // Act
    const first = resolve(issuer)
    const second = resolve(issuer)
    // Assess
    expect(second).toBe(first)
  })

  it('builds a new key getter for a reloaded issuer object, so new keys take effect', () => {
    // Prepare
    const resolve = createInlineKeyResolver()
    const issuer = makeIssuer({ jwks: { keys: [key.jwk] } })
    // Act
    const before = resolve(issuer)
    const after = resolve({ ...issuer })
    // Assess
    expect(after).not.toBe(before)
  })

  it('gives an issuer without inline keys a getter that matches no key', async () => {
    // Prepare
    const resolve = createInlineKeyResolver()
    const getKey = resolve(makeIssuer({ jwks: undefined }))
    // Act
    const lookup = getKey({ alg: 'RS256', kid: 'k1' }, { payload: '', signature: '' })
    // Assess
    await expect(lookup).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' })
  })
})

describe('createIssuerKeyResolver', () => {
  const recordingRemote = () => {
    const asked: Issuer[] = []
    const getKey: JWTVerifyGetKey = async () => {
      throw new errors.JWKSNoMatchingKey('remote')
    }
    return {
      asked,
      remote: (issuer: Issuer) => {
        asked.push(issuer)
        return getKey
      },
    }
  }

  it.each([
    ['jwksUri', { jwks: undefined, jwksUri: 'https://oidc.example.com/keys' }],
    ['discovery', { jwks: undefined, discovery: true }],
  ])('hands an issuer registered by %s to the remote resolver', (_label, overrides) => {
    // Prepare
    const { asked, remote } = recordingRemote()
    const issuer = makeIssuer(overrides)
    // Act
    createIssuerKeyResolver(remote)(issuer)
    // Assess
    expect(asked).toEqual([issuer])
  })

  it('keeps inline keys local: the remote resolver is never asked for an issuer with jwks', () => {
    // Prepare
    const { asked, remote } = recordingRemote()
    // Act
    createIssuerKeyResolver(remote)(makeIssuer({ jwks: { keys: [key.jwk] } }))
    // Assess
    expect(asked).toEqual([])
  })

  it('matches no key for a remote issuer when there is no remote resolver', async () => {
    // Prepare
    const getKey = createIssuerKeyResolver()(
      makeIssuer({ jwks: undefined, jwksUri: 'https://oidc.example.com/k' }),
    )
    // Act
    const lookup = getKey({ alg: 'RS256', kid: 'k1' }, { payload: '', signature: '' })
    // Assess
    await expect(lookup).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' })
  })
})
