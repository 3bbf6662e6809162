// `npm start`: the broker on 127.0.0.1 with the embedded defaults; prints what it uses.
import { ConfigError, loadLocalConfig } from '../../shared/config.js'
import { type LocalStack, startLocalStack } from './stack.js'

const describe = (stack: LocalStack): string => {
  const lines = [
    `irsa-broker (local) listening on ${stack.url}`,
    `  issuer URL   ${stack.issuerUrl}  (${stack.issuerUrl}/.well-known/openid-configuration)`,
    `  data folder  ${stack.dataDir}`,
    `  DynamoDB     ${stack.dynamodb.embedded ? `embedded dynalite at ${stack.dynamodb.endpoint}, persisted in ${stack.dataDir}/dynamodb` : `${stack.dynamodb.endpoint} (AWS_ENDPOINT_URL_DYNAMODB)`}`,
    `  STS          ${stack.sts.endpoint} (${stack.sts.source === 'moto_server' ? 'moto_server started from PATH, stopped with the broker' : 'AWS_ENDPOINT_URL_STS'})`,
    `  signing key  ${stack.signingKey.path} (${stack.signingKey.created ? 'generated now' : 'reused'}, kid ${stack.signingKey.kid})`,
  ]
  if (stack.adminTokenSource === 'generated') {
    lines.push(`  admin token  ${stack.adminToken}`)
    lines.push(
      `               (generated and stored in ${stack.dataDir}/admin-token; it is printed only this once)`,
    )
  } else if (stack.adminTokenSource === 'data folder') {
    lines.push(`  admin token  stored in ${stack.dataDir}/admin-token`)
  } else {
    lines.push('  admin token  from IRSA_BROKER_ADMIN_TOKEN')
  }
  lines.push(
    '',
    `Workloads:  AWS_CONTAINER_CREDENTIALS_FULL_URI=${stack.url}/v1/credentials?role=<profile>`,
    '            AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=<path to the workload token>',
    `Admin API:  ${stack.url}/v1/admin/issuers  (Authorization: Bearer <admin token>)`,
  )
  return lines.join('\n')
}

const main = async () => {
  let config: ReturnType<typeof loadLocalConfig>
  try {
    config = loadLocalConfig(process.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`irsa-broker: ${error.message}\n`)
      process.exit(2)
    }
    throw error
  }
  let stack: LocalStack
  try {
    stack = await startLocalStack(config)
  } catch (error) {
    process.stderr.write(`irsa-broker: could not start: ${(error as Error).message}\n`)
    process.exit(3)
  }
  process.stdout.write(`${describe(stack)}\n`)
  let stopping = false
  const shutdown = async () => {
    if (stopping) return
    stopping = true
    await stack.stop()
    process.exit(0)
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)
}

await main()
