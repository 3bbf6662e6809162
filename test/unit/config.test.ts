import { describe, expect, it } from 'vitest'
import { ConfigError, type Env, loadLambdaConfig, loadLocalConfig } from '../../shared/config.js'

const lambdaEnv = (overrides: Env = {}): Env => ({
  IRSA_BROKER_ISSUER_URL: 'https://broker.example.com',
  IRSA_BROKER_TABLE: 'irsa-broker-prod',
  IRSA_BROKER_KMS_KEY_ID: 'alias/irsa-broker',
  ...overrides,
})

const configErrorOf = (load: () => unknown): ConfigError => {
  try {
    load()
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('loadLambdaConfig', () => {
  it('parses a complete environment with the documented defaults', () => {
    // Act
    const config = loadLambdaConfig(lambdaEnv())
    // Assess
    expect(config).toEqual({
      region: 'us-east-1',
      tableName: 'irsa-broker-prod',
      issuerUrl: 'https://broker.example.com',
      cacheTtlSeconds: 30,
      negativeCacheSize: 1000,
      brokerTokenTtlSeconds: 300,
      credentialCache: { maxEntries: 10_000, maxBytes: 32 * 2 ** 20, refreshMarginSeconds: 1200 },
      verifiedTokenCache: { maxEntries: 10_000, maxBytes: 32 * 2 ** 20 },
      cacheStaleSeconds: 300,
      timeouts: {
        requestDeadlineMs: 800,
        connectMs: 200,
        stsMs: 500,
        kmsMs: 300,
        dynamodbMs: 250,
        stsMaxAttempts: 3,
        registryRefreshWaitMs: 100,
        jwksRequestMs: 500,
      },
      endpoints: { sts: undefined, dynamodb: undefined, kms: undefined },
      kmsKeyId: 'alias/irsa-broker',
      kmsPreviousKeyId: undefined,
    })
  })

  it('returns a frozen object, nested members included', () => {
    // Act
    const config = loadLambdaConfig(lambdaEnv())
    // Assess
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.endpoints)).toBe(true)
    expect(Object.isFrozen(config.credentialCache)).toBe(true)
    expect(Object.isFrozen(config.verifiedTokenCache)).toBe(true)
    expect(Object.isFrozen(config.timeouts)).toBe(true)
    expect(() => {
      ;(config as { tableName: string }).tableName = 'other'
    }).toThrow(TypeError)
  })

  it.each(['IRSA_BROKER_ISSUER_URL', 'IRSA_BROKER_TABLE', 'IRSA_BROKER_KMS_KEY_ID'])(
    'fails naming %s when it is missing',
    (variable) => {
      // Act
      const error = configErrorOf(() => loadLambdaConfig(lambdaEnv({ [variable]: undefined })))
      // Assess
      expect(error.variable).toBe(variable)
      expect(error.message).toBe(`${variable}: is required`)
    },
  )

  it('treats a blank value as missing', () => {
    // Act
    const error = configErrorOf(() => loadLambdaConfig(lambdaEnv({ IRSA_BROKER_TABLE: '   ' })))
    // Assess
    expect(error.variable).toBe('IRSA_BROKER_TABLE')
  })

  it('requires an https issuer URL in Lambda', () => {
    // Act
    const error = configErrorOf(() =>
      loadLambdaConfig(lambdaEnv({ IRSA_BROKER_ISSUER_URL: 'http://broker.example.com' })),
    )
    // Assess
    expect(error).toMatchObject({
      variable: 'IRSA_BROKER_ISSUER_URL',
      message: 'IRSA_BROKER_ISSUER_URL: must use https:',
    })
  })

  it('refuses an issuer URL that is not a URL', () => {
    // Act
    const error = configErrorOf(() =>
      loadLambdaConfig(lambdaEnv({ IRSA_BROKER_ISSUER_URL: 'broker.example.com' })),
    )
    // Assess
    expect(error.variable).toBe('IRSA_BROKER_ISSUER_URL')
  })

  it('drops trailing slashes from the issuer URL, so iss is one exact string', () => {
    // Act
    const config = loadLambdaConfig(
      lambdaEnv({ IRSA_BROKER_ISSUER_URL: 'https://broker.example.com/prod//' }),
    )
    // Assess
    expect(config.issuerUrl).toBe('https://broker.example.com/prod')
  })

  it.each([
    ['IRSA_BROKER_CACHE_TTL_SECONDS', 'soon', 'must be an integer, got "soon"'],
    ['IRSA_BROKER_CACHE_TTL_SECONDS', '1.5', 'must be an integer, got "1.5"'],
    ['IRSA_BROKER_CACHE_TTL_SECONDS', '3601', 'must be between 0 and 3600, got 3601'],
    ['IRSA_BROKER_NEGATIVE_CACHE_SIZE', '0', 'must be between 1 and 1000000, got 0'],
    ['IRSA_BROKER_TOKEN_TTL_SECONDS', '301', 'must be between 60 and 300, got 301'],
    ['IRSA_BROKER_TOKEN_TTL_SECONDS', '-5', 'must be between 60 and 300, got -5'],
    ['IRSA_BROKER_CREDENTIAL_CACHE_REFRESH_MARGIN_SECONDS', '899', 'must be between 900 and 43200, got 899'],
    ['IRSA_BROKER_CREDENTIAL_CACHE_MAX_ENTRIES', '-1', 'must be between 0 and 1000000, got -1'],
    ['IRSA_BROKER_CREDENTIAL_CACHE_MAX_BYTES', '1024', 'must be between 65536 and 1073741824, got 1024'],
    ['IRSA_BROKER_VERIFIED_TOKEN_CACHE_MAX_ENTRIES', '1.5', 'must be an integer, got "1.5"'],
    [
      'IRSA_BROKER_VERIFIED_TOKEN_CACHE_MAX_BYTES',
      '2000000000',
      'must be between 65536 and 1073741824, got 2000000000',
    ],
    ['AWS_ENDPOINT_URL_STS', '::5000', 'must be a URL, got "::5000"'],
    ['AWS_ENDPOINT_URL_STS', 'localhost:5000', 'must use http: or https:'],
    ['AWS_ENDPOINT_URL_DYNAMODB', 'ftp://db', 'must use http: or https:'],
  ])('fails naming %s for the value %j', (variable, value, detail) => {
    // Act
    const error = configErrorOf(() => loadLambdaConfig(lambdaEnv({ [variable]: value })))
    // Assess
    expect(error.variable).toBe(variable)
    expect(error.message).toBe(`${variable}: ${detail}`)
  })

  it('reads tunables, endpoints and the previous KMS key', () => {
    // Act
    const config = loadLambdaConfig(
      lambdaEnv({
        AWS_REGION: 'eu-west-1',
        IRSA_BROKER_CACHE_TTL_SECONDS: '0',
        IRSA_BROKER_NEGATIVE_CACHE_SIZE: '50',
        IRSA_BROKER_TOKEN_TTL_SECONDS: '60',
        IRSA_BROKER_CREDENTIAL_CACHE_MAX_ENTRIES: '0',
        IRSA_BROKER_CREDENTIAL_CACHE_MAX_BYTES: '65536',
        IRSA_BROKER_CREDENTIAL_CACHE_REFRESH_MARGIN_SECONDS: '900',
        IRSA_BROKER_VERIFIED_TOKEN_CACHE_MAX_ENTRIES: '0',
        IRSA_BROKER_VERIFIED_TOKEN_CACHE_MAX_BYTES: '131072',
        AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:5000/',
        IRSA_BROKER_KMS_PREVIOUS_KEY_ID: 'alias/old',
      }),
    )
    // Assess
    expect(config).toMatchObject({
      region: 'eu-west-1',
      cacheTtlSeconds: 0,
      negativeCacheSize: 50,
      brokerTokenTtlSeconds: 60,
      credentialCache: { maxEntries: 0, maxBytes: 65536, refreshMarginSeconds: 900 },
      verifiedTokenCache: { maxEntries: 0, maxBytes: 131072 },
      endpoints: { sts: 'http://127.0.0.1:5000' },
      kmsPreviousKeyId: 'alias/old',
    })
  })

  it('falls back to AWS_DEFAULT_REGION', () => {
    // Act
    const config = loadLambdaConfig(lambdaEnv({ AWS_DEFAULT_REGION: 'ap-south-1' }))
    // Assess
    expect(config.region).toBe('ap-south-1')
  })
})

