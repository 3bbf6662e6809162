// What the local-stack benches (exchange, credential-cache, memory) share: output, the cleanup
// list with its watchdog, the machine header, the STS switch, starting a stack with an explicit
// environment, and registering one issuer and one binding through the admin API.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { availableParallelism, cpus, platform, release, tmpdir, totalmem } from 'node:os'
import { join, relative } from 'node:path'
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../infra/local/stack.js'
import { loadLocalConfig } from '../../shared/config.js'
import type { AwsCredentials } from '../../shared/core/model.js'
import type { RoleAssumer } from '../../shared/core/ports.js'
import { AUDIENCE, K8S_ISSUER } from '../support/workload-issuer.js'
import type { KeepAliveClient } from './http-client.js'
import { distribution, ms } from './stats.js'

export const print = (line = '') => process.stdout.write(`${line}\n`)
export const progress = (line: string) => process.stderr.write(`… ${line}\n`)

// ── cleanup ─────────────────────────────────────────────────────────────────────────────
// Everything started registers its own stop here; the watchdog and the normal end share it,
// so a hung run still stops moto_server and dynalite instead of leaving them behind.

const cleanups: (() => Promise<void> | void)[] = []

export const addCleanup = (cleanup: () => Promise<void> | void) => {
  cleanups.push(cleanup)
}

/** Runs the registered cleanups, the last registered first. */
export const cleanUp = async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup()
    } catch (error) {
      process.stderr.write(`cleanup failed: ${(error as Error).message}\n`)
    }
  }
}

/** Past `hardDeadlineMs` the bench stops what it started and exits 1. */
export const armWatchdog = (hardDeadlineMs: number) =>
  setTimeout(async () => {
    process.stderr.write(`bench: still running after ${hardDeadlineMs} ms, stopping\n`)
    await cleanUp()
    process.exit(1)
  }, hardDeadlineMs).unref()

