// Signer port on an asymmetric KMS key (RSA_2048, SIGN_VERIFY): `kms:Sign` signs the broker
// token, `kms:GetPublicKey` (once per key, cached) builds the JWKS. A previous key stays in
// the JWKS during rotation so tokens it signed still verify.
import { createPublicKey } from 'node:crypto'
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms'
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose'
import { UpstreamUnavailableError } from '../core/errors.js'
import type { Signer } from '../core/ports.js'

export interface KmsSignerOptions {
  keyId: string
  previousKeyId?: string | undefined
}

export const createKmsSigner = (client: KMSClient, options: KmsSignerOptions): Signer => {
  const jwkCache = new Map<string, Promise<JWK>>()
  const publicJwk = (keyId: string): Promise<JWK> => {
    let jwk = jwkCache.get(keyId)
    if (!jwk) {
      jwk = (async () => {
        const { PublicKey } = await client.send(new GetPublicKeyCommand({ KeyId: keyId }))
        if (!PublicKey) throw new Error('KMS returned no public key')
        const exported = await exportJWK(
          createPublicKey({ key: Buffer.from(PublicKey), format: 'der', type: 'spki' }),
        )
        const kid = await calculateJwkThumbprint(exported, 'sha256')
        return { ...exported, kid, alg: 'RS256', use: 'sig' }
      })().catch((error: unknown) => {
        jwkCache.delete(keyId)
        throw new UpstreamUnavailableError('kms', { cause: error })
      })
      jwkCache.set(keyId, jwk)
    }
    return jwk
  }

  return {
    algorithm: 'RS256',
    keyId: async () => (await publicJwk(options.keyId)).kid as string,
    async sign(signingInput) {
      try {
        const { Signature } = await client.send(
          new SignCommand({
            KeyId: options.keyId,
            Message: signingInput,
            MessageType: 'RAW',
            SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
          }),
        )
        if (!Signature) throw new Error('KMS returned no signature')
        return Signature
      } catch (error) {
        throw new UpstreamUnavailableError('kms', { cause: error })
      }
    },
    async publicJwks() {
      const ids = options.previousKeyId ? [options.keyId, options.previousKeyId] : [options.keyId]
      return { keys: await Promise.all(ids.map(publicJwk)) }
    },
  }
}
