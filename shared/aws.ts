// The adapters of the deployed broker, one factory per AWS client, so each Lambda's composition
// root builds (and its bundle holds) only the clients its function calls: discovery KMS, roles
// and admin DynamoDB, credentials all three. Clients are created once per container (module
// scope of each handler); logs go to stdout as JSON. test/unit/bundles.test.ts checks the split.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { KMSClient } from '@aws-sdk/client-kms'
import { STSClient } from '@aws-sdk/client-sts'
import { createDynamoDbRegistry } from './adapters/dynamodb-registry.js'
import { createJsonLogger, stdoutSink } from './adapters/json-logger.js'
import { createSafeJsonFetcher } from './adapters/jwks-fetch.js'
import { createKmsSigner } from './adapters/kms-signer.js'
import { type AwsDependency, sdkClientLimits } from './adapters/sdk-limits.js'
import { countDependencyErrors } from './adapters/sdk-metrics.js'
import { createStsCredentialIssuer, stsRetryOptions } from './adapters/sts.js'
import type { LambdaConfig } from './config.js'
import { InternalError } from './core/errors.js'
import { type CredentialIssuer, type Registry, type Signer, systemClock } from './core/ports.js'
import type { Adapters } from './wiring.js'

/** What every SDK client of the broker shares: region, endpoint, per-call timeouts and attempts. */
const clientSettings = (config: LambdaConfig, dependency: AwsDependency) => {
  const endpoint = config.endpoints[dependency]
  return {
    region: config.region,
    ...sdkClientLimits(config.timeouts, dependency),
    ...(endpoint ? { endpoint } : {}),
  }
}

/** Every metric of a function carries its name (LambdaConfig.functionName). */
const metricDimensions = (config: Pick<LambdaConfig, 'functionName'>): Record<string, string> =>
  config.functionName ? { FunctionName: config.functionName } : {}

/** Where the SDK clients' failed calls are counted (DependencyErrors, shared/adapters/sdk-metrics.ts). */
let sdkMetrics: ReturnType<typeof createJsonLogger> | undefined
const counted = <Client extends Parameters<typeof countDependencyErrors>[0]>(
  client: Client,
  dependency: AwsDependency,
  config: LambdaConfig,
): Client => {
  sdkMetrics ??= createJsonLogger(
    stdoutSink,
    { service: 'aws-sdk' },
    { metricDimensions: metricDimensions(config) },
  )
  return countDependencyErrors(client, dependency, sdkMetrics)
}

/** The registry on DynamoDB (roles, admin, credentials). */
export const awsRegistry = (config: LambdaConfig): Registry =>
  createDynamoDbRegistry(
    // Endpoint discovery off, whatever AWS_ENABLE_ENDPOINT_DISCOVERY says: DynamoDB does not need
    // it, and the Lambda bundles carry an always-empty endpoint cache (lambda-sdk-stubs.ts).
    counted(
      new DynamoDBClient({ ...clientSettings(config, 'dynamodb'), endpointDiscoveryEnabled: false }),
      'dynamodb',
      config,
    ),
    config.tableName,
  )

/** STS AssumeRoleWithWebIdentity (credentials only). */
export const awsCredentialIssuer = (config: LambdaConfig): CredentialIssuer =>
  createStsCredentialIssuer(
    counted(new STSClient(clientSettings(config, 'sts')), 'sts', config),
    stsRetryOptions(config.timeouts),
  )

/** The KMS signing key: Sign (credentials) and GetPublicKey (credentials, discovery). */
export const awsSigner = (config: LambdaConfig): Signer =>
  createKmsSigner(counted(new KMSClient(clientSettings(config, 'kms')), 'kms', config), {
    keyId: config.kmsKeyId,
    previousKeyId: config.kmsPreviousKeyId,
  })

export const awsLogger = (
  service: string,
  config: Pick<LambdaConfig, 'functionName'>,
): ReturnType<typeof createJsonLogger> =>
  createJsonLogger(stdoutSink, { service }, { metricDimensions: metricDimensions(config) })

/** The adapters that are not AWS clients: clock, logs, audit and the remote-JWKS fetcher. */
export const awsCommonAdapters = (
  service: string,
  config: Pick<LambdaConfig, 'functionName'>,
): Omit<Adapters, 'registry' | 'sts' | 'signer'> => {
  const logger = awsLogger(service, config)
  return {
    clock: systemClock,
    logger,
    audit: logger.audit,
    // In AWS never loopback, whatever the environment says: https to public addresses only.
    fetchJson: createSafeJsonFetcher({ allowLoopback: false }),
  }
}

const notWired = (port: string) => () =>
  Promise.reject(new InternalError(`${port}_not_wired`, { cause: new Error(`no ${port} in this function`) }))

/**
 * For the functions whose core never signs a broker token nor calls STS (roles: `listRoles`;
 * admin: the registry and `explain`, which returns the trace without calling STS). They get
 * no KMS or STS client, nor the permission to call either; reaching one of these is a wiring
 * bug, answered as a 500 with the reason in the log.
 */
export const withoutSigningOrSts: Pick<Adapters, 'sts' | 'signer'> = {
  sts: { assumeRoleWithWebIdentity: notWired('sts') },
  signer: {
    algorithm: 'RS256',
    keyId: notWired('signer'),
    sign: notWired('signer'),
    publicJwks: notWired('signer'),
  },
}

/** Every adapter at once: for a process that serves every function (and for tests). */
export const createAwsAdapters = (config: LambdaConfig, service: string): Adapters => ({
  ...awsCommonAdapters(service, config),
  registry: awsRegistry(config),
  sts: awsCredentialIssuer(config),
  signer: awsSigner(config),
})