/** Runs a bench's main: a failure is printed and sets exit code 1; the cleanups run either way. */
export const runBench = async (main: () => Promise<void>) => {
  try {
    await main()
  } catch (error) {
    process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`)
    process.exitCode = 1
  } finally {
    await cleanUp()
  }
}

// ── header ──────────────────────────────────────────────────────────────────────────────

export const machineLines = (): string[] => [
  `command:  ${
    process.env.npm_lifecycle_event && process.env.npm_lifecycle_event !== 'npx'
      ? `npm run ${process.env.npm_lifecycle_event}  (${process.env.npm_lifecycle_script})`
      : `tsx ${relative(process.cwd(), process.argv[1] ?? '')}`
  }`,
  `date:     ${new Date().toISOString()}`,
  `cpu:      ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores (available parallelism ${availableParallelism()})`,
  `memory:   ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
  `os:       ${platform()} ${release()}`,
  `node:     ${process.version}`,
]

export const latencyRow = (label: string, samples: readonly number[]): string[] => {
  const { count, p50, p90, p99, max } = distribution(samples)
  return [label, String(count), ms(p50), ms(p90), ms(p99), ms(max)]
}

// ── STS: counted and timed, switchable to an in-process stub ───────────────────────────

export type StsTarget = 'moto_server' | 'stub'

/** Fixed fake credentials: what the broker costs when STS costs (almost) nothing. */
export const stubCredentials = (): AwsCredentials => ({
  accessKeyId: 'ASIABENCHSTUB0000000',
  secretAccessKey: 'bench-stub-secret-access-key-not-a-real-one',
  sessionToken: 'bench-stub-session-token',
  expiration: new Date(Date.now() + 3600_000),
  assumedRoleArn: 'arn:aws:sts::111122223333:assumed-role/bench-reader/bench',
  accountId: '111122223333',
})

/**
 * `forwardOptions: false` calls STS without the broker's per-call options (its deadline), as
 * exchange.bench.ts always has.
 */
export const createBenchSts = ({ forwardOptions = true }: { forwardOptions?: boolean } = {}) => {
  let target: StsTarget = 'moto_server'
  let calls = 0
  let recording: number[] | undefined
  const stub: RoleAssumer = { assumeRoleWithWebIdentity: async () => stubCredentials() }
  const wrap = (real: RoleAssumer): RoleAssumer => ({
    async assumeRoleWithWebIdentity(request, options) {
      calls++
      const started = performance.now()
      try {
        const sts = target === 'stub' ? stub : real
        return await (forwardOptions
          ? sts.assumeRoleWithWebIdentity(request, options)
          : sts.assumeRoleWithWebIdentity(request))
      } finally {
        recording?.push(performance.now() - started)
      }
    },
  })
  return {
    wrap,
    use: (next: StsTarget) => {
      target = next
    },
    calls: () => calls,
    /** Each STS call's duration goes into `into` until called again with undefined. */
    record: (into: number[] | undefined) => {
      recording = into
    },
  }
}

export type BenchSts = ReturnType<typeof createBenchSts>

// ── stack, admin API, bare server ───────────────────────────────────────────────────────

export interface BenchStackOptions {
  /** mkdtemp prefix of the stack's data directory (removed at cleanup). */
  dataDirPrefix: string
  /** On top of the port, region, data directory and a fresh admin token. */
  env?: Record<string, string>
  logSink?: LocalStackOptions['logSink']
  wrapSts: NonNullable<LocalStackOptions['wrapSts']>
}

/** Starts a local stack on a free loopback port; it stops at cleanup. */
export const startBenchStack = async (options: BenchStackOptions): Promise<LocalStack> => {
  const dataDir = mkdtempSync(join(tmpdir(), options.dataDirPrefix))
  addCleanup(() => rmSync(dataDir, { recursive: true, force: true }))
  // An explicit environment, not process.env: an AWS_ENDPOINT_URL_STS in the caller's shell
  // would otherwise change what is measured.
  const config = loadLocalConfig({
    PORT: '0',
    AWS_REGION: 'us-east-1',
    IRSA_BROKER_DATA_DIR: dataDir,
    IRSA_BROKER_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
    ...options.env,
  })
  const stack = await startLocalStack(config, {
    logSink: options.logSink ?? (() => undefined),
    wrapSts: options.wrapSts,
  })
  addCleanup(() => stack.stop())
  return stack
}

export const adminPut = async (
  client: KeepAliveClient,
  stack: LocalStack,
  path: string,
  document: unknown,
) => {
  const answer = await client.send(
    'PUT',
    `${stack.url}${path}`,
    { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
    JSON.stringify(document),
  )
  if (answer.status !== 201) throw new Error(`PUT ${path} answered ${answer.status}: ${answer.body}`)
}

export interface BenchWorkload {
  issuerId: string
  /** The test issuer's key set (its `iss` is K8S_ISSUER, its audience AUDIENCE), sent as it is. */
  jwks: unknown
  profile: string
  roleArn: string
  subjects: string[]
  sessionTags: Record<string, string>
}

/** One issuer and one binding through the admin API; the session name is namespace.serviceaccount. */
export const registerIssuerAndBinding = async (
  client: KeepAliveClient,
  stack: LocalStack,
  workload: BenchWorkload,
) => {
  await adminPut(client, stack, `/v1/admin/issuers/${workload.issuerId}`, {
    issuer: K8S_ISSUER,
    audiences: [AUDIENCE],
    jwks: workload.jwks,
  })
  await adminPut(client, stack, `/v1/admin/issuers/${workload.issuerId}/bindings/${workload.profile}`, {
    roleArn: workload.roleArn,
    profile: workload.profile,
    subjects: workload.subjects,
    sessionName: '{/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}',
    sessionTags: workload.sessionTags,
  })
}

/** A node:http server on a free loopback port answering a small JSON body: the floor. */
export const startBareServer = async (): Promise<string> => {
  const body = JSON.stringify({ ok: true })
  const server = createServer((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  addCleanup(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  )
  const address = server.address()
  if (typeof address !== 'object' || !address) throw new Error('the bare server has no address')
  return `http://127.0.0.1:${address.port}/`
}
