// Flags every broker command shares: where the broker is, how long to wait, and — for the
// admin API — how to authenticate: the admin token locally, SigV4 against AWS.
import { flag, integerFlag, type OptionSpec, type Parsed } from './args.js'
import type { CliContext } from './context.js'
import { type Endpoint, parseEndpoint } from './endpoint.js'
import { UsageError } from './errors.js'
import {
  type Authorizer,
  type BrokerClient,
  bearer,
  createBrokerClient,
  DEFAULT_TIMEOUT_SECONDS,
} from './http.js'
import { readTokenFile } from './token-file.js'

export const ENDPOINT_OPTIONS = {
  endpoint: { type: 'string' },
  'timeout-seconds': { type: 'string' },
} as const satisfies OptionSpec

export const ADMIN_OPTIONS = {
  ...ENDPOINT_OPTIONS,
  'admin-token': { type: 'string' },
  'admin-token-file': { type: 'string' },
  sigv4: { type: 'boolean' },
  region: { type: 'string' },
  'aws-profile': { type: 'string' },
} as const satisfies OptionSpec

export const ENDPOINT_HELP = `Broker options:
  --endpoint URL            the broker's base URL (or IRSA_BROKER_ENDPOINT); https, or http to loopback only
  --timeout-seconds N       give up on one request after N seconds (default ${DEFAULT_TIMEOUT_SECONDS})`

export const ADMIN_HELP = `${ENDPOINT_HELP}
  --admin-token-file PATH   local mode: read the admin token from a file (or set IRSA_BROKER_ADMIN_TOKEN)
  --admin-token TOKEN       local mode: the admin token itself; avoid: others see it in \`ps\` and your shell history
  --sigv4                   sign with your AWS credentials (automatic for *.execute-api.<region>.amazonaws.com)
  --region REGION           SigV4 region (default: from the endpoint host, else AWS_REGION)
  --aws-profile NAME        AWS profile whose credentials sign (default: the AWS SDK's default chain)`

export const endpointOf = (parsed: Parsed, context: Pick<CliContext, 'env'>, command: string): Endpoint => {
  const value = flag(parsed, 'endpoint') ?? context.env.IRSA_BROKER_ENDPOINT
  if (!value) throw new UsageError('--endpoint is required (or set IRSA_BROKER_ENDPOINT)', command)
  return parseEndpoint(value, command)
}

export const timeoutOf = (parsed: Parsed, command: string): number =>
  integerFlag(parsed, 'timeout-seconds', command, { min: 1, max: 300 }) ?? DEFAULT_TIMEOUT_SECONDS

/** A client that sends the workload's token (read fresh from its file) as a bearer token. */
export const workloadClient = (
  parsed: Parsed,
  context: CliContext,
  command: string,
  tokenFile: string,
): { client: BrokerClient; endpoint: Endpoint } => {
  const endpoint = endpointOf(parsed, context, command)
  const timeoutSeconds = timeoutOf(parsed, command)
  const token = readTokenFile(tokenFile)
  context.addSecret(token)
  return {
    client: createBrokerClient(context, { endpoint, timeoutSeconds, authorize: bearer(token) }),
    endpoint,
  }
}

const adminAuthorizer = async (
  parsed: Parsed,
  context: CliContext,
  endpoint: Endpoint,
  command: string,
): Promise<Authorizer> => {
  const tokenFlag = flag(parsed, 'admin-token')
  const tokenFile = flag(parsed, 'admin-token-file')
  const wantsSigV4 = parsed.values.sigv4 === true
  if (tokenFlag !== undefined && tokenFile !== undefined)
    throw new UsageError('--admin-token and --admin-token-file exclude each other', command)
  if (wantsSigV4 && (tokenFlag !== undefined || tokenFile !== undefined))
    throw new UsageError('--sigv4 signs with AWS credentials; leave out the admin token', command)
  if (endpoint.awsRegion !== undefined && (tokenFlag !== undefined || tokenFile !== undefined))
    throw new UsageError(
      'the admin API of a broker in AWS is authorized by IAM (SigV4 with your AWS credentials), not by an admin token',
      command,
    )

  if (wantsSigV4 || endpoint.awsRegion !== undefined) {
    const region =
      flag(parsed, 'region') ?? endpoint.awsRegion ?? context.env.AWS_REGION ?? context.env.AWS_DEFAULT_REGION
    if (!region)
      throw new UsageError('--region is required to sign for an endpoint whose host names no region', command)
    // The signer and the AWS credential chain load only here, so other commands start fast.
    const { defaultCredentials, sigV4Authorizer } = await import('./sigv4.js')
    const profile = flag(parsed, 'aws-profile')
    return sigV4Authorizer({
      region,
      credentials: (context.awsCredentials ?? defaultCredentials)(profile),
      now: context.now,
    })
  }

  const token =
    tokenFlag ??
    (tokenFile !== undefined
      ? readTokenFile(tokenFile, 'admin token file')
      : context.env.IRSA_BROKER_ADMIN_TOKEN)
  if (!token)
    throw new UsageError(
      'the admin API needs --admin-token, --admin-token-file or IRSA_BROKER_ADMIN_TOKEN (local mode), or --sigv4 (AWS)',
      command,
    )
  context.addSecret(token)
  // Kept for scripts that use it, but a token in argv is visible to every local user (ps,
  // /proc/<pid>/cmdline) and stays in shell history.
  if (tokenFlag !== undefined)
    context.stderr(
      'irsa-broker: warning: --admin-token shows the token to anyone who can list processes and keeps it in shell history; use --admin-token-file PATH or IRSA_BROKER_ADMIN_TOKEN\n',
    )
  return bearer(token)
}

export const adminClient = async (
  parsed: Parsed,
  context: CliContext,
  command: string,
): Promise<{ client: BrokerClient; endpoint: Endpoint }> => {
  const endpoint = endpointOf(parsed, context, command)
  const timeoutSeconds = timeoutOf(parsed, command)
  const authorize = await adminAuthorizer(parsed, context, endpoint, command)
  return { client: createBrokerClient(context, { endpoint, timeoutSeconds, authorize }), endpoint }
}
