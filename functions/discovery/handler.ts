// Composition root of the discovery Lambda.
import { createAwsAdapters } from '../../shared/aws.js'
import { loadLambdaConfig } from '../../shared/config.js'
import { createCore } from '../../shared/wiring.js'
import { createDiscoveryHandler } from './app.js'

const config = loadLambdaConfig(process.env)
export const handler = createDiscoveryHandler(createCore(createAwsAdapters(config, 'discovery'), config))
