// Composition root of the roles Lambda.
import { createAwsAdapters } from '../../shared/aws.js'
import { loadLambdaConfig } from '../../shared/config.js'
import { createCore } from '../../shared/wiring.js'
import { createRolesHandler } from './app.js'

const config = loadLambdaConfig(process.env)
export const handler = createRolesHandler(createCore(createAwsAdapters(config, 'roles'), config))
