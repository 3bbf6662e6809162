// Configuration from the environment, parsed once into a frozen object. A missing or bad
// value stops the start with a message naming the variable. The core never reads the env.

export type Env = Readonly<Record<string, string | undefined>>

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`${variable}: ${detail}`)
  }
}

const read = (env: Env, name: string): string | undefined => {
  const value = env[name]?.trim()
  return value === '' ? undefined : value
}

const required = (env: Env, name: string): string => {
  const value = read(env, name)
  if (value === undefined) throw new ConfigError(name, 'is required')
  return value
}

const integer = (env: Env, name: string, fallback: number, min: number, max: number): number => {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `must be an integer, got "${raw}"`)
  const value = Number(raw)
  if (value < min || value > max)
    throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`)
  return value
}

const boolean = (env: Env, name: string, fallback: boolean): boolean => {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  if (raw === 'true') return true
  if (raw === 'false') return false
  throw new ConfigError(name, `must be "true" or "false", got "${raw}"`)
}

const url = (name: string, value: string, protocols: readonly string[]): string => {
  let parsed: URL
  try {
    parsed = new URL(value)
  } catch {
    throw new ConfigError(name, `must be a URL, got "${value}"`)
  }
  if (!protocols.includes(parsed.protocol)) throw new ConfigError(name, `must use ${protocols.join(' or ')}`)
  return value.replace(/\/+$/, '')
}

const optionalUrl = (env: Env, name: string): string | undefined => {
  const value = read(env, name)
  return value === undefined ? undefined : url(name, value, ['http:', 'https:'])
}

export interface BrokerSettings {
  region: string
  /**
   * The home Region of a multi-Region stage (docs/multi-region.md): admin writes are taken there
   * only. Undefined for a single-Region stage, where every Region is its own home.
   */
  homeRegion?: string | undefined
  tableName: string
  /** The broker's own `iss`, without a trailing slash. */
  issuerUrl: string
  cacheTtlSeconds: number
  negativeCacheSize: number
  brokerTokenTtlSeconds: number
  /** Vended credentials shared between equal STS requests (shared/core/credential-cache.ts). */
  credentialCache: {
    /** 0 turns the cache off: every allowed request makes its own STS call. */
    maxEntries: number
    maxBytes: number
    /** Cached credentials are served only while at least this much life remains (≥ 900). */
    refreshMarginSeconds: number
  }
  /** Tokens whose signature verified, remembered by SHA-256 (shared/core/verified-token-cache.ts). */
  verifiedTokenCache: {
    /** 0 turns the cache off: every token's signature is checked on every request. */
    maxEntries: number
    maxBytes: number
  }
  /**
   * While DynamoDB fails, issuers and bindings read before are served for this long past their
   * TTL (0: never); after that the request is a 503.
   */
  cacheStaleSeconds: number
  /** Time limits on the request path (docs/decisions.md, "Deadlines and faults"). */
  timeouts: Timeouts
  endpoints: { sts?: string | undefined; dynamodb?: string | undefined; kms?: string | undefined }
}

export interface Timeouts {
  /** One credentials or roles request, start to answer; what is still pending then is a 503. */
  requestDeadlineMs: number
  /** TCP connect of any AWS SDK call. */
  connectMs: number
  /** One attempt of each AWS SDK call, connect included. */
  stsMs: number
  kmsMs: number
  dynamodbMs: number
  /** STS attempts per request (throttling and transient failures), all inside the deadline. */
  stsMaxAttempts: number
  /** How long a request waits for a registry reload before it answers from the stale entry. */
  registryRefreshWaitMs: number
  /**
   * A remote key set fetched on the request path (discovery and JWKS together) ends within this,
   * below the request deadline; registration and refresh keep 3 s per fetch.
   */
  jwksRequestMs: number
}

export interface LambdaConfig extends BrokerSettings {
  kmsKeyId: string
  kmsPreviousKeyId?: string | undefined
  /**
   * The function's own name, which the Lambda runtime sets (irsa-broker-<stage>-<function>):
   * every metric carries it, so one stack's alarms never count another stage's functions.
   */
  functionName?: string | undefined
}

export interface LocalConfig extends BrokerSettings {
  port: number
  dataDir: string
  adminToken?: string | undefined
  allowLoopbackJwks: boolean
  /** False when `issuerUrl` is the default, which follows the port actually bound. */
  explicitIssuerUrl: boolean
}

const timeouts = (env: Env): Timeouts => {
  const requestDeadlineMs = integer(env, 'IRSA_BROKER_REQUEST_DEADLINE_MS', 800, 50, 29_000)
  const jwksRequestMs = integer(env, 'IRSA_BROKER_JWKS_REQUEST_TIMEOUT_MS', 500, 10, 29_000)
  if (jwksRequestMs >= requestDeadlineMs) {
    throw new ConfigError(
      'IRSA_BROKER_JWKS_REQUEST_TIMEOUT_MS',
      `must be less than IRSA_BROKER_REQUEST_DEADLINE_MS (${requestDeadlineMs}), got ${jwksRequestMs}`,
    )
  }
  return Object.freeze({
    requestDeadlineMs,
    connectMs: integer(env, 'IRSA_BROKER_CONNECT_TIMEOUT_MS', 200, 10, 29_000),
    stsMs: integer(env, 'IRSA_BROKER_STS_TIMEOUT_MS', 500, 10, 29_000),
    kmsMs: integer(env, 'IRSA_BROKER_KMS_TIMEOUT_MS', 300, 10, 29_000),
    dynamodbMs: integer(env, 'IRSA_BROKER_DYNAMODB_TIMEOUT_MS', 250, 10, 29_000),
    stsMaxAttempts: integer(env, 'IRSA_BROKER_STS_MAX_ATTEMPTS', 3, 1, 10),
    registryRefreshWaitMs: integer(env, 'IRSA_BROKER_REGISTRY_REFRESH_WAIT_MS', 100, 0, 29_000),
    jwksRequestMs,
  })
}

const optionalRegion = (env: Env, name: string): string | undefined => {
  const value = read(env, name)
  if (value !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(value))
    throw new ConfigError(name, `must be a Region such as eu-west-1, got "${value}"`)
  return value
}

const brokerSettings = (env: Env, issuerUrl: string, tableName: string): BrokerSettings => ({
  region: read(env, 'AWS_REGION') ?? read(env, 'AWS_DEFAULT_REGION') ?? 'us-east-1',
  homeRegion: optionalRegion(env, 'IRSA_BROKER_HOME_REGION'),
  tableName,
  issuerUrl,
  cacheTtlSeconds: integer(env, 'IRSA_BROKER_CACHE_TTL_SECONDS', 30, 0, 3600),
  negativeCacheSize: integer(env, 'IRSA_BROKER_NEGATIVE_CACHE_SIZE', 1000, 1, 1_000_000),
  brokerTokenTtlSeconds: integer(env, 'IRSA_BROKER_TOKEN_TTL_SECONDS', 300, 60, 300),
  credentialCache: Object.freeze({
    maxEntries: integer(env, 'IRSA_BROKER_CREDENTIAL_CACHE_MAX_ENTRIES', 10_000, 0, 1_000_000),
    maxBytes: integer(env, 'IRSA_BROKER_CREDENTIAL_CACHE_MAX_BYTES', 32 * 2 ** 20, 64 * 2 ** 10, 2 ** 30),
    // Under 900 s an SDK could be handed credentials it already wants to refresh.
    refreshMarginSeconds: integer(
      env,
      'IRSA_BROKER_CREDENTIAL_CACHE_REFRESH_MARGIN_SECONDS',
      1200,
      900,
      43_200,
    ),
  }),
  verifiedTokenCache: Object.freeze({
    maxEntries: integer(env, 'IRSA_BROKER_VERIFIED_TOKEN_CACHE_MAX_ENTRIES', 10_000, 0, 1_000_000),
    maxBytes: integer(env, 'IRSA_BROKER_VERIFIED_TOKEN_CACHE_MAX_BYTES', 32 * 2 ** 20, 64 * 2 ** 10, 2 ** 30),
  }),
  cacheStaleSeconds: integer(env, 'IRSA_BROKER_CACHE_STALE_SECONDS', 300, 0, 86_400),
  timeouts: timeouts(env),
  endpoints: Object.freeze({
    sts: optionalUrl(env, 'AWS_ENDPOINT_URL_STS'),
    dynamodb: optionalUrl(env, 'AWS_ENDPOINT_URL_DYNAMODB'),
    kms: optionalUrl(env, 'AWS_ENDPOINT_URL_KMS'),
  }),
})

/** Lambda: every infrastructure name is required; the broker's issuer URL must be https. */
export const loadLambdaConfig = (env: Env): LambdaConfig =>
  Object.freeze({
    ...brokerSettings(
      env,
      url('IRSA_BROKER_ISSUER_URL', required(env, 'IRSA_BROKER_ISSUER_URL'), ['https:']),
      required(env, 'IRSA_BROKER_TABLE'),
    ),
    kmsKeyId: required(env, 'IRSA_BROKER_KMS_KEY_ID'),
    kmsPreviousKeyId: read(env, 'IRSA_BROKER_KMS_PREVIOUS_KEY_ID'),
    functionName: read(env, 'AWS_LAMBDA_FUNCTION_NAME'),
  })

/** Local mode (README.md, "Local configuration"): everything has a deliberate default. */
export const loadLocalConfig = (env: Env): LocalConfig => {
  const port = integer(env, 'PORT', 8787, 0, 65535)
  const issuerUrl = url(
    'IRSA_BROKER_ISSUER_URL',
    read(env, 'IRSA_BROKER_ISSUER_URL') ?? `http://127.0.0.1:${port}`,
    ['http:', 'https:'],
  )
  const adminToken = read(env, 'IRSA_BROKER_ADMIN_TOKEN')
  if (adminToken !== undefined && adminToken.length < 16) {
    throw new ConfigError('IRSA_BROKER_ADMIN_TOKEN', 'must be at least 16 characters')
  }
  return Object.freeze({
    ...brokerSettings(env, issuerUrl, read(env, 'IRSA_BROKER_TABLE') ?? 'irsa-broker'),
    port,
    dataDir: read(env, 'IRSA_BROKER_DATA_DIR') ?? './.irsa-broker',
    adminToken,
    allowLoopbackJwks: boolean(env, 'IRSA_BROKER_ALLOW_LOOPBACK_JWKS', false),
    explicitIssuerUrl: read(env, 'IRSA_BROKER_ISSUER_URL') !== undefined,
  })
}
