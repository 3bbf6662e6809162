// What `npm start` prints: the loopback-JWKS allowance is announced whenever it is on.
import { describe, expect, it } from 'vitest'
import { describeLocalStack } from '../../infra/local/banner.js'
import type { LocalStack } from '../../infra/local/stack.js'

const stackWith = (allowLoopback: boolean): LocalStack => ({
  url: 'http://127.0.0.1:8787',
  port: 8787,
  issuerUrl: 'http://127.0.0.1:8787',
  dataDir: '/tmp/irsa-broker',
  adminToken: 'not-printed-unless-generated',
  adminTokenSource: 'environment',
  signingKey: { path: '/tmp/irsa-broker/signing-key.pem', created: false, kid: 'kid' },
  dynamodb: { endpoint: 'http://127.0.0.1:1', embedded: true },
  sts: { endpoint: 'http://127.0.0.1:2', source: 'moto_server' },
  remoteJwks: { allowLoopback },
  remoteKeysSettled: async () => undefined,
  stop: async () => undefined,
})

describe('describeLocalStack', () => {
  it('says at startup that loopback JWKS URLs are allowed when IRSA_BROKER_ALLOW_LOOPBACK_JWKS=true', () => {
    // Act
    const banner = describeLocalStack(stackWith(true))
    // Assess
    expect(banner).toContain(
      'remote JWKS  http:// and https:// to LOOPBACK ALLOWED (IRSA_BROKER_ALLOW_LOOPBACK_JWKS=true; for tests and demos only)',
    )
  })

  it('says https to public addresses only when the allowance is off', () => {
    // Act
    const banner = describeLocalStack(stackWith(false))
    // Assess
    expect(banner).toContain('remote JWKS  https only, public addresses only')
    expect(banner).not.toContain('LOOPBACK ALLOWED')
  })
})
