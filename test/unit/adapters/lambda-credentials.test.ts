// The credential chain the Lambda bundles use instead of the SDK's default one (scripts/build.mjs
// aliases it): the execution role's credentials from the environment, and a provider error when
// they are not there (no container endpoint, no file, no profile: docs/decisions.md "Bundle size").
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defaultProvider } from '../../../shared/adapters/lambda-credentials.js'
import { json, type LoopbackServer, startLoopbackServer } from '../../support/loopback-server.js'

const VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_PROFILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
]

describe('the Lambda credential chain (shared/adapters/lambda-credentials.ts)', () => {
  let server: LoopbackServer | undefined

  beforeEach(() => {
    for (const name of VARIABLES) vi.stubEnv(name, undefined)
  })

  afterEach(async () => {
    vi.unstubAllEnvs()
    await server?.stop()
    server = undefined
  })

  it('answers the execution role credentials Lambda puts in the environment', async () => {
    // Prepare
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'ASIALAMBDAROLE000000')
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'lambda-role-secret')
    vi.stubEnv('AWS_SESSION_TOKEN', 'lambda-role-session-token')

    // Act
    const credentials = await defaultProvider()()

    // Assess
    expect(credentials).toMatchObject({
      accessKeyId: 'ASIALAMBDAROLE000000',
      secretAccessKey: 'lambda-role-secret',
      sessionToken: 'lambda-role-session-token',
    })
  })

  it('does not look for a container credentials endpoint: the chain is the environment alone', async () => {
    // Prepare: an endpoint the SDK's default chain would call
    server = await startLoopbackServer(
      json({
        AccessKeyId: 'ASIACONTAINER0000000',
        SecretAccessKey: 'container-secret',
        Token: 'container-session-token',
        Expiration: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    )
    vi.stubEnv('AWS_CONTAINER_CREDENTIALS_FULL_URI', `${server.url}/credentials`)

    // Act
    const failure = await defaultProvider()().then(
      () => undefined,
      (error: unknown) => error,
    )

    // Assess
    expect(failure).toMatchObject({ name: 'CredentialsProviderError' })
    expect(server.requests).toEqual([])
  })

  it('fails with a provider error, and reads no file nor profile, when the environment holds no keys', async () => {
    // Prepare
    vi.stubEnv('AWS_PROFILE', 'a-profile-the-default-chain-would-read')

    // Act
    const failure = await defaultProvider()().then(
      () => undefined,
      (error: unknown) => error,
    )

    // Assess
    expect(failure).toMatchObject({ name: 'CredentialsProviderError' })
    expect(String((failure as Error).message)).toMatch(/environment variable credentials/)
  })
})
