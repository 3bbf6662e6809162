// The user story end to end, with AWS clients nobody on this team wrote: the real local
// broker (`npm start`, with the moto_server it starts itself), an issuer and two bindings
// registered through the admin API, a workload token in a file as kubelet projects it, and
// then the AWS CLI v1 and boto3 — configured only by the standard container-credentials
// variables — calling STS as the bound role.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { freePort } from '../../infra/local/processes.js'
import { createTestIssuer } from '../support/workload-issuer.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '../..')
const TSX = join(ROOT, 'node_modules/.bin/tsx')
const BOTO3_SCRIPT = join(HERE, 'boto3_caller_identity.py')

/** Every spawned AWS client gets this long; a hung client fails its test instead of the run. */
const CLIENT_TIMEOUT_MS = 60_000
const TEST_TIMEOUT_MS = CLIENT_TIMEOUT_MS + 15_000
const BROKER_START_TIMEOUT_MS = 60_000
const BROKER_STOP_TIMEOUT_MS = 15_000

const ACCOUNT = '111122223333'
const READER_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/ml-s3-reader`
const WRITER_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/ml-s3-writer`
// moto 5 assumes a role in the account named by the role ARN (it parses `arn:aws:iam::<acct>:`)
// and answers GetCallerIdentity for those temporary keys with that account, not with its default
// 123456789012 — just as real STS reports the role's account. So the ARN is the real IRSA one.
const READER_SESSION_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/ml-s3-reader/ml.trainer`
const WRITER_SESSION_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/ml-s3-writer/ml.trainer`

interface ClientResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut: boolean
}

interface CallerIdentity {
  UserId: string
  Account: string
  Arn: string
}

/** Secrets that must never reach a log or an assertion message. */
const secrets: string[] = []
const redact = (text: string): string =>
  secrets.reduce((out, secret) => out.split(secret).join('<redacted>'), text)

/** The test runner's environment without anything that could hand a client credentials or an endpoint. */
const cleanEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue
    if (/^(AWS_|BOTO_|IRSA_BROKER_)/.test(name)) continue
    env[name] = value
  }
  return { ...env, ...extra }
}

const run = (command: string, args: string[], env: NodeJS.ProcessEnv): Promise<ClientResult> =>
  new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, CLIENT_TIMEOUT_MS)
    child.once('error', (error) => {
      clearTimeout(timer)
      fail(error)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      done({ code, signal, stdout, stderr: redact(stderr), timedOut })
    })
  })

const describeRun = (what: string, result: ClientResult): string =>
  `${what}: exit ${result.code}${result.signal ? ` (signal ${result.signal})` : ''}${
    result.timedOut ? ` (killed after ${CLIENT_TIMEOUT_MS} ms)` : ''
  }\n--- stderr ---\n${result.stderr}\n--- stdout ---\n${redact(result.stdout)}`

const portAcceptsConnections = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.setTimeout(2000)
    socket.once('connect', () => {
      socket.destroy()
      done(true)
    })
    socket.once('timeout', () => {
      socket.destroy()
      done(true)
    })
    socket.once('error', () => done(false))
  })

const requireTools = () => {
  const missing = [
    ['aws', 'the AWS CLI v1: pip install awscli'],
    ['python3', 'Python 3 with boto3: pip install boto3'],
    ['moto_server', 'moto_server: pip install "moto[server]"'],
  ].filter(([tool]) => spawnSync('which', [tool as string], { stdio: 'ignore' }).status !== 0)
  if (missing.length > 0) {
    throw new Error(
      `The e2e AWS-client tests need these on PATH: ${missing.map(([tool, hint]) => `${tool} (${hint})`).join('; ')}`,
    )
  }
  const boto3 = spawnSync('python3', ['-c', 'import boto3'], { encoding: 'utf8' })
  if (boto3.status !== 0) {
    throw new Error(`python3 on PATH cannot import boto3 (pip install boto3):\n${boto3.stderr}`)
  }
}

let broker: ChildProcess | undefined
let brokerExit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined
let brokerOutput = ''
let brokerUrl = ''
let stsEndpoint = ''
let stsPort = 0
const tempDirs: string[] = []
let allowedTokenFile = ''
let deniedTokenFile = ''
let deniedToken = ''

