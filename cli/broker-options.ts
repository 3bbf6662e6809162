// Flags every broker command shares: where the broker is, how long to wait, and — for the
// admin API — how to authenticate: the admin token locally, SigV4 against AWS. Declared once
// here, spread into each command's flags.
import { choiceFlag, type FlagValues, integerFlag, parsedFlag, switchFlag, textFlag } from './command.js'
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
import { OUTPUT_FORMATS } from './output.js'
import { readTokenFile } from './token-file.js'

const BROKER = { group: 'Broker options' } as const

const endpointHelp = "the broker's base URL; https, or http to loopback only"

export const ENDPOINT_FLAGS = {
  endpoint: parsedFlag(endpointHelp, (text) => parseEndpoint(text), {
    ...BROKER,
    value: 'URL',
    required: true,
    env: ['IRSA_BROKER_ENDPOINT'],
  }),
  'timeout-seconds': integerFlag(
    'give up on one request after N seconds',
    { min: 1, max: 300 },
    { ...BROKER, default: DEFAULT_TIMEOUT_SECONDS },
  ),
}

const ADMIN_AUTH_FLAGS = {
  'admin-token-file': textFlag(
    'local mode: read the admin token from a file (or set IRSA_BROKER_ADMIN_TOKEN)',
    { ...BROKER, value: 'PATH' },
  ),
  'admin-token': textFlag(
    'local mode: the admin token itself; avoid: others see it in `ps` and your shell history',
    { ...BROKER, value: 'TOKEN', excludes: ['admin-token-file'] },
  ),
  sigv4: switchFlag(
    'sign with your AWS credentials (automatic for *.execute-api.<region>.amazonaws.com)',
    BROKER,
  ),
  region: textFlag('SigV4 region (default: from the endpoint host, else AWS_REGION)', {
    ...BROKER,
    value: 'REGION',
  }),
  'aws-profile': textFlag("AWS profile whose credentials sign (default: the AWS SDK's default chain)", {
    ...BROKER,
    value: 'NAME',
  }),
}

export const ADMIN_FLAGS = { ...ENDPOINT_FLAGS, ...ADMIN_AUTH_FLAGS }

/** The same, for a command that may work without the broker (trust-policy from a file). */
export const OPTIONAL_ADMIN_FLAGS = {
  ...ADMIN_FLAGS,
  endpoint: parsedFlag(endpointHelp, (text) => parseEndpoint(text), {
    ...BROKER,
    value: 'URL',
    env: ['IRSA_BROKER_ENDPOINT'],
  }),
}

export const OUTPUT_FLAG = {
  output: choiceFlag('how to print the answer', OUTPUT_FORMATS, { short: 'o', default: 'json' }),
}

type EndpointValues = FlagValues<typeof ENDPOINT_FLAGS>
type AdminValues = FlagValues<typeof ADMIN_FLAGS>

export const publicClient = (flags: EndpointValues, context: CliContext): BrokerClient =>
  createBrokerClient(context, {
    endpoint: flags.endpoint,
    timeoutSeconds: flags['timeout-seconds'],
    authorize: async () => ({}),
  })

/** A client that sends the workload's token (read fresh from its file) as a bearer token. */
export const workloadClient = (
  flags: EndpointValues,
  context: CliContext,
  tokenFile: string,
): BrokerClient => {
  const token = readTokenFile(tokenFile)
  context.addSecret(token)
  return createBrokerClient(context, {
    endpoint: flags.endpoint,
    timeoutSeconds: flags['timeout-seconds'],
    authorize: bearer(token),
  })
}

const adminAuthorizer = async (
  flags: AdminValues,
  context: CliContext,
  endpoint: Endpoint,
): Promise<Authorizer> => {
  const tokenFlag = flags['admin-token']
  const tokenFile = flags['admin-token-file']
  const givesToken = tokenFlag !== undefined || tokenFile !== undefined
  if (flags.sigv4 && givesToken)
    throw new UsageError('--sigv4 signs with AWS credentials; leave out the admin token')
  if (endpoint.awsRegion !== undefined && givesToken)
    throw new UsageError(
      'the admin API of a broker in AWS is authorized by IAM (SigV4 with your AWS credentials), not by an admin token',
    )

  if (flags.sigv4 || endpoint.awsRegion !== undefined) {
    const region =
      flags.region ?? endpoint.awsRegion ?? context.env.AWS_REGION ?? context.env.AWS_DEFAULT_REGION
    if (!region)
      throw new UsageError('--region is required to sign for an endpoint whose host names no region')
    // The signer and the AWS credential chain load only here, so other commands start fast.
    const { defaultCredentials, sigV4Authorizer } = await import('./sigv4.js')
    return sigV4Authorizer({
      region,
      credentials: (context.awsCredentials ?? defaultCredentials)(flags['aws-profile']),
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
  flags: AdminValues | (Omit<AdminValues, 'endpoint'> & { endpoint: Endpoint | undefined }),
  context: CliContext,
): Promise<BrokerClient> => {
  const { endpoint } = flags
  if (endpoint === undefined) throw new UsageError('--endpoint is required (or set IRSA_BROKER_ENDPOINT)')
  return createBrokerClient(context, {
    endpoint,
    timeoutSeconds: flags['timeout-seconds'],
    authorize: await adminAuthorizer({ ...flags, endpoint }, context, endpoint),
  })
}
