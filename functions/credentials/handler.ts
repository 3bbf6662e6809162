// Composition root of the credentials Lambda: config and clients once per container, and the
// exchange without the admin plane. The only function that signs broker tokens (KMS) and calls STS.
import { awsCommonAdapters, awsCredentialIssuer, awsRegistry, awsSigner } from '../../shared/aws.js'
import { loadLambdaConfig } from '../../shared/config.js'
import { createExchangeCore } from '../../shared/wiring.js'
import { createCredentialsHandler } from './app.js'

const config = loadLambdaConfig(process.env)
export const handler = createCredentialsHandler(
  createExchangeCore(
    {
      ...awsCommonAdapters('credentials', config),
      registry: awsRegistry(config),
      sts: awsCredentialIssuer(config),
      signer: awsSigner(config),
    },
    config,
  ),
)
