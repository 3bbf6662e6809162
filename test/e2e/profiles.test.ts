// One profile per role: `irsa-broker configure` asks the local broker (`npm start`) which roles
// a workload's token may use and merges one credential_process profile per role into an AWS
// config file; then the AWS CLI, boto3 and the AWS SDK for JavaScript v3 — configured only by
// that file — call STS (moto_server, started by the broker) as the role of the profile they name.
// The token lives in a directory whose name needs quoting, so every client really parses the
// quoted credential_process line.
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, test } from 'vitest'
import {
  BOTOCORE_PAUSE_SECONDS,
  type CallerIdentity,
  expectRefreshedTwice,
  type Identities,
  JS_CLOCK_JUMP_SECONDS,
  JS_PAUSE_SECONDS,
  profileEnv,
  READER_ROLE_ARN,
  READER_SESSION_ARN,
  registerMlWorkload,
  registerShortLivedBinding,
  SHORT_SESSION_SECONDS,
  sessionArn,
  WRITER_ROLE_ARN,
  WRITER_SESSION_ARN,
} from '../support/e2e-workload.js'
import {
  BROKER_START_TIMEOUT_MS,
  CLI_BIN,
  createRedactor,
  describeRun,
  type LocalBroker,
  makeTempDir,
  type ProcessResult,
  requireTools,
  runCli,
  runProcess,
  startLocalBroker,
  stopAfterAll,
  TEST_TIMEOUT_MS,
  writeTokenFile,
} from '../support/local-broker.js'
import type { TestIssuer } from '../support/workload-issuer.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const BOTO3_SCRIPT = join(HERE, 'boto3_identities.py')
const JS_SDK_SCRIPT = join(HERE, 'js_sdk_identities.mjs')

const EXISTING_CONFIG = `# Settings of this machine; irsa-broker configure must keep them.
[default]
region = eu-west-1
output = json

[profile ml-reader]
region = us-east-1
; written by an older setup
credential_process = /usr/local/bin/old-helper --role ml-reader

[profile other]
role_arn = arn:aws:iam::123456789012:role/something-else
source_profile = default
s3 =
  max_concurrent_requests = 10
  multipart_threshold = 64MB
`

const redactor = createRedactor()
const tempDirs: string[] = []
let broker: LocalBroker
let issuer: TestIssuer
let tokenDir = ''
let trainerTokenFile = ''
let refresherTokenFile = ''
/** The config `configure` merged into, shared by the client tests below. */
let configFile = ''
let refresherConfigFile = ''

const run = (command: string, args: string[], env: NodeJS.ProcessEnv) =>
  runProcess(command, args, { env, redactor })

const parseOutput = <T>(what: string, result: ProcessResult): T => {
  expect(result.code, describeRun(what, result, redactor)).toBe(0)
  return JSON.parse(result.stdout) as T
}

const quote = (arg: string) =>
  /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`

/** The line configure is expected to write: absolute node and bin, the broker, the token, the profile. */
const expectedLine = (tokenFile: string, profile: string) =>
  `credential_process = ${[
    process.execPath,
    CLI_BIN,
    'credential-process',
    '--endpoint',
    broker.url,
    '--token-file',
    tokenFile,
    '--role',
    profile,
  ]
    .map(quote)
    .join(' ')}`

/** The comment configure marks what it wrote with: a whole profile, or one credential_process line. */
const marker = (kind: 'profile' | 'credential_process', tokenFile: string) =>
  `# irsa-broker configure: ${kind} of endpoint=${broker.url} token-file=${tokenFile}`

const configure = (tokenFile: string, config: string, extra: string[] = []) =>
  runCli(
    ['configure', '--endpoint', broker.url, '--token-file', tokenFile, '--config-file', config, ...extra],
    {
      redactor,
    },
  )

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

const awsCli = (profile: string, config: string) =>
  run(
    'aws',
    [
      'sts',
      'get-caller-identity',
      '--profile',
      profile,
      '--endpoint-url',
      broker.stsEndpoint,
      '--output',
      'json',
    ],
    profileEnv(config),
  )

beforeAll(async () => {
  requireTools(['aws', 'python3', 'moto_server'])
  const adminToken = randomBytes(32).toString('base64url')
  redactor.add(adminToken)
  broker = await startLocalBroker({ adminToken, redactor, tempDirs })
  issuer = await registerMlWorkload(broker, redactor)
  await registerShortLivedBinding(broker, redactor)

  const base = makeTempDir(tempDirs, 'irsa-broker-e2e-profiles-')
  // A space and a quote: the credential_process line must quote the path for shlex and /bin/sh alike.
  tokenDir = join(base, "pod's token")
  mkdirSync(tokenDir)
  const trainerToken = await issuer.mint({ namespace: 'ml', serviceAccount: 'trainer' })
  const refresherToken = await issuer.mint({ namespace: 'ml', serviceAccount: 'refresher' })
  redactor.add(trainerToken, refresherToken)
  trainerTokenFile = writeTokenFile(tokenDir, 'token', trainerToken)
  refresherTokenFile = writeTokenFile(tokenDir, 'refresher-token', refresherToken)
  configFile = join(base, 'config')
  writeFileSync(configFile, EXISTING_CONFIG)
  chmodSync(configFile, 0o640)
  refresherConfigFile = join(base, 'refresher-config')
}, BROKER_START_TIMEOUT_MS + 30_000)

