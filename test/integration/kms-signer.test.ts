// The Signer port on an asymmetric KMS key (moto_server's KMS): broker tokens signed by
// kms:Sign verify against the JWKS built from kms:GetPublicKey, during key rotation too.
import { createHash, createPublicKey } from 'node:crypto'
import { CreateKeyCommand, GetPublicKeyCommand, KMSClient, ReplicateKeyCommand } from '@aws-sdk/client-kms'
import type { Context } from 'aws-lambda'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDiscoveryHandler } from '../../functions/discovery/app.js'
import { type MotoServer, startMotoServer } from '../../infra/local/processes.js'
import { createKmsSigner } from '../../shared/adapters/kms-signer.js'
import { AWS_TAGS_CLAIM, BROKER_AUDIENCE, mintBrokerToken } from '../../shared/core/broker-token.js'
import type { Logger, Signer } from '../../shared/core/ports.js'
import { DUMMY_CREDENTIALS, motoKmsClient } from '../support/moto.js'
import { httpEvent } from '../unit/http/http-event.js'

const BROKER_URL = 'https://broker.example.test'

const quietLogger: Logger = { info: () => {}, warn: () => {}, error: () => {}, metric: () => {} }

let moto: MotoServer
let kms: KMSClient

const createSigningKey = async (): Promise<string> => {
  const { KeyMetadata } = await kms.send(
    new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', Description: 'irsa-broker test' }),
  )
  if (!KeyMetadata?.KeyId) throw new Error('moto created no key')
  return KeyMetadata.KeyId
}

/** RFC 7638 thumbprint of the KMS key's public half, computed without jose. */
const rfc7638Thumbprint = async (keyId: string): Promise<string> => {
  const { PublicKey } = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }))
  if (!PublicKey) throw new Error('moto returned no public key')
  const jwk = createPublicKey({ key: Buffer.from(PublicKey), format: 'der', type: 'spki' }).export({
    format: 'jwk',
  })
  const canonical = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n })
  return createHash('sha256').update(canonical, 'utf8').digest('base64url')
}

const mint = (signer: Signer, now = new Date()) =>
  mintBrokerToken(signer, {
    issuerUrl: BROKER_URL,
    issuerId: 'onprem-a',
    subject: 'system:serviceaccount:ml:trainer',
    tags: { principalTags: { namespace: 'ml', 'data-plane': 'onprem-a' }, transitiveTagKeys: ['data-plane'] },
    ttlSeconds: 300,
    now,
  })

beforeAll(async () => {
  moto = await startMotoServer()
  kms = motoKmsClient(moto.endpoint)
})

afterAll(async () => {
  kms?.destroy()
  await moto?.stop()
})

