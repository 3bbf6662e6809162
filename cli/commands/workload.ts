// The data-plane side: `credential-process` (what the AWS SDKs run for a profile) and
// `configure` (writes those profiles).
import { PATHS } from '../../shared/http/paths.js'
import { ENDPOINT_FLAGS, workloadClient } from '../broker-options.js'
import { choiceFlag, defineCommand, integerFlag, parsedFlag, switchFlag, textFlag } from '../command.js'
import { configure } from '../configure.js'
import { BrokerUnavailableError, UsageError } from '../errors.js'
import { json, OUTPUT_FORMATS, table } from '../output.js'

const DURATION = { min: 900, max: 43200 }

const tokenFileFlag = (help: string) => ({
  'token-file': textFlag(help, { value: 'PATH', required: true }),
})

/**
 * What credential_process consumers require (docs/api.md, `POST /v1/credentials`); anything else
 * means the endpoint is not the broker.
 */
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

export const credentialProcessCommand = defineCommand({
  name: 'credential-process',
  summary: 'print AWS credentials for one role, for credential_process in ~/.aws/config',
  section: 'workload',
  description: `Exchanges the workload's token for temporary AWS credentials (POST /v1/credentials) and
prints them as credential_process JSON ({"Version": 1, "AccessKeyId", ...}). The token file is
read on every call, so a token kubelet has rotated is picked up. Meant for a profile:

  [profile ml-reader]
  credential_process = irsa-broker credential-process --endpoint https://broker.example.com --token-file /var/run/secrets/irsa-broker/token --role ml-reader

(\`irsa-broker configure\` writes these lines for you.)`,
  flags: {
    ...tokenFileFlag("the workload's token (a projected service-account token)"),
    role: textFlag("a binding's profile or a role ARN; may be left out when the token has one role", {
      value: 'NAME_OR_ARN',
    }),
    'duration-seconds': integerFlag(
      "ask for a shorter session; the binding's duration is the ceiling",
      DURATION,
    ),
    ...ENDPOINT_FLAGS,
  },
  async run({ flags }, context) {
    const client = workloadClient(flags, context, flags['token-file'])
    const answer = await client.call({
      method: 'POST',
      path: PATHS.credentials,
      body: {
        ...(flags.role === undefined ? {} : { role: flags.role }),
        ...(flags['duration-seconds'] === undefined ? {} : { durationSeconds: flags['duration-seconds'] }),
      },
      retry: true,
    })
    if (!isCredentialProcessAnswer(answer.body))
      throw new BrokerUnavailableError(
        'UnexpectedAnswer',
        `the server at ${flags.endpoint.url.origin} answered without credential_process credentials; is --endpoint the broker?`,
      )
    context.stdout(`${JSON.stringify(answer.body)}\n`)
    return undefined
  },
})

/** A region's shape (eu-west-1, us-gov-east-1, or a local stand-in's own name): what can go into the file. */
const REGION = /^[a-z][a-z0-9-]{0,31}$/

export const configureCommand = defineCommand({
  name: 'configure',
  summary: 'write one [profile] per role this workload may use into the AWS config file',
  section: 'workload',
  description: `Asks the broker which roles the token may use (GET /v1/roles) and writes one profile per role
into the AWS config file, each with a credential_process line that runs this CLI with absolute
paths, and a region when one is known. Profiles it wrote before for roles no longer allowed are
removed (it marks what it writes with a comment; profiles, comments and settings of anyone
else stay as they are, and a profile that was there before keeps its other settings). Running
it again with the same answer changes nothing. The file is written to a temporary file and
renamed over the old one. Then:

  aws sts get-caller-identity --profile ml-reader
  boto3.Session(profile_name="ml-reader")`,
  flags: {
    ...tokenFileFlag("the workload's token (its absolute path goes into the profiles)"),
    'config-file': textFlag('the file to merge into (default: $AWS_CONFIG_FILE, else ~/.aws/config)', {
      value: 'PATH',
    }),
    region: parsedFlag(
      'the region to write into the profiles',
      (text, name) => {
        if (!REGION.test(text))
          throw new UsageError(`--${name} "${text}" is not a region name (e.g. eu-west-1)`)
        return text
      },
      { value: 'REGION', env: ['AWS_REGION', 'AWS_DEFAULT_REGION'] },
    ),
    'duration-seconds': integerFlag('pass --duration-seconds N to every credential_process line', DURATION),
    'install-executable': textFlag(
      "copy this self-contained executable to PATH (0755) and make the profiles run it; a new config file is then 0644, for every user of the pod (what the webhook's init container does: docs/data-planes.md)",
      { value: 'PATH' },
    ),
    'dry-run': switchFlag('print the resulting file instead of writing it'),
    output: choiceFlag('the summary on stdout', OUTPUT_FORMATS, { short: 'o', default: 'table' }),
    ...ENDPOINT_FLAGS,
  },
  async run({ flags }, context) {
    const dryRun = flags['dry-run']
    const result = await configure(context, {
      client: workloadClient(flags, context, flags['token-file']),
      endpoint: flags.endpoint,
      tokenFile: flags['token-file'],
      configFile: flags['config-file'],
      durationSeconds: flags['duration-seconds'],
      region: flags.region,
      installExecutable: flags['install-executable'],
      dryRun,
    })
    const count = `${result.profiles.filter((row) => row.outcome !== 'removed').length} profile(s)`
    const removed = result.profiles.filter((row) => row.outcome === 'removed').length
    const summary = `${result.path} (${count}${removed > 0 ? `, ${removed} removed` : ''})`
    if (dryRun) {
      context.stdout(result.text)
      context.stderr(
        `irsa-broker: dry run: ${result.changed ? 'would write' : 'nothing to change in'} ${summary}\n`,
      )
      return undefined
    }
    context.stdout(
      flags.output === 'json'
        ? json({ configFile: result.path, profiles: result.profiles })
        : table(result.profiles, [
            { header: 'PROFILE', value: (row) => row.profile },
            { header: 'ROLE', value: (row) => row.roleArn },
            { header: 'CHANGE', value: (row) => row.outcome },
          ]),
    )
    context.stderr(`irsa-broker: ${result.changed ? 'wrote' : 'nothing to change in'} ${summary}\n`)
    return undefined
  },
})