stopAfterAll(() => broker, tempDirs)

describe('irsa-broker configure writes one profile per role into the AWS config', () => {
  test(
    'merges ml-reader and ml-writer into an existing file: other profiles, comments and settings stay byte for byte',
    async () => {
      const result = await configure(trainerTokenFile, configFile)
      expect(result.code, describeRun('configure', result, redactor)).toBe(0)
      // ml-reader was there (someone else's profile): only its credential_process line is
      // configure's; ml-writer is new, so the whole profile is.
      expect(readFileSync(configFile, 'utf8')).toBe(
        `${EXISTING_CONFIG.replace(
          'credential_process = /usr/local/bin/old-helper --role ml-reader',
          `${marker('credential_process', trainerTokenFile)}\n${expectedLine(trainerTokenFile, 'ml-reader')}`,
        )}\n[profile ml-writer]\n${marker('profile', trainerTokenFile)}\n${expectedLine(trainerTokenFile, 'ml-writer')}\n`,
      )
      expect(statSync(configFile).mode & 0o777, 'the file keeps its mode').toBe(0o640)
      expect(result.stdout.trim().split('\n')).toEqual([
        expect.stringMatching(/^PROFILE +ROLE +CHANGE$/),
        expect.stringMatching(new RegExp(`^ml-reader +${READER_ROLE_ARN} +updated$`)),
        expect.stringMatching(new RegExp(`^ml-writer +${WRITER_ROLE_ARN} +added$`)),
      ])
      expect(result.stderr).toBe(`irsa-broker: wrote ${configFile} (2 profile(s))\n`)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'running it again with the same answer changes nothing: same bytes, same mtime, every profile "unchanged"',
    async () => {
      const before = { text: readFileSync(configFile, 'utf8'), mtime: statSync(configFile).mtimeMs }
      const result = await configure(trainerTokenFile, configFile, ['--output', 'json'])
      expect(result.code, describeRun('configure (again)', result, redactor)).toBe(0)
      expect(JSON.parse(result.stdout)).toEqual({
        configFile,
        profiles: [
          { profile: 'ml-reader', roleArn: READER_ROLE_ARN, outcome: 'unchanged' },
          { profile: 'ml-writer', roleArn: WRITER_ROLE_ARN, outcome: 'unchanged' },
        ],
      })
      expect(readFileSync(configFile, 'utf8')).toBe(before.text)
      expect(statSync(configFile).mtimeMs).toBe(before.mtime)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    '--dry-run prints the merged file and writes nothing (the file does not even exist afterwards)',
    async () => {
      const target = join(dirname(configFile), 'dry-run-config')
      const result = await configure(refresherTokenFile, target, ['--dry-run'])
      expect(result.code, describeRun('configure --dry-run', result, redactor)).toBe(0)
      expect(result.stdout).toBe(
        ['ml-reader', 'ml-short', 'ml-writer']
          .map(
            (profile) =>
              `[profile ${profile}]\n${marker('profile', refresherTokenFile)}\n${expectedLine(refresherTokenFile, profile)}\n`,
          )
          .join('\n'),
      )
      expect(() => statSync(target)).toThrow(/ENOENT/)
    },
    TEST_TIMEOUT_MS,
  )
})

describe('unmodified AWS clients use the written profiles (credential_process) for a workload bound to two roles', () => {
  test(
    'AWS CLI: --profile ml-reader calls STS as ml-s3-reader, --profile ml-writer as ml-s3-writer',
    async () => {
      const [reader, writer] = await Promise.all([
        awsCli('ml-reader', configFile),
        awsCli('ml-writer', configFile),
      ])
      expect(parseOutput<CallerIdentity>('aws --profile ml-reader', reader as ProcessResult).Arn).toBe(
        READER_SESSION_ARN,
      )
      expect(parseOutput<CallerIdentity>('aws --profile ml-writer', writer as ProcessResult).Arn).toBe(
        WRITER_SESSION_ARN,
      )
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'boto3: Session(profile_name=...) resolves each profile through custom-process and calls STS as its role',
    async () => {
      const results = parseOutput<(Identities & { profile: string })[]>(
        'boto3 profiles',
        await run(
          'python3',
          [BOTO3_SCRIPT, broker.stsEndpoint, '--profile', 'ml-reader', '--profile', 'ml-writer'],
          profileEnv(configFile),
        ),
      )
      expect(results.map((r) => [r.profile, r.credentialMethod, r.calls.map((call) => call.Arn)])).toEqual([
        ['ml-reader', 'custom-process', [READER_SESSION_ARN]],
        ['ml-writer', 'custom-process', [WRITER_SESSION_ARN]],
      ])
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'AWS SDK for JavaScript v3: fromProcess({ profile }) calls STS as the role of each profile',
    async () => {
      const [reader, writer] = await Promise.all(
        ['ml-reader', 'ml-writer'].map((profile) =>
          run(
            'node',
            [JS_SDK_SCRIPT, '--sts', broker.stsEndpoint, '--provider', 'process', '--profile', profile],
            profileEnv(configFile),
          ),
        ),
      )
      expect(parseOutput<Identities>('js fromProcess ml-reader', reader as ProcessResult).calls[0]?.Arn).toBe(
        READER_SESSION_ARN,
      )
      expect(parseOutput<Identities>('js fromProcess ml-writer', writer as ProcessResult).calls[0]?.Arn).toBe(
        WRITER_SESSION_ARN,
      )
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'AWS SDK for JavaScript v3: the default provider chain with AWS_PROFILE=ml-writer runs its credential_process',
    async () => {
      const result = parseOutput<Identities>(
        'js default chain, AWS_PROFILE=ml-writer',
        await run('node', [JS_SDK_SCRIPT, '--sts', broker.stsEndpoint, '--provider', 'chain'], {
          ...profileEnv(configFile),
          AWS_PROFILE: 'ml-writer',
        }),
      )
      expect(result.calls.map((call) => call.Arn)).toEqual([WRITER_SESSION_ARN])
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'credential-process reads the token file on every call: after kubelet-style rotation to another service account, the session follows',
    async () => {
      const dir = makeTempDir(tempDirs, 'irsa-broker-e2e-rotate-')
      const rotatingToken = writeTokenFile(
        dir,
        'token',
        await issuer.mint({ namespace: 'ml', serviceAccount: 'trainer' }),
      )
      const rotatingConfig = join(dir, 'config')
      const configured = await configure(rotatingToken, rotatingConfig)
      expect(configured.code, describeRun('configure', configured, redactor)).toBe(0)
      expect(
        parseOutput<CallerIdentity>('aws before rotation', await awsCli('ml-reader', rotatingConfig)).Arn,
      ).toBe(READER_SESSION_ARN)

      const analystToken = await issuer.mint({ namespace: 'ml', serviceAccount: 'analyst' })
      redactor.add(analystToken)
      // kubelet writes the new token, with a trailing newline here, which the CLI trims.
      writeFileSync(rotatingToken, `${analystToken}\n`)
      expect(
        parseOutput<CallerIdentity>('aws after rotation', await awsCli('ml-reader', rotatingConfig)).Arn,
      ).toBe(sessionArn('ml-s3-reader', 'ml.analyst'))
    },
    TEST_TIMEOUT_MS * 2,
  )
})

describe('credentials near expiry are refreshed through credential_process', () => {
  beforeAll(async () => {
    const result = await configure(refresherTokenFile, refresherConfigFile)
    expect(result.code, describeRun('configure (refresher)', result, redactor)).toBe(0)
    expect(readFileSync(refresherConfigFile, 'utf8')).toContain(expectedLine(refresherTokenFile, 'ml-short'))
  }, TEST_TIMEOUT_MS)

  test(
    `boto3: a ${SHORT_SESSION_SECONDS} s session from profile ml-short is refreshed under 15 minutes left — two calls, two keys, two broker requests`,
    async () => {
      const before = issuedCount('ml-short', 'refresher')
      const [result] = parseOutput<Identities[]>(
        'boto3 ml-short two calls',
        await run(
          'python3',
          [
            BOTO3_SCRIPT,
            broker.stsEndpoint,
            '--profile',
            'ml-short',
            '--calls',
            '2',
            '--sleep',
            String(BOTOCORE_PAUSE_SECONDS),
          ],
          profileEnv(refresherConfigFile),
        ),
      )
      expect(result?.credentialMethod).toBe('custom-process')
      expectRefreshedTwice(result?.calls, issuedCount('ml-short', 'refresher') - before)
    },
    TEST_TIMEOUT_MS + BOTOCORE_PAUSE_SECONDS * 1000,
  )

  test(
    'AWS SDK for JavaScript v3 (fromProcess): past the 5-minute refresh window it runs credential_process again — two calls, two keys, two broker requests',
    async () => {
      const before = issuedCount('ml-short', 'refresher')
      const result = parseOutput<Identities>(
        'js fromProcess ml-short two calls',
        await run(
          'node',
          [
            JS_SDK_SCRIPT,
            '--sts',
            broker.stsEndpoint,
            '--provider',
            'process',
            '--profile',
            'ml-short',
            '--calls',
            '2',
            '--pause-seconds',
            String(JS_PAUSE_SECONDS),
            '--advance-clock-seconds',
            String(JS_CLOCK_JUMP_SECONDS),
          ],
          profileEnv(refresherConfigFile),
        ),
      )
      expectRefreshedTwice(result.calls, issuedCount('ml-short', 'refresher') - before)
    },
    TEST_TIMEOUT_MS + JS_PAUSE_SECONDS * 1000,
  )
})
