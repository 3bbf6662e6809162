// The RoleAssumer port on STS AssumeRoleWithWebIdentity, against moto_server's STS: the
// credentials it hands out are usable, and name the assumed role the way AWS does.
import { generateKeyPairSync } from 'node:crypto'
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, type MotoServer, startMotoServer } from '../../infra/local/processes.js'
import { createLocalSigner } from '../../shared/adapters/local-signer.js'
import { createStsRoleAssumer } from '../../shared/adapters/sts.js'
import { mintBrokerToken } from '../../shared/core/broker-token.js'
import { UpstreamUnavailableError } from '../../shared/core/errors.js'
import { motoStsClient } from '../support/moto.js'

const ACCOUNT = '111122223333'
const ROLE = 'ml-s3-reader'
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/${ROLE}`

let moto: MotoServer

/** A broker token as the exchange would send it (moto does not verify it, real STS would). */
const brokerToken = async (): Promise<string> => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return mintBrokerToken(createLocalSigner(privateKey), {
    issuerUrl: 'https://broker.example.test',
    issuerId: 'onprem-a',
    subject: 'system:serviceaccount:ml:trainer',
    tags: { principalTags: { namespace: 'ml' }, transitiveTagKeys: [] },
    ttlSeconds: 300,
    now: new Date(),
  })
}

beforeAll(async () => {
  moto = await startMotoServer()
})

afterAll(async () => {
  await moto?.stop()
})

describe('the STS role assumer against moto_server', () => {
  it("returns credentials whose assumedRoleArn is arn:aws:sts::<role's account>:assumed-role/<role>/<session> and whose accountId is the role's account", async () => {
    // Prepare
    const client = motoStsClient(moto.endpoint)
    const sts = createStsRoleAssumer(client)
    const before = Date.now()

    try {
      // Act
      const credentials = await sts.assumeRoleWithWebIdentity({
        roleArn: ROLE_ARN,
        sessionName: 'ml.trainer',
        webIdentityToken: await brokerToken(),
        durationSeconds: 900,
      })

      // Assess
      expect(credentials.assumedRoleArn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/${ROLE}/ml.trainer`)
      expect(credentials.accountId).toBe(ACCOUNT)
      expect(credentials.accessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/)
      expect(credentials.secretAccessKey.length).toBeGreaterThanOrEqual(40)
      expect(credentials.sessionToken.length).toBeGreaterThan(0)
      expect(credentials.expiration).toBeInstanceOf(Date)
      // moto honours DurationSeconds: the session ends about 900 s from now.
      const lifetimeSeconds = (credentials.expiration.getTime() - before) / 1000
      expect(lifetimeSeconds).toBeGreaterThan(900 - 60)
      expect(lifetimeSeconds).toBeLessThan(900 + 60)
    } finally {
      client.destroy()
    }
  })

  it('hands out credentials that GetCallerIdentity resolves to the same assumed-role ARN and account', async () => {
    // Prepare
    const client = motoStsClient(moto.endpoint)
    const credentials = await createStsRoleAssumer(client).assumeRoleWithWebIdentity({
      roleArn: ROLE_ARN,
      sessionName: 'caller-identity-check',
      webIdentityToken: await brokerToken(),
      durationSeconds: 3600,
    })
    const asWorkload = motoStsClient(moto.endpoint, {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      sessionToken: credentials.sessionToken,
    })

    try {
      // Act
      const identity = await asWorkload.send(new GetCallerIdentityCommand({}))

      // Assess
      expect(identity.Arn).toBe(credentials.assumedRoleArn)
      expect(identity.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/${ROLE}/caller-identity-check`)
      expect(identity.Account).toBe(credentials.accountId)
    } finally {
      asWorkload.destroy()
      client.destroy()
    }
  })

  it('turns an unreachable STS endpoint into UpstreamUnavailableError (ServiceUnavailable, 503)', async () => {
    // Prepare
    const client = motoStsClient(`http://127.0.0.1:${await freePort()}`)
    const sts = createStsRoleAssumer(client)

    try {
      // Act
      const error = await sts
        .assumeRoleWithWebIdentity({
          roleArn: ROLE_ARN,
          sessionName: 'unreachable',
          webIdentityToken: await brokerToken(),
          durationSeconds: 900,
        })
        .then(
          () => undefined,
          (failure: unknown) => failure,
        )

      // Assess
      expect(error).toBeInstanceOf(UpstreamUnavailableError)
      expect((error as UpstreamUnavailableError).code).toBe('ServiceUnavailable')
      expect((error as UpstreamUnavailableError).statusCode).toBe(503)
    } finally {
      client.destroy()
    }
  })
})
