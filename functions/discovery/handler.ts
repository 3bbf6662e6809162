// Composition root of the discovery Lambda: the signing keys' public halves (KMS GetPublicKey)
// and the broker's issuer URL; no registry, no exchange.
import { awsLogger, awsSigner } from '../../shared/aws.js'
import { loadLambdaConfig } from '../../shared/config.js'
import { buildDiscoveryFunction } from './app.js'

const config = loadLambdaConfig(process.env)
export const { handler } = buildDiscoveryFunction(
  { signer: awsSigner(config), logger: awsLogger('discovery', config) },
  config,
)