describe('loadLocalConfig', () => {
  it('has a deliberate default for everything', () => {
    // Act
    const config = loadLocalConfig({})
    // Assess
    expect(config).toMatchObject({
      port: 8787,
      dataDir: './.irsa-broker',
      issuerUrl: 'http://127.0.0.1:8787',
      tableName: 'irsa-broker',
      adminToken: undefined,
      allowLoopbackJwks: false,
      explicitIssuerUrl: false,
      region: 'us-east-1',
    })
    expect(Object.isFrozen(config)).toBe(true)
  })

  it('follows PORT in the default issuer URL', () => {
    // Act
    const config = loadLocalConfig({ PORT: '9000' })
    // Assess
    expect(config.issuerUrl).toBe('http://127.0.0.1:9000')
  })

  it('takes an explicit issuer URL and says so', () => {
    // Act
    const config = loadLocalConfig({ IRSA_BROKER_ISSUER_URL: 'https://tunnel.example.com/' })
    // Assess
    expect(config).toMatchObject({ issuerUrl: 'https://tunnel.example.com', explicitIssuerUrl: true })
  })

  it('fails naming IRSA_BROKER_ADMIN_TOKEN when it is shorter than 16 characters', () => {
    // Act
    const error = configErrorOf(() => loadLocalConfig({ IRSA_BROKER_ADMIN_TOKEN: 'short' }))
    // Assess
    expect(error.variable).toBe('IRSA_BROKER_ADMIN_TOKEN')
    expect(error.message).not.toContain('short')
  })

  it.each([
    ['true', true],
    ['false', false],
  ])('reads IRSA_BROKER_ALLOW_LOOPBACK_JWKS=%s', (value, expected) => {
    // Act
    const config = loadLocalConfig({ IRSA_BROKER_ALLOW_LOOPBACK_JWKS: value })
    // Assess
    expect(config.allowLoopbackJwks).toBe(expected)
  })

  it.each([
    ['IRSA_BROKER_ALLOW_LOOPBACK_JWKS', 'yes'],
    ['PORT', '70000'],
    ['PORT', 'eighty'],
  ])('fails naming %s for the value %j', (variable, value) => {
    // Act
    const error = configErrorOf(() => loadLocalConfig({ [variable]: value }))
    // Assess
    expect(error.variable).toBe(variable)
    expect(error.message.startsWith(`${variable}: `)).toBe(true)
  })
})

