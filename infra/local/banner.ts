// What `npm start` prints about the running local stack: where everything is, and which
// relaxations of the AWS behaviour (loopback JWKS) are switched on.
import type { LocalStack } from './stack.js'

export const describeLocalStack = (stack: LocalStack): string => {
  const lines = [
    `irsa-broker (local) listening on ${stack.url}`,
    `  issuer URL   ${stack.issuerUrl}  (${stack.issuerUrl}/.well-known/openid-configuration)`,
    `  data folder  ${stack.dataDir}`,
    `  DynamoDB     ${stack.dynamodb.embedded ? `embedded dynalite at ${stack.dynamodb.endpoint}, persisted in ${stack.dataDir}/dynamodb` : `${stack.dynamodb.endpoint} (AWS_ENDPOINT_URL_DYNAMODB)`}`,
    `  STS          ${stack.sts.endpoint} (${stack.sts.source === 'moto_server' ? 'moto_server started from PATH, stopped with the broker' : 'AWS_ENDPOINT_URL_STS'})`,
    `  signing key  ${stack.signingKey.path} (${stack.signingKey.created ? 'generated now' : 'reused'}, kid ${stack.signingKey.kid})`,
    stack.remoteJwks.allowLoopback
      ? '  remote JWKS  http:// and https:// to LOOPBACK ALLOWED (IRSA_BROKER_ALLOW_LOOPBACK_JWKS=true; for tests and demos only)'
      : '  remote JWKS  https only, public addresses only (IRSA_BROKER_ALLOW_LOOPBACK_JWKS=true allows loopback)',
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
