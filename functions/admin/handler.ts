// Composition root of the admin Lambda: API Gateway's AWS_IAM authorizer names the actor.
// Registry reads and writes and issuers' remote keys; `explain` returns the trace without
// signing or calling STS, so no KMS or STS client is built.
import { awsAdminRegistry, awsCommonAdapters, awsHistoryLog, dynamoDbClient } from '../../shared/aws.js'
import { loadLambdaConfig } from '../../shared/config.js'
import { iamAdminAuthenticator } from '../../shared/http/admin-auth.js'
import { buildAdminFunction } from './app.js'

const config = loadLambdaConfig(process.env)
const dynamodb = dynamoDbClient(config)
export const { handler } = buildAdminFunction(
  {
    ...awsCommonAdapters('admin', config),
    registry: awsAdminRegistry(config, dynamodb),
    history: awsHistoryLog(config, dynamodb),
    authenticate: iamAdminAuthenticator,
  },
  config,
)
