// Composition root of the keys Lambda: the key push alone, on the registry's issuer items
// (GetItem, PutItem; no Query, no Scan, no KMS, no STS, no remote JWKS). It takes traffic
// without IAM auth, so it holds none of the admin function's other rights.
import { awsHistoryLog, awsLogger, awsRegistry, dynamoDbClient } from '../../shared/aws.js'
import { loadLambdaConfig } from '../../shared/config.js'
import { systemClock } from '../../shared/core/ports.js'
import { createKeyPushCore } from '../../shared/wiring.js'
import { createKeysHandler } from './app.js'

const config = loadLambdaConfig(process.env)
const logger = awsLogger('keys', config)
const dynamodb = dynamoDbClient(config)
export const handler = createKeysHandler(
  createKeyPushCore({
    registry: awsRegistry(config, dynamodb),
    history: awsHistoryLog(config, dynamodb),
    clock: systemClock,
    logger,
    audit: logger.audit,
  }),
)
