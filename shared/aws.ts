// The adapters of the deployed broker: DynamoDB, STS and KMS clients, created once per
// Lambda container (module scope of each handler), and stdout JSON logs.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { KMSClient } from '@aws-sdk/client-kms'
import { STSClient } from '@aws-sdk/client-sts'
import { createDynamoDbRegistry } from './adapters/dynamodb-registry.js'
import { createJsonLogger, stdoutSink } from './adapters/json-logger.js'
import { createSafeJsonFetcher } from './adapters/jwks-fetch.js'
import { createKmsSigner } from './adapters/kms-signer.js'
import { createStsCredentialIssuer } from './adapters/sts.js'
import type { LambdaConfig } from './config.js'
import { systemClock } from './core/ports.js'
import type { Adapters } from './wiring.js'

export const createAwsAdapters = (config: LambdaConfig, service: string): Adapters => {
  const logger = createJsonLogger(stdoutSink, { service })
  const common = { region: config.region, maxAttempts: 2 }
  return {
    registry: createDynamoDbRegistry(
      new DynamoDBClient({
        ...common,
        ...(config.endpoints.dynamodb ? { endpoint: config.endpoints.dynamodb } : {}),
      }),
      config.tableName,
    ),
    sts: createStsCredentialIssuer(
      new STSClient({ ...common, ...(config.endpoints.sts ? { endpoint: config.endpoints.sts } : {}) }),
    ),
    signer: createKmsSigner(
      new KMSClient({ ...common, ...(config.endpoints.kms ? { endpoint: config.endpoints.kms } : {}) }),
      { keyId: config.kmsKeyId, previousKeyId: config.kmsPreviousKeyId },
    ),
    clock: systemClock,
    logger,
    audit: logger.audit,
    // In AWS never loopback, whatever the environment says: https to public addresses only.
    fetchJson: createSafeJsonFetcher({ allowLoopback: false }),
  }
}
