import { generateKeyPairSync } from 'node:crypto'
import { exportJWK, type JWK } from 'jose'
import { describe, expect, it } from 'vitest'
import { checkJwks, type KeyProblem, MAX_KEYS } from '../../../shared/core/jwks.js'
import type { SigningAlgorithm } from '../../../shared/core/model.js'
import { generateEcKey, generateRsaKey } from '../fixtures.js'

const rsa = await generateRsaKey('rsa-1')
const rsaTwo = await generateRsaKey('rsa-2')
const ec256 = await generateEcKey('ec-256', 'P-256')
const ec384 = await generateEcKey('ec-384', 'P-384')
const rsa1024 = await generateRsaKey('rsa-1024', 1024)
const ed25519 = { ...(await exportJWK(generateKeyPairSync('ed25519').publicKey)), kid: 'ed-1' }
const rsaPrivate = {
  ...(await exportJWK(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)),
  kid: 'p',
}

const DEFAULT_ALGORITHMS: SigningAlgorithm[] = ['RS256', 'ES256']

const problemOf = async (
  jwks: unknown,
  algorithms: SigningAlgorithm[] = DEFAULT_ALGORITHMS,
): Promise<KeyProblem> => {
  const result = await checkJwks(jwks, algorithms)
  if (!('field' in result)) throw new Error('expected the key set to be refused')
  return result
}

describe('checkJwks: accepted key sets', () => {
  it('accepts RSA and EC public keys and returns the key set unchanged', async () => {
    // Prepare
    const keys: JWK[] = [
      { ...rsa.jwk, alg: 'RS256', use: 'sig' },
      { ...ec256.jwk, alg: 'ES256', key_ops: ['verify'] },
    ]
    // Act
    const result = await checkJwks({ keys }, DEFAULT_ALGORITHMS)
    // Assess
    expect(result).toEqual({ jwks: { keys } })
  })

  it('accepts keys without kid, alg or use', async () => {
    // Prepare
    const { kid: _kid, ...anonymous } = rsa.jwk
    // Act
    const result = await checkJwks({ keys: [anonymous] }, DEFAULT_ALGORITHMS)
    // Assess
    expect('jwks' in result).toBe(true)
  })

  it('accepts an Ed25519 key when the issuer allows EdDSA', async () => {
    // Act
    const result = await checkJwks({ keys: [ed25519] }, ['EdDSA'])
    // Assess
    expect('jwks' in result).toBe(true)
  })

  it('accepts a P-384 key for an issuer allowing ES384', async () => {
    // Act
    const result = await checkJwks({ keys: [{ ...ec384.jwk, alg: 'ES384' }] }, ['ES384'])
    // Assess
    expect('jwks' in result).toBe(true)
  })
})