describe('deadlines, timeouts and the stale window', () => {
  it('reads every limit of the request path from its variable', () => {
    // Act
    const config = loadLambdaConfig(
      lambdaEnv({
        IRSA_BROKER_REQUEST_DEADLINE_MS: '900',
        IRSA_BROKER_CONNECT_TIMEOUT_MS: '100',
        IRSA_BROKER_STS_TIMEOUT_MS: '600',
        IRSA_BROKER_KMS_TIMEOUT_MS: '400',
        IRSA_BROKER_DYNAMODB_TIMEOUT_MS: '150',
        IRSA_BROKER_STS_MAX_ATTEMPTS: '1',
        IRSA_BROKER_REGISTRY_REFRESH_WAIT_MS: '0',
        IRSA_BROKER_JWKS_REQUEST_TIMEOUT_MS: '700',
        IRSA_BROKER_CACHE_STALE_SECONDS: '0',
      }),
    )
    // Assess
    expect(config.timeouts).toEqual({
      requestDeadlineMs: 900,
      connectMs: 100,
      stsMs: 600,
      kmsMs: 400,
      dynamodbMs: 150,
      stsMaxAttempts: 1,
      registryRefreshWaitMs: 0,
      jwksRequestMs: 700,
    })
    expect(config.cacheStaleSeconds).toBe(0)
  })

  it.each([
    ['IRSA_BROKER_REQUEST_DEADLINE_MS', '29001', 'must be between 50 and 29000, got 29001'],
    ['IRSA_BROKER_REQUEST_DEADLINE_MS', '0', 'must be between 50 and 29000, got 0'],
    ['IRSA_BROKER_STS_TIMEOUT_MS', '5', 'must be between 10 and 29000, got 5'],
    ['IRSA_BROKER_DYNAMODB_TIMEOUT_MS', 'fast', 'must be an integer, got "fast"'],
    ['IRSA_BROKER_STS_MAX_ATTEMPTS', '0', 'must be between 1 and 10, got 0'],
    ['IRSA_BROKER_CACHE_STALE_SECONDS', '86401', 'must be between 0 and 86400, got 86401'],
    [
      'IRSA_BROKER_JWKS_REQUEST_TIMEOUT_MS',
      '800',
      'must be less than IRSA_BROKER_REQUEST_DEADLINE_MS (800), got 800',
    ],
  ])('fails naming %s for the value %j', (variable, value, detail) => {
    // Act
    const error = configErrorOf(() => loadLocalConfig({ [variable]: value }))
    // Assess
    expect(error.message).toBe(`${variable}: ${detail}`)
  })
})

describe('IRSA_BROKER_HOME_REGION (multi-Region stages)', () => {
  it('is undefined unless set, and read as given in Lambda and in local mode', () => {
    // Act
    const unset = loadLambdaConfig(lambdaEnv())
    const lambda = loadLambdaConfig(
      lambdaEnv({ AWS_REGION: 'eu-west-1', IRSA_BROKER_HOME_REGION: 'us-east-1' }),
    )
    const local = loadLocalConfig({ IRSA_BROKER_HOME_REGION: 'ap-southeast-2' })

    // Assess
    expect(unset.homeRegion).toBeUndefined()
    expect([lambda.region, lambda.homeRegion]).toEqual(['eu-west-1', 'us-east-1'])
    expect(local.homeRegion).toBe('ap-southeast-2')
  })

  it.each(['eu-west', 'EU-WEST-1', 'https://eu-west-1', 'eu-west-1 '.repeat(2)])(
    'refuses %j, naming the variable',
    (value) => {
      // Act
      const error = configErrorOf(() => loadLambdaConfig(lambdaEnv({ IRSA_BROKER_HOME_REGION: value })))

      // Assess
      expect(error.variable).toBe('IRSA_BROKER_HOME_REGION')
      expect(error.message).toMatch(/^IRSA_BROKER_HOME_REGION: must be a Region such as eu-west-1/)
    },
  )
})

describe('AWS_LAMBDA_FUNCTION_NAME (the metrics dimension)', () => {
  it('is the function name the Lambda runtime sets, undefined outside Lambda', () => {
    // Act
    const set = loadLambdaConfig(lambdaEnv({ AWS_LAMBDA_FUNCTION_NAME: 'irsa-broker-prod-credentials' }))
    const unset = loadLambdaConfig(lambdaEnv())

    // Assess
    expect(set.functionName).toBe('irsa-broker-prod-credentials')
    expect(unset.functionName).toBeUndefined()
  })
})
