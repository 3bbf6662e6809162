import { createPublicKey, verify } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { importJWK } from 'jose'
import { afterAll, describe, expect, it } from 'vitest'
import { createLocalSigner, loadOrCreateSigningKey } from '../../../shared/adapters/local-signer.js'

const dir = mkdtempSync(join(tmpdir(), 'irsa-broker-signer-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('loadOrCreateSigningKey', () => {
  it('creates a 2048-bit RSA key file readable only by its owner, then reuses it', () => {
    // Prepare
    const path = join(dir, 'signing-key.pem')
    // Act
    const created = loadOrCreateSigningKey(path)
    const loaded = loadOrCreateSigningKey(path)
    // Assess
    expect(created.created).toBe(true)
    expect(loaded.created).toBe(false)
    expect(created.key.asymmetricKeyDetails?.modulusLength).toBe(2048)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(loaded.key.export({ type: 'pkcs8', format: 'pem' })).toBe(readFileSync(path, 'utf8'))
  })
})

describe('createLocalSigner', () => {
  const { key } = loadOrCreateSigningKey(join(dir, 'signer.pem'))
  const signer = createLocalSigner(key)

  it('signs RS256 signatures that its published key verifies', async () => {
    // Prepare
    const input = new TextEncoder().encode('header.payload')
    // Act
    const signature = await signer.sign(input)
    const [jwk] = (await signer.publicJwks()).keys
    // Assess
    expect(signer.algorithm).toBe('RS256')
    const publicKey = createPublicKey({ key: jwk as never, format: 'jwk' })
    expect(verify('sha256', input, publicKey, signature)).toBe(true)
    expect(await importJWK(jwk ?? {}, 'RS256')).toBeDefined()
  })

  it('names its key by the JWK thumbprint, stable across signer instances', async () => {
    // Act
    const again = createLocalSigner(key)
    // Assess
    expect(await signer.keyId()).toBe(await again.keyId())
    expect(await signer.keyId()).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })
})