const startBroker = async (adminToken: string) => {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'irsa-broker-e2e-data-'))
  tempDirs.push(dataDir)
  const child = spawn(TSX, ['infra/local/main.ts'], {
    cwd: ROOT,
    // No AWS_ENDPOINT_URL_STS (nor any other AWS_ variable): the broker starts its own moto_server.
    env: cleanEnv({
      PORT: String(port),
      IRSA_BROKER_DATA_DIR: dataDir,
      IRSA_BROKER_ADMIN_TOKEN: adminToken,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  broker = child
  brokerExit = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })))
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000)
  })
  // Keep draining stdout (JSON log and audit lines follow the banner) so the pipe never blocks.
  child.stdout?.on('data', (chunk: Buffer) => {
    brokerOutput = (brokerOutput + chunk.toString()).slice(-200_000)
  })

  const listening = /irsa-broker \(local\) listening on (http:\/\/127\.0\.0\.1:(\d+))/
  const sts = /^ {2}STS {10}(http:\/\/127\.0\.0\.1:(\d+)) \(moto_server started from PATH, /m
  const deadline = Date.now() + BROKER_START_TIMEOUT_MS
  while (!(listening.test(brokerOutput) && sts.test(brokerOutput))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `the broker exited (${child.exitCode ?? child.signalCode}) before listening:\n${redact(stderr)}\n${redact(brokerOutput)}`,
      )
    }
    if (Date.now() > deadline) {
      throw new Error(
        `the broker did not print "listening on" and its STS line within ${BROKER_START_TIMEOUT_MS} ms:\n${redact(stderr)}\n${redact(brokerOutput)}`,
      )
    }
    await new Promise((done) => setTimeout(done, 50))
  }
  const listenMatch = listening.exec(brokerOutput)
  const stsMatch = sts.exec(brokerOutput)
  brokerUrl = listenMatch?.[1] ?? ''
  stsEndpoint = stsMatch?.[1] ?? ''
  stsPort = Number(stsMatch?.[2])
  expect(brokerUrl).toBe(`http://127.0.0.1:${port}`)
  expect(stsPort).not.toBe(port)
  // So that "the STS port is closed" after the broker's exit means something.
  expect(await portAcceptsConnections(stsPort), `moto_server answers on port ${stsPort}`).toBe(true)
}

