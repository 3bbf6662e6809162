// The adapters of the deployed broker, one factory per AWS client, so each Lambda's composition
// root builds (and its bundle holds) only the clients its function calls: discovery KMS, roles
// and admin DynamoDB, credentials all three. Clients are created once per container (module
// scope of each handler); logs go to stdout as JSON. test/unit/bundles.test.ts checks the split.
// The local stack makes its DynamoDB and STS clients with the same factories, pointed at its
// dynalite and moto_server by the endpoint settings.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { KMSClient } from '@aws-sdk/client-kms'
import { STSClient } from '@aws-sdk/client-sts'
import { createDynamoDbHistoryLog } from './adapters/dynamodb-history.js'
import { createDynamoDbRegistry, createDynamoDbRegistryPages } from './adapters/dynamodb-registry.js'
import { createDynamoDbRegistryReader } from './adapters/dynamodb-registry-reader.js'
import { createJsonLogger, stdoutSink } from './adapters/json-logger.js'
import { createSafeJsonFetcher } from './adapters/jwks-fetch.js'
import { createKmsSigner } from './adapters/kms-signer.js'
import { type AwsDependency, sdkClientLimits } from './adapters/sdk-limits.js'
import { countDependencyErrors } from './adapters/sdk-metrics.js'
import { createStsRoleAssumer, stsRetryOptions } from './adapters/sts.js'
import type { BrokerSettings, LambdaConfig } from './config.js'
import {
  type AdminRegistry,
  type HistoryLog,
  type Registry,
  type RegistryReader,
  type RoleAssumer,
  type Signer,
  systemClock,
} from './core/ports.js'
import type { Adapters } from './wiring.js'

/** What an SDK client is made from: the region, endpoint overrides and per-call limits. */
export type ClientConfig = Pick<BrokerSettings, 'region' | 'endpoints' | 'timeouts'>

/** What every SDK client of the broker shares: region, endpoint, per-call timeouts and attempts. */
const clientSettings = (config: ClientConfig, dependency: AwsDependency) => {
  const endpoint = config.endpoints[dependency]
  return {
    region: config.region,
    ...sdkClientLimits(config.timeouts, dependency),
    // The SDK's standard retries, whatever AWS_RETRY_MODE says: sdkClientLimits sets their
    // attempts; adaptive mode's client-side rate limiter is left out of the bundles
    // (lambda-sdk-stubs.ts).
    retryMode: 'standard',
    ...(endpoint ? { endpoint } : {}),
  }
}

/** Every metric of a function carries its name (LambdaConfig.functionName; none locally). */
type Named = { functionName?: string | undefined }
const metricDimensions = (config: Named): Record<string, string> =>
  config.functionName ? { FunctionName: config.functionName } : {}

/** Where the SDK clients' failed calls are counted (DependencyErrors, shared/adapters/sdk-metrics.ts). */
let sdkMetrics: ReturnType<typeof createJsonLogger> | undefined
const counted = <Client extends Parameters<typeof countDependencyErrors>[0]>(
  client: Client,
  dependency: AwsDependency,
  config: Named,
): Client => {
  sdkMetrics ??= createJsonLogger(
    stdoutSink,
    { service: 'aws-sdk' },
    { metricDimensions: metricDimensions(config) },
  )
  return countDependencyErrors(client, dependency, sdkMetrics)
}

/**
 * The DynamoDB client of the request path and the admin writes. `credentials`: only for a local
 * DynamoDB that needs none (the local stack's embedded dynalite).
 */
export const dynamoDbClient = (
  config: ClientConfig,
  extra: { credentials?: { accessKeyId: string; secretAccessKey: string } } = {},
): DynamoDBClient =>
  // Endpoint discovery off, whatever AWS_ENABLE_ENDPOINT_DISCOVERY says: DynamoDB does not need
  // it, and the Lambda bundles carry an always-empty endpoint cache (lambda-sdk-stubs.ts).
  new DynamoDBClient({ ...clientSettings(config, 'dynamodb'), endpointDiscoveryEnabled: false, ...extra })

export const stsClient = (config: ClientConfig): STSClient => new STSClient(clientSettings(config, 'sts'))

/** The registry on DynamoDB (roles, admin, credentials). */
export const awsRegistry = (
  config: ClientConfig & Pick<BrokerSettings, 'tableName'> & Named,
  client: DynamoDBClient = dynamoDbClient(config),
): Registry => createDynamoDbRegistry(counted(client, 'dynamodb', config), config.tableName)

/** The registry with the admin lists' paged reads (admin; the local stack, which serves every function). */
export const awsAdminRegistry = (
  config: ClientConfig & Pick<BrokerSettings, 'tableName'> & Named,
  client: DynamoDBClient = dynamoDbClient(config),
): AdminRegistry => {
  const counting = counted(client, 'dynamodb', config)
  return {
    ...createDynamoDbRegistry(counting, config.tableName),
    ...createDynamoDbRegistryPages(counting, config.tableName),
  }
}
/**
 * The admin history on the registry's table (admin, keys), on the client given to awsRegistry
 * (which counts its failed calls already).
 */
export const awsHistoryLog = (
  config: Pick<BrokerSettings, 'tableName'>,
  registryClient: DynamoDBClient,
): HistoryLog => createDynamoDbHistoryLog(registryClient, config.tableName)
/** The registry's reads only (credentials, roles): their bundles carry no write command. */
export const awsRegistryReader = (
  config: ClientConfig & Pick<BrokerSettings, 'tableName'> & Named,
  client: DynamoDBClient = dynamoDbClient(config),
): RegistryReader => createDynamoDbRegistryReader(counted(client, 'dynamodb', config), config.tableName)

/** STS AssumeRoleWithWebIdentity (credentials only), retried in the adapter within the deadline. */
export const awsRoleAssumer = (
  config: ClientConfig & Named,
  client: STSClient = stsClient(config),
): RoleAssumer => createStsRoleAssumer(counted(client, 'sts', config), stsRetryOptions(config.timeouts))

/** The KMS signing key: Sign (credentials) and GetPublicKey (credentials, discovery). */
export const awsSigner = (config: LambdaConfig): Signer =>
  createKmsSigner(counted(new KMSClient(clientSettings(config, 'kms')), 'kms', config), {
    keyId: config.kmsKeyId,
    previousKeyId: config.kmsPreviousKeyId,
  })

export const awsLogger = (service: string, config: Named): ReturnType<typeof createJsonLogger> =>
  createJsonLogger(stdoutSink, { service }, { metricDimensions: metricDimensions(config) })

/** The adapters that are not AWS clients: clock, logs, audit and the remote-JWKS fetcher. */
export const awsCommonAdapters = (
  service: string,
  config: Named,
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

/** Every adapter at once: for a process that serves every function (and for tests). */
export const createAwsAdapters = (
  config: LambdaConfig,
  service: string,
): Adapters & { registry: AdminRegistry } => {
  const dynamodb = dynamoDbClient(config)
  return {
    ...awsCommonAdapters(service, config),
    registry: awsAdminRegistry(config, dynamodb),
    history: awsHistoryLog(config, dynamodb),
    sts: awsRoleAssumer(config),
    signer: awsSigner(config),
  }
}