describe('checkJwks: key hygiene', () => {
  it('refuses an RSA key with public exponent 1 (anyone could forge with it)', async () => {
    // Prepare
    const forgeable = { ...rsa.jwk, e: 'AQ' }
    // Act
    const problem = await problemOf({ keys: [forgeable] })
    // Assess
    expect(problem).toEqual({ field: 'keys[0].e', message: expect.stringContaining('65537') })
  })

  it('refuses an RSA key with exponent 3', async () => {
    // Act
    const problem = await problemOf({ keys: [{ ...rsa.jwk, e: 'Aw' }] })
    // Assess
    expect(problem.field).toBe('keys[0].e')
  })

  it('refuses an RSA key under 2048 bits', async () => {
    // Act
    const problem = await problemOf({ keys: [rsa1024.jwk] })
    // Assess
    expect(problem).toEqual({ field: 'keys[0].n', message: 'RSA keys must have at least 2048 bits' })
  })

  it('counts modulus bits without leading zero bytes', async () => {
    // Prepare: a 1024-bit modulus padded with zero bytes to look 2048 bits long
    const padded = Buffer.concat([Buffer.alloc(128), Buffer.from(rsa1024.jwk.n ?? '', 'base64url')])
    const disguised = { ...rsa1024.jwk, n: padded.toString('base64url') }
    // Act
    const problem = await problemOf({ keys: [disguised] })
    // Assess
    expect(problem.field).toBe('keys[0].n')
  })

  it('refuses an RSA modulus that is not base64url', async () => {
    // Act
    const problem = await problemOf({ keys: [{ ...rsa.jwk, n: `${rsa.jwk.n}==` }] })
    // Assess
    expect(problem).toEqual({ field: 'keys[0].n', message: 'must be base64url' })
  })

  it.each(['d', 'p', 'q', 'dp', 'dq', 'qi'])(
    'refuses a key carrying the private member %s',
    async (member) => {
      // Prepare
      const leaked = { ...rsa.jwk, [member]: (rsaPrivate as Record<string, unknown>)[member] }
      // Act
      const problem = await problemOf({ keys: [leaked] })
      // Assess
      expect(problem).toEqual({
        field: `keys[0].${member}`,
        message: 'private or symmetric key material is not accepted',
      })
    },
  )

  it('refuses a whole RSA private key', async () => {
    // Act
    const problem = await problemOf({ keys: [rsaPrivate] })
    // Assess
    expect(problem.message).toBe('private or symmetric key material is not accepted')
  })

  it('refuses a symmetric (oct) key with its secret', async () => {
    // Prepare
    const secret = {
      kty: 'oct',
      k: Buffer.from('a shared secret of 32 bytes!!!!!').toString('base64url'),
      alg: 'HS256',
    }
    // Act
    const problem = await problemOf({ keys: [secret] })
    // Assess
    expect(problem).toEqual({
      field: 'keys[0].k',
      message: 'private or symmetric key material is not accepted',
    })
  })

  it('refuses an oct key even without its k member', async () => {
    // Act
    const problem = await problemOf({ keys: [{ kty: 'oct', kid: 'hmac' }] })
    // Assess
    expect(problem.field).toBe('keys[0].kty')
    expect(problem.message).toContain('symmetric keys are never accepted')
  })

  it('refuses a duplicate kid and names the second key', async () => {
    // Prepare
    const keys = [rsa.jwk, { ...rsaTwo.jwk, kid: rsa.jwk.kid }]
    // Act
    const problem = await problemOf({ keys })
    // Assess
    expect(problem).toEqual({ field: 'keys[1].kid', message: `duplicate kid "${rsa.jwk.kid}"` })
  })

  it.each([
    ['an empty kid', ''],
    ['a numeric kid', 7],
    ['a kid over 256 characters', 'k'.repeat(257)],
  ])('refuses %s', async (_label, kid) => {
    // Act
    const problem = await problemOf({ keys: [{ ...rsa.jwk, kid }] })
    // Assess
    expect(problem.field).toBe('keys[0].kid')
  })

  it('refuses use "enc"', async () => {
    // Act
    const problem = await problemOf({ keys: [{ ...rsa.jwk, use: 'enc' }] })
    // Assess
    expect(problem).toEqual({ field: 'keys[0].use', message: 'must be "sig" when present' })
  })

  it('refuses key_ops without "verify"', async () => {
    // Act
    const problem = await problemOf({ keys: [{ ...rsa.jwk, key_ops: ['encrypt'] }] })
    // Assess
    expect(problem.field).toBe('keys[0].key_ops')
  })

  it('refuses a key alg that the issuer does not allow', async () => {
    // Act
    const problem = await problemOf({ keys: [{ ...rsa.jwk, alg: 'RS512' }] })
    // Assess
    expect(problem.field).toBe('keys[0].alg')
    expect(problem.message).toContain('RS256, ES256')
  })

  it('refuses an RSA key labelled with an EC algorithm', async () => {
    // Act
    const problem = await problemOf({ keys: [{ ...rsa.jwk, alg: 'ES256' }] })
    // Assess
    expect(problem).toEqual({ field: 'keys[0].alg', message: 'ES256 does not fit an RSA key' })
  })

  it('refuses a P-256 key labelled ES384', async () => {
    // Act
    const problem = await problemOf({ keys: [{ ...ec256.jwk, alg: 'ES384' }] }, ['ES256', 'ES384'])
    // Assess
    expect(problem).toEqual({ field: 'keys[0].alg', message: 'P-256 keys sign with ES256' })
  })

  it('refuses an EC key on an unsupported curve', async () => {
    // Act
    const problem = await problemOf({ keys: [{ ...ec256.jwk, crv: 'secp256k1' }] })
    // Assess
    expect(problem.field).toBe('keys[0].crv')
  })

  it('refuses an EC key without y', async () => {
    // Prepare
    const { y: _y, ...halfPoint } = ec256.jwk
    // Act
    const problem = await problemOf({ keys: [halfPoint] })
    // Assess
    expect(problem).toEqual({ field: 'keys[0]', message: 'EC keys need x and y' })
  })

  it('refuses an EC key whose point is not on the curve (import fails)', async () => {
    // Prepare
    const offCurve = { ...ec256.jwk, y: ec256.jwk.x }
    // Act
    const problem = await problemOf({ keys: [offCurve] })
    // Assess
    expect(problem).toEqual({ field: 'keys[0]', message: 'is not a usable public key' })
  })

  it('refuses an Ed25519 key when the issuer does not allow EdDSA', async () => {
    // Act
    const problem = await problemOf({ keys: [ed25519] })
    // Assess
    expect(problem.field).toBe('keys[0].crv')
    expect(problem.message).toContain('EdDSA')
  })

  it('refuses OKP keys other than Ed25519', async () => {
    // Prepare
    const x25519 = { ...(await exportJWK(generateKeyPairSync('x25519').publicKey)), kid: 'x' }
    // Act
    const problem = await problemOf({ keys: [x25519] }, ['EdDSA'])
    // Assess
    expect(problem).toEqual({ field: 'keys[0].crv', message: 'only Ed25519 is accepted for OKP keys' })
  })

  it('names the offending key by its index in the set', async () => {
    // Act
    const problem = await problemOf({ keys: [rsa.jwk, ec256.jwk, { ...rsaTwo.jwk, e: 'AQ' }] })
    // Assess
    expect(problem.field).toBe('keys[2].e')
  })
})

describe('checkJwks: structure', () => {
  it.each([
    ['null', null],
    ['an array', []],
    ['an object without keys', { key: [] }],
    ['keys that are not an array', { keys: {} }],
  ])('refuses %s as a key set', async (_label, jwks) => {
    // Act
    const problem = await problemOf(jwks)
    // Assess
    expect(problem).toEqual({ field: 'keys', message: 'must be an object with a "keys" array' })
  })

  it('refuses an empty key set', async () => {
    // Act
    const problem = await problemOf({ keys: [] })
    // Assess
    expect(problem.field).toBe('keys')
  })

  it('refuses more than the maximum number of keys', async () => {
    // Prepare
    const keys = Array.from({ length: MAX_KEYS + 1 }, (_, i) => ({ ...rsa.jwk, kid: `k${i}` }))
    // Act
    const problem = await problemOf({ keys })
    // Assess
    expect(problem).toEqual({ field: 'keys', message: `must hold 1 to ${MAX_KEYS} keys` })
  })

  it.each([
    ['a string', 'key'],
    ['null', null],
    ['an array', [rsa.jwk]],
  ])('refuses a key that is %s', async (_label, key) => {
    // Act
    const problem = await problemOf({ keys: [key] })
    // Assess
    expect(problem).toEqual({ field: 'keys[0]', message: 'must be a JWK object' })
  })
})