const admin = async (adminToken: string, path: string, body: unknown) => {
  const response = await fetch(`${brokerUrl}${path}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = await response.text()
  expect(response.status, `PUT ${path} answered ${response.status}: ${redact(text)}`).toBe(201)
}

/** A projected service-account token as kubelet writes it: mode 0600, no trailing newline. */
const writeTokenFile = (dir: string, name: string, token: string): string => {
  const path = join(dir, name)
  writeFileSync(path, token, { mode: 0o600 })
  expect(statSync(path).mode & 0o777).toBe(0o600)
  return path
}

/** What a workload container carries: the two container-credentials variables, nothing else of AWS. */
const workloadEnv = (role: string, tokenFile: string): NodeJS.ProcessEnv =>
  cleanEnv({
    AWS_CONTAINER_CREDENTIALS_FULL_URI: `${brokerUrl}/v1/credentials?role=${role}`,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    // Should the container provider be skipped, fail instead of probing IMDS off the loopback.
    AWS_EC2_METADATA_DISABLED: 'true',
  })

const awsCliCallerIdentity = (role: string, tokenFile: string) =>
  run('aws', ['sts', 'get-caller-identity', '--endpoint-url', stsEndpoint, '--output', 'json'], {
    ...workloadEnv(role, tokenFile),
  })

const parseIdentity = (what: string, result: ClientResult): CallerIdentity => {
  expect(result.code, describeRun(what, result)).toBe(0)
  return JSON.parse(result.stdout) as CallerIdentity
}

beforeAll(async () => {
  requireTools()
  const adminToken = randomBytes(32).toString('base64url')
  secrets.push(adminToken)
  await startBroker(adminToken)

  const issuer = await createTestIssuer()
  await admin(adminToken, '/v1/admin/issuers/onprem-a', {
    issuer: 'https://kubernetes.default.svc.cluster.local',
    audiences: ['irsa-broker'],
    jwks: issuer.jwks,
  })
  const sessionName = '{/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}'
  await admin(adminToken, '/v1/admin/issuers/onprem-a/bindings/ml-reader', {
    roleArn: READER_ROLE_ARN,
    profile: 'ml-reader',
    subjects: ['system:serviceaccount:ml:*'],
    sessionName,
  })
  await admin(adminToken, '/v1/admin/issuers/onprem-a/bindings/ml-writer', {
    roleArn: WRITER_ROLE_ARN,
    profile: 'ml-writer',
    subjects: ['system:serviceaccount:ml:*'],
    sessionName,
  })

  const tokenDir = mkdtempSync(join(tmpdir(), 'irsa-broker-e2e-token-'))
  tempDirs.push(tokenDir)
  const allowedToken = await issuer.mint({ namespace: 'ml', serviceAccount: 'trainer' })
  deniedToken = await issuer.mint({ namespace: 'finance', serviceAccount: 'payroll' })
  secrets.push(allowedToken, deniedToken)
  allowedTokenFile = writeTokenFile(tokenDir, 'token', allowedToken)
  deniedTokenFile = writeTokenFile(tokenDir, 'denied-token', deniedToken)
}, BROKER_START_TIMEOUT_MS + 30_000)

afterAll(async () => {
  try {
    if (broker && brokerExit) {
      broker.kill('SIGTERM')
      const timeout = new Promise<'timeout'>((done) =>
        setTimeout(() => done('timeout'), BROKER_STOP_TIMEOUT_MS).unref(),
      )
      const exit = await Promise.race([brokerExit, timeout])
      if (exit === 'timeout') broker.kill('SIGKILL')
      expect(exit, 'the broker stops cleanly on SIGTERM').toEqual({ code: 0, signal: null })
      if (stsPort > 0) {
        expect(
          await portAcceptsConnections(stsPort),
          `the moto_server the broker started (port ${stsPort}) is gone once the broker has exited`,
        ).toBe(false)
      }
    }
  } finally {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  }
}, BROKER_STOP_TIMEOUT_MS + 10_000)

describe('unmodified AWS clients get role credentials from the local broker', () => {
  test(
    'AWS CLI v1 with role=ml-reader (a profile) calls STS as ml-s3-reader with session ml.trainer',
    async () => {
      const identity = parseIdentity(
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
      const identity = parseIdentity(
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
      const identity = parseIdentity(
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
      const result = await run(
        'python3',
        [BOTO3_SCRIPT, stsEndpoint],
        workloadEnv('ml-reader', allowedTokenFile),
      )
      const identity = parseIdentity(
        'boto3 get_caller_identity (role=ml-reader)',
        result,
      ) as CallerIdentity & {
        credentialMethod: string | null
      }
      expect(identity.credentialMethod).toBe('container-role')
      expect(identity.Arn).toBe(READER_SESSION_ARN)
      expect(identity.Account).toBe(ACCOUNT)
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'a token whose subject matches no binding: the AWS CLI fails to get credentials and the broker answers 403 AccessDenied',
    async () => {
      const result = await awsCliCallerIdentity('ml-reader', deniedTokenFile)
      expect(result.code, describeRun('aws sts get-caller-identity (denied token)', result)).not.toBe(0)
      expect(result.timedOut, describeRun('aws sts get-caller-identity (denied token)', result)).toBe(false)
      // The CLI failed for the right reason: the container provider got the broker's 403.
      expect(result.stderr, describeRun('aws sts get-caller-identity (denied token)', result)).toMatch(
        /container-role[\s\S]*\b403\b[\s\S]*"code":"AccessDenied"/,
      )
      expect(result.stdout).toBe('')

      // The same request the CLI made (raw token, no Bearer prefix), answered to fetch.
      const response = await fetch(`${brokerUrl}/v1/credentials?role=ml-reader`, {
        headers: { authorization: deniedToken },
      })
      const text = await response.text()
      expect(response.status, redact(text)).toBe(403)
      expect(response.headers.get('content-type')).toMatch(/^application\/json/)
      const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; requestId?: unknown } }
      expect(body).toEqual({
        error: { code: 'AccessDenied', message: expect.any(String), requestId: expect.any(String) },
      })
      expect(text).not.toContain(deniedToken)
      expect(text).not.toMatch(/AccessKeyId|SecretAccessKey/)
    },
    TEST_TIMEOUT_MS,
  )
})
