// Signer port on a local RSA key file (local mode). Generated once into the data folder
// with mode 0600 and reused, so the broker's JWKS stays stable across restarts.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose'
import type { Signer } from '../core/ports.js'

/** Loads the PEM key at `path`, or creates a 2048-bit RSA key there (0600) when there is none. */
export const loadOrCreateSigningKey = (path: string): { key: KeyObject; created: boolean } => {
  if (existsSync(path)) {
    return { key: createPrivateKey(readFileSync(path, 'utf8')), created: false }
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' })
  chmodSync(path, 0o600)
  return { key: privateKey, created: true }
}

export const createLocalSigner = (privateKey: KeyObject): Signer => {
  const publicJwk: Promise<JWK> = (async () => {
    const jwk = await exportJWK(createPublicKey(privateKey))
    const kid = await calculateJwkThumbprint(jwk, 'sha256')
    return { ...jwk, kid, alg: 'RS256', use: 'sig' }
  })()
  return {
    algorithm: 'RS256',
    keyId: async () => (await publicJwk).kid as string,
    sign: async (signingInput) => sign('sha256', signingInput, privateKey),
    publicJwks: async () => ({ keys: [await publicJwk] }),
  }
}
