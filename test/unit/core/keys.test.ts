import { describe, expect, it } from 'vitest'
import { createInlineKeyResolver } from '../../../shared/core/keys.js'
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
