// The e2e tests' harness: the local broker spawned exactly as `npm start` runs it (with the
// moto_server it starts itself), child processes with a bounded lifetime and an environment
// cleaned of AWS settings, and a redactor so no token reaches an assertion message.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect } from 'vitest'
import { freePort } from '../../infra/local/processes.js'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
/** tsx's command line, for the repository's TypeScript scripts (dev-issuer). */
export const TSX = join(ROOT, 'node_modules/.bin/tsx')
/** What `npm start` runs (package.json): node with tsx's loader, no wrapper process between. */
export const START_COMMAND = [process.execPath, '--import', 'tsx', 'infra/local/main.ts'] as const
/** The CLI as package.json's "bin" names it. */
export const CLI_BIN = join(ROOT, 'bin/irsa-broker.js')

/** Every spawned client gets this long; a hung client fails its test instead of the run. */
export const CLIENT_TIMEOUT_MS = 60_000
export const TEST_TIMEOUT_MS = CLIENT_TIMEOUT_MS + 15_000
export const BROKER_START_TIMEOUT_MS = 60_000
export const BROKER_STOP_TIMEOUT_MS = 15_000

export interface ProcessResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut: boolean
}

/** Secrets that must never reach a log or an assertion message. */
export interface Redactor {
  add(...secrets: string[]): void
  redact(text: string): string
}

export const createRedactor = (): Redactor => {
  const secrets: string[] = []
  return {
    add: (...added) => {
      secrets.push(...added)
    },
    redact: (text) =>
      secrets
        .reduce((out, secret) => out.split(secret).join('<redacted>'), text)
        // Credentials a client printed (credential_process JSON) are unknown in advance.
        .replace(/("(?:SecretAccessKey|SessionToken|Token)"\s*:\s*")[^"]*"/g, '$1<redacted>"'),
  }
}

/** The test runner's environment without anything that could hand a client credentials or an endpoint. */
export const cleanEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue
    if (/^(AWS_|BOTO_|IRSA_BROKER_)/.test(name)) continue
    env[name] = value
  }
  return { ...env, ...extra }
}

export const runProcess = (
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; redactor: Redactor; cwd?: string; timeoutMs?: number },
): Promise<ProcessResult> =>
  new Promise((done, fail) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? ROOT,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
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
    }, options.timeoutMs ?? CLIENT_TIMEOUT_MS)
    child.once('error', (error) => {
      clearTimeout(timer)
      fail(error)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      done({ code, signal, stdout, stderr: options.redactor.redact(stderr), timedOut })
    })
  })

export const describeRun = (what: string, result: ProcessResult, redactor: Redactor): string =>
  `${what}: exit ${result.code}${result.signal ? ` (signal ${result.signal})` : ''}${
    result.timedOut ? ' (killed at its time limit)' : ''
  }\n--- stderr ---\n${result.stderr}\n--- stdout ---\n${redactor.redact(result.stdout)}`

export const portAcceptsConnections = (port: number): Promise<boolean> =>
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

const TOOLS: Record<string, string> = {
  aws: 'the AWS CLI v1: pip install awscli',
  python3: 'Python 3 with boto3: pip install boto3',
  moto_server: 'moto_server: pip install "moto[server]"',
  curl: 'curl (the README uses it)',
}

export const requireTools = (tools: readonly (keyof typeof TOOLS)[]) => {
  const missing = tools.filter((tool) => spawnSync('which', [tool], { stdio: 'ignore' }).status !== 0)
  if (missing.length > 0) {
    throw new Error(
      `The e2e tests need these on PATH: ${missing.map((tool) => `${tool} (${TOOLS[tool]})`).join('; ')}`,
    )
  }
  if (tools.includes('python3')) {
    const boto3 = spawnSync('python3', ['-c', 'import boto3'], { encoding: 'utf8' })
    if (boto3.status !== 0)
      throw new Error(`python3 on PATH cannot import boto3 (pip install boto3):\n${boto3.stderr}`)
  }
}

/** One JSON log line of the broker (its stdout after the banner). */
export type LogRecord = Record<string, unknown>

export interface LocalBroker {
  url: string
  stsEndpoint: string
  stsPort: number
  adminToken: string
  /** Its IRSA_BROKER_DATA_DIR (admin token, dynalite data, audit.log). */
  dataDir: string
  /** Audit records written so far, oldest first. */
  auditRecords(): LogRecord[]
  /** SIGTERM, then checks it exits 0 and that the moto_server it started is gone. */
  stop(): Promise<void>
}

