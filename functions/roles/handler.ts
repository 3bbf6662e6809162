// Composition root of the roles Lambda: registry reads and issuers' remote keys (the exchange
// without the admin plane, so without a schema library). Listing roles neither signs nor calls
// STS, so no KMS or STS client is built.
import { awsCommonAdapters, awsRegistryReader } from '../../shared/aws.js'
import { loadLambdaConfig } from '../../shared/config.js'
import { buildRolesFunction } from './app.js'

const config = loadLambdaConfig(process.env)
export const { handler } = buildRolesFunction(
  { ...awsCommonAdapters('roles', config), registry: awsRegistryReader(config) },
  config,
)