describe('KMS signer against moto_server', () => {
  it('signs a broker token with kms:Sign that jose verifies against the signer JWKS, claims intact', async () => {
    // Prepare
    const signer = createKmsSigner(kms, { keyId: await createSigningKey() })
    const now = new Date()
    const token = await mint(signer, now)

    // Act
    const { payload, protectedHeader } = await jwtVerify(
      token,
      createLocalJWKSet(await signer.publicJwks()),
      {
        issuer: BROKER_URL,
        audience: BROKER_AUDIENCE,
        algorithms: ['RS256'],
        currentDate: now,
      },
    )

    // Assess
    expect(protectedHeader).toEqual({ alg: 'RS256', kid: await signer.keyId(), typ: 'JWT' })
    expect(payload.sub).toBe('onprem-a:system:serviceaccount:ml:trainer')
    expect(payload.aud).toBe('sts.amazonaws.com')
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300)
    expect(payload[AWS_TAGS_CLAIM]).toEqual({
      principal_tags: { namespace: ['ml'], 'data-plane': ['onprem-a'] },
      transitive_tag_keys: ['data-plane'],
    })
  })

  it('publishes through the discovery handler the issuer and JWKS that verify a KMS-signed broker token, as STS does', async () => {
    // Prepare
    const keyId = await createSigningKey()
    const signer = createKmsSigner(kms, { keyId })
    const discovery = createDiscoveryHandler({ signer, logger: quietLogger, issuerUrl: BROKER_URL })
    const now = new Date()
    const token = await mint(signer, now)

    // Act
    const configuration = await discovery(
      httpEvent({ path: '/.well-known/openid-configuration' }),
      {} as Context,
    )
    const document = JSON.parse(configuration.body ?? '{}')
    const jwksAnswer = await discovery(
      httpEvent({ path: new URL(document.jwks_uri).pathname }),
      {} as Context,
    )
    const verified = await jwtVerify(token, createLocalJWKSet(JSON.parse(jwksAnswer.body ?? '{}')), {
      issuer: document.issuer,
      audience: 'sts.amazonaws.com',
      algorithms: document.id_token_signing_alg_values_supported,
      currentDate: now,
    })

    // Assess
    expect(configuration.statusCode).toBe(200)
    expect(jwksAnswer.statusCode).toBe(200)
    expect(document).toMatchObject({ issuer: BROKER_URL, jwks_uri: `${BROKER_URL}/.well-known/jwks.json` })
    expect(verified.protectedHeader.kid).toBe(await rfc7638Thumbprint(keyId))
    expect(verified.payload.sub).toBe('onprem-a:system:serviceaccount:ml:trainer')
  })

  it('names the key by its RFC 7638 SHA-256 thumbprint in the token header and in the JWKS', async () => {
    // Prepare
    const keyId = await createSigningKey()
    const signer = createKmsSigner(kms, { keyId })
    const expected = await rfc7638Thumbprint(keyId)

    // Act
    const kid = await signer.keyId()
    const jwks = await signer.publicJwks()
    const header = decodeProtectedHeader(await mint(signer))

    // Assess
    expect(kid).toBe(expected)
    expect(header.kid).toBe(expected)
    expect(jwks.keys).toHaveLength(1)
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', e: 'AQAB', kid: expected, alg: 'RS256', use: 'sig' })
    expect(jwks.keys[0]).not.toHaveProperty('d')
  })

  it('serves the previous key beside the current one, so tokens signed before a rotation still verify', async () => {
    // Prepare
    const previousKeyId = await createSigningKey()
    const currentKeyId = await createSigningKey()
    const beforeRotation = createKmsSigner(kms, { keyId: previousKeyId })
    const afterRotation = createKmsSigner(kms, { keyId: currentKeyId, previousKeyId })
    const oldToken = await mint(beforeRotation)
    const newToken = await mint(afterRotation)

    // Act
    const jwks = await afterRotation.publicJwks()
    const keySet = createLocalJWKSet(jwks)
    const verifiedOld = await jwtVerify(oldToken, keySet, { issuer: BROKER_URL, audience: BROKER_AUDIENCE })
    const verifiedNew = await jwtVerify(newToken, keySet, { issuer: BROKER_URL, audience: BROKER_AUDIENCE })

    // Assess
    expect(jwks.keys.map((key) => key.kid)).toEqual([
      await rfc7638Thumbprint(currentKeyId),
      await rfc7638Thumbprint(previousKeyId),
    ])
    expect(verifiedOld.protectedHeader.kid).toBe(await rfc7638Thumbprint(previousKeyId))
    expect(verifiedNew.protectedHeader.kid).toBe(await rfc7638Thumbprint(currentKeyId))
  })

  it('produces a token the JWKS of an unrelated key does not verify (the signature really is the key)', async () => {
    // Prepare
    const signer = createKmsSigner(kms, { keyId: await createSigningKey() })
    const stranger = createKmsSigner(kms, { keyId: await createSigningKey() })
    const token = await mint(signer)
    const strangerJwks = await stranger.publicJwks()
    const forged = `${token.split('.').slice(0, 2).join('.')}.${(await mint(stranger)).split('.')[2]}`

    // Act
    const withStrangerKeys = jwtVerify(token, createLocalJWKSet(strangerJwks))
    const withSwappedSignature = jwtVerify(forged, createLocalJWKSet(await signer.publicJwks()))

    // Assess
    await expect(withStrangerKeys).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' })
    await expect(withSwappedSignature).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    })
  })
})

describe('a multi-Region key (docs/multi-region.md): the primary and its replica in another Region', () => {
  it('publish the same JWKS with the same kid, and a token signed by the replica verifies against the primary Region JWKS', async () => {
    // Prepare: a multi-Region primary in us-east-1 (moto's Region) and its replica in eu-west-1
    const { KeyMetadata } = await kms.send(
      new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', MultiRegion: true }),
    )
    if (!KeyMetadata?.Arn || !KeyMetadata.KeyId) throw new Error('moto created no key')
    const { ReplicaKeyMetadata } = await kms.send(
      new ReplicateKeyCommand({ KeyId: KeyMetadata.KeyId, ReplicaRegion: 'eu-west-1' }),
    )
    if (!ReplicaKeyMetadata?.Arn) throw new Error('moto replicated no key')
    const europe = new KMSClient({
      region: 'eu-west-1',
      endpoint: moto.endpoint,
      credentials: DUMMY_CREDENTIALS,
      maxAttempts: 1,
    })
    const home = createKmsSigner(kms, { keyId: KeyMetadata.Arn })
    const replica = createKmsSigner(europe, { keyId: ReplicaKeyMetadata.Arn })
    const now = new Date()

    // Act
    const [homeJwks, replicaJwks] = [await home.publicJwks(), await replica.publicJwks()]
    const token = await mint(replica, now)
    const { protectedHeader } = await jwtVerify(token, createLocalJWKSet(homeJwks), {
      issuer: BROKER_URL,
      audience: BROKER_AUDIENCE,
      algorithms: ['RS256'],
      currentDate: now,
    })

    // Assess: the ARNs differ by Region only; the kid is the key's thumbprint, not its ARN
    expect(ReplicaKeyMetadata.Arn).not.toBe(KeyMetadata.Arn)
    expect(ReplicaKeyMetadata.Arn.split(':key/')[1]).toBe(KeyMetadata.Arn.split(':key/')[1])
    expect(replicaJwks).toEqual(homeJwks)
    expect(await replica.keyId()).toBe(await home.keyId())
    expect(protectedHeader.kid).toBe(await rfc7638Thumbprint(KeyMetadata.KeyId))
    europe.destroy()
  })
})
