// Composition root of the admin Lambda: API Gateway's AWS_IAM authorizer names the actor.
import { createAwsAdapters } from '../../shared/aws.js'
import { loadLambdaConfig } from '../../shared/config.js'
import { iamAdminAuthenticator } from '../../shared/http/admin-auth.js'
import { createCore } from '../../shared/wiring.js'
import { createAdminHandler } from './app.js'

const config = loadLambdaConfig(process.env)
export const handler = createAdminHandler({
  ...createCore(createAwsAdapters(config, 'admin'), config),
  authenticate: iamAdminAuthenticator,
})
