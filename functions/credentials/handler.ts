// Composition root of the credentials Lambda: config and clients once per container.
import { createAwsAdapters } from '../../shared/aws.js'
import { loadLambdaConfig } from '../../shared/config.js'
import { createCore } from '../../shared/wiring.js'
import { createCredentialsHandler } from './app.js'

const config = loadLambdaConfig(process.env)
export const handler = createCredentialsHandler(createCore(createAwsAdapters(config, 'credentials'), config))
