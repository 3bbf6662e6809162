// Composition root of the credentials Lambda: config and clients once per container, and the
// exchange without the admin plane. The only function that signs broker tokens (KMS) and calls STS.
import { awsCommonAdapters, awsRegistryReader, awsRoleAssumer, awsSigner } from '../../shared/aws.js'
import { loadLambdaConfig } from '../../shared/config.js'
import { buildCredentialsFunction } from './app.js'

const config = loadLambdaConfig(process.env)
export const { handler } = buildCredentialsFunction(
  {
    ...awsCommonAdapters('credentials', config),
    registry: awsRegistryReader(config),
    sts: awsRoleAssumer(config),
    signer: awsSigner(config),
  },
  config,
)
