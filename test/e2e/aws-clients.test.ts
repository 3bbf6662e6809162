// The user story end to end, with AWS clients nobody on this team wrote: the real local
// broker (`npm start`, with the moto_server it starts itself), an issuer and two bindings
// registered through the admin API, a workload token in a file as kubelet projects it, and
// then the AWS CLI v1, boto3 and the AWS SDK for JavaScript v3 — configured only by the
// standard container-credentials variables — calling STS as the bound role.
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, test } from 'vitest'
import {
  ACCOUNT,
  BOTOCORE_PAUSE_SECONDS,
  type CallerIdentity,
  containerEnv,
  expectRefreshedTwice,
  type Identities,
  JS_CLOCK_JUMP_SECONDS,
  JS_PAUSE_SECONDS,
  READER_ROLE_ARN,
  READER_SESSION_ARN,
  registerMlWorkload,
  registerShortLivedBinding,
  SHORT_SESSION_SECONDS,
  WRITER_ROLE_ARN,
  WRITER_SESSION_ARN,
} from '../support/e2e-workload.js'
import {
  BROKER_START_TIMEOUT_MS,
  cleanEnv,
  createRedactor,
  describeRun,
  type LocalBroker,
  makeTempDir,
  type ProcessResult,
  requireTools,
  runProcess,
  startLocalBroker,
  stopAfterAll,
  TEST_TIMEOUT_MS,
  writeTokenFile,
} from '../support/local-broker.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const BOTO3_SCRIPT = join(HERE, 'boto3_identities.py')
const JS_SDK_SCRIPT = join(HERE, 'js_sdk_identities.mjs')

const redactor = createRedactor()
const tempDirs: string[] = []
let broker: LocalBroker
let allowedTokenFile = ''
let refresherTokenFile = ''
let deniedTokenFile = ''
let deniedToken = ''

const run = (command: string, args: string[], env: NodeJS.ProcessEnv) =>
  runProcess(command, args, { env, redactor })

const awsCliCallerIdentity = (role: string, tokenFile: string) =>
  run('aws', ['sts', 'get-caller-identity', '--endpoint-url', broker.stsEndpoint, '--output', 'json'], {
    ...containerEnv(broker.url, role, tokenFile),
  })

const parseOutput = <T>(what: string, result: ProcessResult): T => {
  expect(result.code, describeRun(what, result, redactor)).toBe(0)
  return JSON.parse(result.stdout) as T
}

const issuedCount = (bindingId: string, serviceAccount: string) =>
  broker
    .auditRecords()
    .filter(
      (record) =>
        record.event === 'credentials' &&
        record.decision === 'allow' &&
        record.bindingId === bindingId &&
        record.serviceAccount === serviceAccount,
    ).length

beforeAll(async () => {
  requireTools(['aws', 'python3', 'moto_server'])
  const adminToken = randomBytes(32).toString('base64url')
  redactor.add(adminToken)
  broker = await startLocalBroker({ adminToken, redactor, tempDirs })
  const issuer = await registerMlWorkload(broker, redactor)
  await registerShortLivedBinding(broker, redactor)

  const tokenDir = makeTempDir(tempDirs, 'irsa-broker-e2e-token-')
  const allowedToken = await issuer.mint({ namespace: 'ml', serviceAccount: 'trainer' })
  const refresherToken = await issuer.mint({ namespace: 'ml', serviceAccount: 'refresher' })
  deniedToken = await issuer.mint({ namespace: 'finance', serviceAccount: 'payroll' })
  redactor.add(allowedToken, refresherToken, deniedToken)
  allowedTokenFile = writeTokenFile(tokenDir, 'token', allowedToken)
  refresherTokenFile = writeTokenFile(tokenDir, 'refresher-token', refresherToken)
  deniedTokenFile = writeTokenFile(tokenDir, 'denied-token', deniedToken)
}, BROKER_START_TIMEOUT_MS + 30_000)

stopAfterAll(() => broker, tempDirs)

