// The data-plane side: `credential-process` (what the AWS SDKs run for a profile) and
// `configure` (writes those profiles).
import { booleanFlag, choiceFlag, flag, integerFlag, positionals, requiredFlag } from './args.js'
import { ENDPOINT_HELP, ENDPOINT_OPTIONS, workloadClient } from './broker-options.js'
import type { Command } from './command.js'
import { configure } from './configure.js'
import { BrokerUnavailableError } from './errors.js'
import { json, OUTPUT_FORMATS, table } from './output.js'

const MIN_DURATION = 900
const MAX_DURATION = 43200

/** What credential_process consumers require (DESIGN §2); anything else means the endpoint is not the broker. */
const isCredentialProcessAnswer = (body: unknown): boolean => {
  if (typeof body !== 'object' || body === null) return false
  const answer = body as Record<string, unknown>
  return (
    answer.Version === 1 &&
    ['AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration'].every(
      (field) => typeof answer[field] === 'string' && answer[field] !== '',
    ) &&
    !Number.isNaN(Date.parse(answer.Expiration as string))
  )
}

export const credentialProcessCommand: Command = {
  name: 'credential-process',
  summary: 'print AWS credentials for one role, for credential_process in ~/.aws/config',
  options: {
    ...ENDPOINT_OPTIONS,
    'token-file': { type: 'string' },
    role: { type: 'string' },
    'duration-seconds': { type: 'string' },
  },
  help: `usage: irsa-broker credential-process --endpoint URL --token-file PATH [--role NAME_OR_ARN] [--duration-seconds N]

Exchanges the workload's token for temporary AWS credentials (POST /v1/credentials) and
prints them as credential_process JSON ({"Version": 1, "AccessKeyId", ...}). The token file is
read on every call, so a token kubelet has rotated is picked up. Meant for a profile:

  [profile ml-reader]
  credential_process = irsa-broker credential-process --endpoint https://broker.example.com --token-file /var/run/secrets/irsa-broker/token --role ml-reader

(\`irsa-broker configure\` writes these lines for you.)

Options:
  --token-file PATH         the workload's token (a projected service-account token)
  --role NAME_OR_ARN        a binding's profile or a role ARN; may be left out when the token has one role
  --duration-seconds N      ask for a shorter session (${MIN_DURATION}-${MAX_DURATION}); the binding's duration is the ceiling
${ENDPOINT_HELP}`,
  async run(parsed, context) {
    const command = this.name
    positionals(parsed, command, 0)
    const tokenFile = requiredFlag(parsed, 'token-file', command)
    const role = flag(parsed, 'role')
    const durationSeconds = integerFlag(parsed, 'duration-seconds', command, {
      min: MIN_DURATION,
      max: MAX_DURATION,
    })
    const { client, endpoint } = workloadClient(parsed, context, command, tokenFile)
    const answer = await client.call({
      method: 'POST',
      path: '/v1/credentials',
      body: {
        ...(role === undefined ? {} : { role }),
        ...(durationSeconds === undefined ? {} : { durationSeconds }),
      },
      retry: true,
    })
    if (!isCredentialProcessAnswer(answer.body))
      throw new BrokerUnavailableError(
        'UnexpectedAnswer',
        `the server at ${endpoint.url.origin} answered without credential_process credentials; is --endpoint the broker?`,
      )
    context.stdout(`${JSON.stringify(answer.body)}\n`)
  },
}

export const configureCommand: Command = {
  name: 'configure',
  summary: 'write one [profile] per role this workload may use into the AWS config file',
  options: {
    ...ENDPOINT_OPTIONS,
    'token-file': { type: 'string' },
    'config-file': { type: 'string' },
    'duration-seconds': { type: 'string' },
    'dry-run': { type: 'boolean' },
    output: { type: 'string', short: 'o' },
  },
  help: `usage: irsa-broker configure --endpoint URL --token-file PATH [--config-file PATH] [--dry-run]

Asks the broker which roles the token may use (GET /v1/roles) and writes one profile per role
into the AWS config file, each with a credential_process line that runs this CLI with absolute
paths. Other profiles, comments and settings stay as they are; profiles of the same name get
their credential_process line replaced; running it again with the same answer changes nothing.
The file is written to a temporary file and renamed over the old one. Then:

  aws sts get-caller-identity --profile ml-reader
  boto3.Session(profile_name="ml-reader")

Options:
  --token-file PATH         the workload's token (its absolute path goes into the profiles)
  --config-file PATH        the file to merge into (default: $AWS_CONFIG_FILE, else ~/.aws/config)
  --duration-seconds N      pass --duration-seconds N to every credential_process line
  --dry-run                 print the resulting file instead of writing it
  --output json|table       the summary on stdout (default table)
${ENDPOINT_HELP}`,
  async run(parsed, context) {
    const command = this.name
    positionals(parsed, command, 0)
    const tokenFile = requiredFlag(parsed, 'token-file', command)
    const output = choiceFlag(parsed, 'output', command, OUTPUT_FORMATS) ?? 'table'
    const durationSeconds = integerFlag(parsed, 'duration-seconds', command, {
      min: MIN_DURATION,
      max: MAX_DURATION,
    })
    const dryRun = booleanFlag(parsed, 'dry-run')
    const { client, endpoint } = workloadClient(parsed, context, command, tokenFile)
    const result = await configure(context, {
      client,
      endpoint,
      tokenFile,
      configFile: flag(parsed, 'config-file'),
      durationSeconds,
      dryRun,
    })
    if (dryRun) {
      context.stdout(result.text)
      context.stderr(
        `irsa-broker: dry run: ${result.changed ? 'would write' : 'nothing to change in'} ${result.path} (${result.profiles.length} profile(s))\n`,
      )
      return
    }
    context.stdout(
      output === 'json'
        ? json({ configFile: result.path, profiles: result.profiles })
        : table(result.profiles, [
            { header: 'PROFILE', value: (row) => row.profile },
            { header: 'ROLE', value: (row) => row.roleArn },
            { header: 'CHANGE', value: (row) => row.outcome },
          ]),
    )
    context.stderr(
      `irsa-broker: ${result.changed ? 'wrote' : 'nothing to change in'} ${result.path} (${result.profiles.length} profile(s))\n`,
    )
  },
}