/** Starts START_COMMAND (what `npm start` runs) on a free port with a fresh data folder. */
export const startLocalBroker = async (options: {
  adminToken: string
  redactor: Redactor
  tempDirs: string[]
  /** More settings of the broker, e.g. IRSA_BROKER_CACHE_TTL_SECONDS. */
  env?: Record<string, string>
}): Promise<LocalBroker> => {
  const { redactor } = options
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'irsa-broker-e2e-data-'))
  options.tempDirs.push(dataDir)
  const [node, ...startArgs] = START_COMMAND
  const child: ChildProcess = spawn(node, startArgs, {
    cwd: ROOT,
    // No AWS_ENDPOINT_URL_STS (nor any other AWS_ variable): the broker starts its own moto_server.
    env: cleanEnv({
      PORT: String(port),
      IRSA_BROKER_DATA_DIR: dataDir,
      IRSA_BROKER_ADMIN_TOKEN: options.adminToken,
      ...options.env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  )
  let stderr = ''
  let output = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000)
  })
  // Keep draining stdout (JSON log and audit lines follow the banner) so the pipe never blocks.
  child.stdout?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-2_000_000)
  })

  const listening = /irsa-broker \(local\) listening on (http:\/\/127\.0\.0\.1:(\d+))/
  const sts = /^ {2}STS {10}(http:\/\/127\.0\.0\.1:(\d+)) \(moto_server started from PATH, /m
  const deadline = Date.now() + BROKER_START_TIMEOUT_MS
  try {
    while (!(listening.test(output) && sts.test(output))) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `the broker exited (${child.exitCode ?? child.signalCode}) before listening:\n${redactor.redact(stderr)}\n${redactor.redact(output)}`,
        )
      }
      if (Date.now() > deadline) {
        throw new Error(
          `the broker did not print "listening on" and its STS line within ${BROKER_START_TIMEOUT_MS} ms:\n${redactor.redact(stderr)}\n${redactor.redact(output)}`,
        )
      }
      await new Promise((done) => setTimeout(done, 50))
    }
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  }
  const url = listening.exec(output)?.[1] ?? ''
  const stsMatch = sts.exec(output)
  const stsPort = Number(stsMatch?.[2])
  expect(url).toBe(`http://127.0.0.1:${port}`)
  expect(stsPort).not.toBe(port)
  // So that "the STS port is closed" after the broker's exit means something.
  expect(await portAcceptsConnections(stsPort), `moto_server answers on port ${stsPort}`).toBe(true)

  return {
    url,
    stsEndpoint: stsMatch?.[1] ?? '',
    stsPort,
    adminToken: options.adminToken,
    dataDir,
    auditRecords: () =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{') && line.includes('"message":"audit"'))
        .map((line) => JSON.parse(line) as LogRecord),
    async stop() {
      child.kill('SIGTERM')
      const timeout = new Promise<'timeout'>((done) =>
        setTimeout(() => done('timeout'), BROKER_STOP_TIMEOUT_MS).unref(),
      )
      const exit = await Promise.race([exited, timeout])
      if (exit === 'timeout') child.kill('SIGKILL')
      expect(exit, 'the broker stops cleanly on SIGTERM').toEqual({ code: 0, signal: null })
      expect(
        await portAcceptsConnections(stsPort),
        `the moto_server the broker started (port ${stsPort}) is gone once the broker has exited`,
      ).toBe(false)
    },
  }
}

/** PUT to the admin API with the admin token; expects 201 Created. */
export const adminPut = async (broker: LocalBroker, path: string, body: unknown, redactor: Redactor) => {
  const response = await fetch(`${broker.url}${path}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${broker.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = await response.text()
  expect(response.status, `PUT ${path} answered ${response.status}: ${redactor.redact(text)}`).toBe(201)
}

/** A projected service-account token as kubelet writes it: mode 0600, no trailing newline. */
export const writeTokenFile = (dir: string, name: string, token: string): string => {
  const path = join(dir, name)
  writeFileSync(path, token, { mode: 0o600 })
  expect(statSync(path).mode & 0o777).toBe(0o600)
  return path
}

export const makeTempDir = (tempDirs: string[], prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  tempDirs.push(dir)
  return dir
}

export const removeTempDirs = (tempDirs: string[]) => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
}

/** `node bin/irsa-broker.js ARGS` as a user runs it, with an environment free of AWS and broker settings. */
/** Stops the suite's broker (when it started) and removes its temporary folders, after all its tests. */
export const stopAfterAll = (broker: () => LocalBroker | undefined, tempDirs: string[]) =>
  afterAll(async () => {
    try {
      await broker()?.stop()
    } finally {
      removeTempDirs(tempDirs)
    }
  }, BROKER_STOP_TIMEOUT_MS + 10_000)

export const runCli = (
  args: string[],
  options: { redactor: Redactor; env?: Record<string, string>; cwd?: string },
): Promise<ProcessResult> =>
  runProcess(process.execPath, [CLI_BIN, ...args], {
    env: cleanEnv(options.env ?? {}),
    redactor: options.redactor,
    ...(options.cwd ? { cwd: options.cwd } : {}),
  })

/**
 * The local broker of one e2e suite: started before the suite's tests (once the tools it needs
 * are found), with a fresh hex admin token (as the broker generates them), then stopped after
 * them with the suite's temporary folders. Register the suite's own setup after this call.
 */
export const localBrokerForSuite = (options: {
  tools: readonly (keyof typeof TOOLS)[]
  env?: Record<string, string>
}) => {
  const redactor = createRedactor()
  const tempDirs: string[] = []
  let broker: LocalBroker | undefined
  beforeAll(async () => {
    requireTools(options.tools)
    const adminToken = randomBytes(32).toString('hex')
    redactor.add(adminToken)
    broker = await startLocalBroker({
      adminToken,
      redactor,
      tempDirs,
      ...(options.env ? { env: options.env } : {}),
    })
  }, BROKER_START_TIMEOUT_MS)
  stopAfterAll(() => broker, tempDirs)
  return {
    redactor,
    tempDirs,
    broker(): LocalBroker {
      if (!broker) throw new Error("the suite's broker has not started")
      return broker
    },
  }
}