describe('unmodified AWS clients get role credentials from the local broker', () => {
  test(
    'AWS CLI v1 with role=ml-reader (a profile) calls STS as ml-s3-reader with session ml.trainer',
    async () => {
      const identity = parseOutput<CallerIdentity>(
        'aws sts get-caller-identity (role=ml-reader)',
        await awsCliCallerIdentity('ml-reader', allowedTokenFile),
      )
      expect(identity.Arn).toBe(READER_SESSION_ARN)
      expect(identity.Account).toBe(ACCOUNT)
      expect(identity.UserId).toMatch(/^AROA[A-Z0-9]+:ml\.trainer$/)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'AWS CLI v1 with role=ml-writer (the other binding of the same workload) calls STS as ml-s3-writer',
    async () => {
      const identity = parseOutput<CallerIdentity>(
        'aws sts get-caller-identity (role=ml-writer)',
        await awsCliCallerIdentity('ml-writer', allowedTokenFile),
      )
      expect(identity.Arn).toBe(WRITER_SESSION_ARN)
      expect(identity.Account).toBe(ACCOUNT)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'AWS CLI v1 with role=<role ARN> selects the binding by ARN and calls STS as that role',
    async () => {
      const identity = parseOutput<CallerIdentity>(
        `aws sts get-caller-identity (role=${WRITER_ROLE_ARN})`,
        await awsCliCallerIdentity(WRITER_ROLE_ARN, allowedTokenFile),
      )
      expect(identity.Arn).toBe(WRITER_SESSION_ARN)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'boto3 default Session resolves container-role credentials from the broker and calls STS as ml-s3-reader',
    async () => {
      const [result] = parseOutput<Identities[]>(
        'boto3 get_caller_identity (role=ml-reader)',
        await run(
          'python3',
          [BOTO3_SCRIPT, broker.stsEndpoint],
          containerEnv(broker.url, 'ml-reader', allowedTokenFile),
        ),
      )
      expect(result?.credentialMethod).toBe('container-role')
      expect(result?.calls.map((call) => [call.Arn, call.Account])).toEqual([[READER_SESSION_ARN, ACCOUNT]])
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'AWS SDK for JavaScript v3: fromHttp with explicit options (no AWS variables set) calls STS as ml-s3-writer',
    async () => {
      const result = parseOutput<Identities>(
        'js sdk fromHttp (role=ml-writer)',
        await run(
          'node',
          [
            JS_SDK_SCRIPT,
            '--sts',
            broker.stsEndpoint,
            '--provider',
            'http',
            '--full-uri',
            `${broker.url}/v1/credentials?role=ml-writer`,
            '--token-file',
            allowedTokenFile,
          ],
          cleanEnv({ AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' }),
        ),
      )
      expect(result.calls.map((call) => call.Arn)).toEqual([WRITER_SESSION_ARN])
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'AWS SDK for JavaScript v3: the default provider chain finds the container variables and calls STS as ml-s3-reader',
    async () => {
      const result = parseOutput<Identities>(
        'js sdk default chain (role=ml-reader)',
        await run(
          'node',
          [JS_SDK_SCRIPT, '--sts', broker.stsEndpoint, '--provider', 'chain'],
          containerEnv(broker.url, READER_ROLE_ARN, allowedTokenFile),
        ),
      )
      expect(result.calls.map((call) => call.Arn)).toEqual([READER_SESSION_ARN])
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'a token whose subject matches no binding: the AWS CLI fails to get credentials and the broker answers 403 AccessDenied',
    async () => {
      const result = await awsCliCallerIdentity('ml-reader', deniedTokenFile)
      const described = describeRun('aws sts get-caller-identity (denied token)', result, redactor)
      expect(result.code, described).not.toBe(0)
      expect(result.timedOut, described).toBe(false)
      // The CLI failed for the right reason: the container provider got the broker's 403.
      expect(result.stderr, described).toMatch(/container-role[\s\S]*\b403\b[\s\S]*"code":"AccessDenied"/)
      expect(result.stdout).toBe('')

      // The same request the CLI made (raw token, no Bearer prefix), answered to fetch.
      const response = await fetch(`${broker.url}/v1/credentials?role=ml-reader`, {
        headers: { authorization: deniedToken },
      })
      const text = await response.text()
      expect(response.status, redactor.redact(text)).toBe(403)
      expect(response.headers.get('content-type')).toMatch(/^application\/json/)
      const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; requestId?: unknown } }
      expect(body).toEqual({
        error: { code: 'AccessDenied', message: expect.any(String), requestId: expect.any(String) },
      })
      expect(text).not.toContain(deniedToken)
      expect(text).not.toMatch(/AccessKeyId|SecretAccessKey/)
    },
    TEST_TIMEOUT_MS + JS_PAUSE_SECONDS * 1000,
  )
})

describe('credentials near expiry are refreshed through the container provider', () => {
  test(
    `boto3: a ${SHORT_SESSION_SECONDS} s session is refreshed once under 15 minutes remain — two calls, two keys, two broker requests`,
    async () => {
      const before = issuedCount('ml-short', 'refresher')
      const [result] = parseOutput<Identities[]>(
        'boto3 two calls across a refresh (role=ml-short)',
        await run(
          'python3',
          [BOTO3_SCRIPT, broker.stsEndpoint, '--calls', '2', '--sleep', String(BOTOCORE_PAUSE_SECONDS)],
          containerEnv(broker.url, 'ml-short', refresherTokenFile),
        ),
      )
      expect(result?.credentialMethod).toBe('container-role')
      expect(result?.calls.map((call) => call.signingKey)).toEqual([
        expect.stringMatching(/^[0-9a-f]{16}$/),
        expect.stringMatching(/^[0-9a-f]{16}$/),
      ])
      expectRefreshedTwice(result?.calls, issuedCount('ml-short', 'refresher') - before)
    },
    TEST_TIMEOUT_MS + BOTOCORE_PAUSE_SECONDS * 1000,
  )

  test(
    'AWS SDK for JavaScript v3 (fromHttp): past the 5-minute refresh window it asks the broker again — two calls, two keys, two broker requests',
    async () => {
      const before = issuedCount('ml-short', 'refresher')
      const result = parseOutput<Identities>(
        'js sdk fromHttp two calls across a refresh (role=ml-short)',
        await run(
          'node',
          [
            JS_SDK_SCRIPT,
            '--sts',
            broker.stsEndpoint,
            '--provider',
            'http',
            '--full-uri',
            `${broker.url}/v1/credentials?role=ml-short`,
            '--token-file',
            refresherTokenFile,
            '--calls',
            '2',
            '--pause-seconds',
            String(JS_PAUSE_SECONDS),
            '--advance-clock-seconds',
            String(JS_CLOCK_JUMP_SECONDS),
          ],
          cleanEnv({ AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' }),
        ),
      )
      expectRefreshedTwice(result.calls, issuedCount('ml-short', 'refresher') - before)
    },
    TEST_TIMEOUT_MS + JS_PAUSE_SECONDS * 1000,
  )
})
