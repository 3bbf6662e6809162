// The AWS SDK for JavaScript v3 as an unmodified workload uses it. Called by the e2e tests.
//
// usage: node js_sdk_identities.mjs --sts URL --provider http|process|chain [--profile NAME]
//          [--full-uri URL --token-file PATH] [--calls N] [--pause-seconds P] [--advance-clock-seconds S]
//
//   http     fromHttp with explicit options (--full-uri, --token-file), the container provider
//   process  fromProcess for --profile, credential_process from AWS_CONFIG_FILE
//   chain    the default provider chain, configured by the environment alone
//
// Makes N GetCallerIdentity calls with one STSClient, P seconds apart, and prints one JSON object:
// per call the identity and a fingerprint of the access key id that signed it. With
// --advance-clock-seconds, Date.now() runs that far ahead from the second call on: the SDK
// refreshes credentials in their last 5 minutes and STS sessions last at least 15, so this is
// how a test reaches the refresh without waiting 10 minutes. Only this process's clock moves,
// not STS's: the jump must put the first credentials inside the window and the refreshed ones
// (P seconds younger) outside it. Credentials themselves are never printed.
import { createHash } from 'node:crypto'
import { parseArgs } from 'node:util'
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import { fromHttp, fromProcess } from '@aws-sdk/credential-providers'

const { values } = parseArgs({
  options: {
    sts: { type: 'string' },
    provider: { type: 'string' },
    profile: { type: 'string' },
    'full-uri': { type: 'string' },
    'token-file': { type: 'string' },
    calls: { type: 'string', default: '1' },
    'pause-seconds': { type: 'string', default: '0' },
    'advance-clock-seconds': { type: 'string', default: '0' },
  },
})

const credentials = {
  http: () =>
    fromHttp({
      awsContainerCredentialsFullUri: values['full-uri'],
      awsContainerAuthorizationTokenFile: values['token-file'],
    }),
  process: () => fromProcess({ profile: values.profile }),
  chain: () => undefined,
}[values.provider]
if (!credentials) throw new Error(`unknown --provider ${values.provider}`)

const provider = credentials()
const client = new STSClient({
  region: 'us-east-1',
  endpoint: values.sts,
  maxAttempts: 1,
  ...(provider ? { credentials: provider } : {}),
})
const fingerprint = (accessKeyId) => createHash('sha256').update(accessKeyId).digest('hex').slice(0, 16)
const signingKeys = []
// The deserialize step runs after signing (finalizeRequest): the Authorization header is final here.
client.middlewareStack.add(
  (next) => async (args) => {
    const match = /Credential=([^/]+)\//.exec(args.request.headers.authorization ?? '')
    signingKeys.push(match ? fingerprint(match[1]) : '')
    return next(args)
  },
  { step: 'deserialize', name: 'recordSigningKey' },
)

const realNow = Date.now
const calls = []
for (let index = 0; index < Number(values.calls); index++) {
  if (index > 0) await new Promise((done) => setTimeout(done, Number(values['pause-seconds']) * 1000))
  if (index === 1 && Number(values['advance-clock-seconds']) > 0) {
    const offset = Number(values['advance-clock-seconds']) * 1000
    Date.now = () => realNow() + offset
  }
  const identity = await client.send(new GetCallerIdentityCommand({}))
  calls.push({
    UserId: identity.UserId,
    Account: identity.Account,
    Arn: identity.Arn,
    signingKey: signingKeys.at(-1),
  })
}
process.stdout.write(
  `${JSON.stringify({ provider: values.provider, profile: values.profile ?? null, calls })}\n`,
)
