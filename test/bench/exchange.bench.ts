// Benchmark of the credential exchange on the local stack: sequential latency of
// GET /v1/credentials split into the broker's own share and the STS call, and fixed-concurrency
// throughput beside a bare node:http server. `npm run bench`; it prints figures, asserts nothing.
// The credential and verified-token caches are off here (every request is a full exchange);
// credential-cache.bench.ts measures them.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { availableParallelism, cpus, platform, release, tmpdir, totalmem } from 'node:os'
import { join, relative } from 'node:path'
import { type LocalStack, startLocalStack } from '../../infra/local/stack.js'
import { loadLocalConfig } from '../../shared/config.js'
import type { AwsCredentials } from '../../shared/core/model.js'
import type { CredentialIssuer } from '../../shared/core/ports.js'
import { AUDIENCE, createTestIssuer, K8S_ISSUER } from '../support/workload-issuer.js'
import { createKeepAliveClient, type KeepAliveClient } from './http-client.js'
import { type LoadClient, type LoadJob, type LoadResult, startLoadClient } from './load.js'
import { distribution, median, ms, perSecond, table } from './stats.js'

const SETTINGS = {
  latencyWarmup: 30,
  latencyRequests: 300,
  /** Bounds the sequential loops even if STS turns slow. */
  latencyBudgetMs: 30_000,
  connections: 16,
  warmupMs: 500,
  /** An uncounted first run: with a cold load client, run 1 of the bare server read 27-37% low. */
  primeMs: 2_000,
  durationMs: 5_000,
  maxRequestsPerRun: 500_000,
  repetitions: 3,
  requestTimeoutMs: 10_000,
  /** The whole run; past it the bench stops what it started and exits 1. */
  hardDeadlineMs: 180_000,
} as const

const ISSUER_ID = 'bench-dp'
const PROFILE = 'bench-reader'
const ROLE_ARN = 'arn:aws:iam::111122223333:role/bench-reader'

const print = (line = '') => process.stdout.write(`${line}\n`)
const progress = (line: string) => process.stderr.write(`… ${line}\n`)

// ── cleanup ─────────────────────────────────────────────────────────────────────────────
// Everything started registers its own stop here; the watchdog and the normal end share it,
// so a hung run still stops moto_server and dynalite instead of leaving them behind.

const cleanups: (() => Promise<void> | void)[] = []

const cleanUp = async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup()
    } catch (error) {
      process.stderr.write(`cleanup failed: ${(error as Error).message}\n`)
    }
  }
}

const armWatchdog = () =>
  setTimeout(async () => {
    process.stderr.write(`bench: still running after ${SETTINGS.hardDeadlineMs} ms, stopping\n`)
    await cleanUp()
    process.exit(1)
  }, SETTINGS.hardDeadlineMs).unref()

// ── STS: timed, and switchable to an in-process stub ────────────────────────────────────

type StsTarget = 'moto_server' | 'stub'

/** Fixed fake credentials: what the broker costs when STS costs (almost) nothing. */
const stubCredentials = (): AwsCredentials => ({
  accessKeyId: 'ASIABENCHSTUB0000000',
  secretAccessKey: 'bench-stub-secret-access-key-not-a-real-one',
  sessionToken: 'bench-stub-session-token',
  expiration: new Date(Date.now() + 3600_000),
  assumedRoleArn: 'arn:aws:sts::111122223333:assumed-role/bench-reader/bench',
  accountId: '111122223333',
})

const createBenchSts = () => {
  let target: StsTarget = 'moto_server'
  let recording: number[] | undefined
  const stub: CredentialIssuer = { assumeRoleWithWebIdentity: async () => stubCredentials() }
  const wrap = (real: CredentialIssuer): CredentialIssuer => ({
    async assumeRoleWithWebIdentity(request) {
      const started = performance.now()
      try {
        return await (target === 'stub' ? stub : real).assumeRoleWithWebIdentity(request)
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
    /** Each STS call's duration goes into `into` until called again with undefined. */
    record: (into: number[] | undefined) => {
      recording = into
    },
  }
}

type BenchSts = ReturnType<typeof createBenchSts>

// ── set-up ──────────────────────────────────────────────────────────────────────────────

const machineLines = (): string[] => [
  `command:  ${
    process.env.npm_lifecycle_event
      ? `npm run ${process.env.npm_lifecycle_event}  (${process.env.npm_lifecycle_script})`
      : `tsx ${relative(process.cwd(), process.argv[1] ?? '')}`
  }`,
  `date:     ${new Date().toISOString()}`,
  `cpu:      ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores (available parallelism ${availableParallelism()})`,
  `memory:   ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
  `os:       ${platform()} ${release()}`,
  `node:     ${process.version}`,
]

const startStack = async (sts: BenchSts): Promise<LocalStack> => {
  const dataDir = mkdtempSync(join(tmpdir(), 'irsa-broker-bench-'))
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
  // An explicit environment, not process.env: an AWS_ENDPOINT_URL_STS in the caller's shell
  // would otherwise change what is measured.
  const config = loadLocalConfig({
    PORT: '0',
    AWS_REGION: 'us-east-1',
    IRSA_BROKER_DATA_DIR: dataDir,
    IRSA_BROKER_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
    // Sections 1-4 measure the exchange without its caches: every request verifies its token
    // and calls STS, as before they existed. The caches are measured by credential-cache.bench.ts.
    IRSA_BROKER_CREDENTIAL_CACHE_MAX_ENTRIES: '0',
    IRSA_BROKER_VERIFIED_TOKEN_CACHE_MAX_ENTRIES: '0',
  })
  const stack = await startLocalStack(config, { logSink: () => undefined, wrapSts: sts.wrap })
  cleanups.push(() => stack.stop())
  return stack
}

const adminPut = async (client: KeepAliveClient, stack: LocalStack, path: string, document: unknown) => {
  const answer = await client.send(
    'PUT',
    `${stack.url}${path}`,
    { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
    JSON.stringify(document),
  )
  if (answer.status !== 201) throw new Error(`PUT ${path} answered ${answer.status}: ${answer.body}`)
}

/** Registers one data plane and one binding, and returns an allowed and a denied token. */
const registerWorkload = async (client: KeepAliveClient, stack: LocalStack) => {
  const dataPlane = await createTestIssuer()
  // Same `iss`, a key the broker was never given: the negative path up to the signature check.
  const stranger = await createTestIssuer()
  await adminPut(client, stack, `/v1/admin/issuers/${ISSUER_ID}`, {
    issuer: K8S_ISSUER,
    audiences: [AUDIENCE],
    jwks: dataPlane.jwks,
  })
  await adminPut(client, stack, `/v1/admin/issuers/${ISSUER_ID}/bindings/${PROFILE}`, {
    roleArn: ROLE_ARN,
    profile: PROFILE,
    subjects: ['system:serviceaccount:ml:trainer'],
    sessionName: '{/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}',
    sessionTags: { namespace: '{/kubernetes.io/namespace}', 'data-plane': ISSUER_ID },
  })
  return { allowed: await dataPlane.mint(), denied: await stranger.mint() }
}

const expectStatus = async (
  client: KeepAliveClient,
  url: string,
  headers: Record<string, string>,
  status: number,
  bodyHas: string,
) => {
  const answer = await client.send('GET', url, headers)
  if (answer.status !== status || !answer.body.includes(bodyHas)) {
    throw new Error(`GET ${url} answered ${answer.status} ${answer.body.slice(0, 300)}; expected ${status}`)
  }
}

const startBareServer = async (): Promise<string> => {
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
  cleanups.push(
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

// ── 1 + 2: sequential latency ───────────────────────────────────────────────────────────

interface Expected {
  status: number
  bodyHas: string
}

interface Probe {
  /** Called right before each counted request. */
  before?(): void
  after(totalMs: number): void
}

/** Warm-up, then one request at a time, bounded by count and time. */
const sequential = async (
  client: KeepAliveClient,
  url: string,
  headers: Record<string, string>,
  expected: Expected,
  probe: Probe,
) => {
  for (let i = 0; i < SETTINGS.latencyWarmup; i++)
    await expectStatus(client, url, headers, expected.status, expected.bodyHas)
  const deadline = performance.now() + SETTINGS.latencyBudgetMs
  for (let i = 0; i < SETTINGS.latencyRequests && performance.now() < deadline; i++) {
    probe.before?.()
    const started = performance.now()
    const answer = await client.send('GET', url, headers)
    const total = performance.now() - started
    if (answer.status !== expected.status) throw new Error(`GET ${url} answered ${answer.status}`)
    probe.after(total)
  }
}

interface LatencySamples {
  total: number[]
  sts: number[]
  brokerShare: number[]
}

/** Sequential, so the STS call recorded while a request ran is that request's own. */
const measureExchangeLatency = async (
  client: KeepAliveClient,
  url: string,
  headers: Record<string, string>,
  sts: BenchSts,
): Promise<LatencySamples> => {
  const samples: LatencySamples = { total: [], sts: [], brokerShare: [] }
  const stsCalls: number[] = []
  sts.record(stsCalls)
  try {
    await sequential(
      client,
      url,
      headers,
      { status: 200, bodyHas: 'AccessKeyId' },
      {
        before: () => {
          stsCalls.length = 0
        },
        after: (total) => {
          const stsTime = stsCalls[0]
          if (stsCalls.length !== 1 || stsTime === undefined) {
            throw new Error(`expected one STS call per request, saw ${stsCalls.length}`)
          }
          samples.total.push(total)
          samples.sts.push(stsTime)
          samples.brokerShare.push(total - stsTime)
        },
      },
    )
  } finally {
    sts.record(undefined)
  }
  return samples
}

const measureRoundTrips = async (client: KeepAliveClient, url: string): Promise<number[]> => {
  const totals: number[] = []
  await sequential(client, url, {}, { status: 200, bodyHas: 'ok' }, { after: (total) => totals.push(total) })
  return totals
}

const latencyRow = (label: string, samples: readonly number[]): string[] => {
  const { count, p50, p90, p99, max } = distribution(samples)
  return [label, String(count), ms(p50), ms(p90), ms(p99), ms(max)]
}

const printLatency = (viaMoto: LatencySamples, viaStub: LatencySamples, bare: number[]) => {
  print(
    `1+2. Sequential latency, GET /v1/credentials?role=${PROFILE}, 1 keep-alive connection, ` +
      `${SETTINGS.latencyWarmup} warm-up requests not counted, caches off (ms)`,
  )
  print()
  print(
    table(
      ['', 'n', 'p50', 'p90', 'p99', 'max'],
      [
        latencyRow('total, STS = moto_server', viaMoto.total),
        latencyRow('  STS call (SDK client + moto_server)', viaMoto.sts),
        latencyRow('  broker share (total − STS, per request)', viaMoto.brokerShare),
        latencyRow('total, broker with in-process STS stub', viaStub.total),
        latencyRow('bare node:http, small JSON body (floor)', bare),
      ],
    ),
  )
  print()
}

// ── 3 + 4: throughput ───────────────────────────────────────────────────────────────────

interface Scenario {
  label: string
  url: string
  headers: Record<string, string>
  expectStatus: number
  sts: StsTarget
  results: LoadResult[]
}

const jobFor = (scenario: Scenario): LoadJob => ({
  url: scenario.url,
  headers: scenario.headers,
  connections: SETTINGS.connections,
  warmupMs: SETTINGS.warmupMs,
  durationMs: SETTINGS.durationMs,
  maxRequests: SETTINGS.maxRequestsPerRun,
  expectStatus: scenario.expectStatus,
  timeoutMs: SETTINGS.requestTimeoutMs,
})

/** Repetitions interleave the scenarios, so a noisy minute hurts them all alike. */
const measureThroughput = async (load: LoadClient, scenarios: Scenario[], sts: BenchSts) => {
  const first = scenarios[0]
  if (first) {
    progress(`priming the load client: ${SETTINGS.primeMs / 1000} s of ${first.label}, not counted`)
    sts.use(first.sts)
    await load.run({ ...jobFor(first), durationMs: SETTINGS.primeMs })
  }
  for (let repetition = 1; repetition <= SETTINGS.repetitions; repetition++) {
    for (const scenario of scenarios) {
      progress(`throughput run ${repetition}/${SETTINGS.repetitions}: ${scenario.label}`)
      sts.use(scenario.sts)
      scenario.results.push(await load.run(jobFor(scenario)))
    }
  }
  sts.use('moto_server')
}

const printThroughput = (scenarios: Scenario[]) => {
  const medianOf = (scenario: Scenario) => median(scenario.results.map((result) => result.requestsPerSecond))
  const bare = scenarios[0]
  const bareRate = bare ? medianOf(bare) : Number.NaN
  print(
    `3+4. Throughput, ${SETTINGS.connections} keep-alive connections, ${SETTINGS.durationMs / 1000} s per run ` +
      `after ${SETTINGS.warmupMs / 1000} s warm-up, median of ${SETTINGS.repetitions} interleaved runs ` +
      '(load client in its own process), caches off',
  )
  print()
  print(
    table(
      ['', 'req/s median', 'runs (req/s)', 'ratio to bare', 'off-status/failed'],
      scenarios.map((scenario) => {
        const rate = medianOf(scenario)
        const offStatus = scenario.results.reduce((sum, result) => sum + result.unexpected, 0)
        const failed = scenario.results.reduce((sum, result) => sum + result.failures, 0)
        return [
          scenario.label,
          perSecond(rate),
          scenario.results.map((result) => perSecond(result.requestsPerSecond)).join(' / '),
          (rate / bareRate).toFixed(3),
          `${offStatus}/${failed}`,
        ]
      }),
    ),
  )
  print()
}

// ── main ────────────────────────────────────────────────────────────────────────────────

interface Targets {
  credentialsUrl: string
  bareUrl: string
  allowed: Record<string, string>
  denied: Record<string, string>
}

const newScenario = (fields: Omit<Scenario, 'results'>): Scenario => ({ ...fields, results: [] })

/** The bare server and the denied path never reach STS; their `sts` only keeps the switch still. */
const throughputScenarios = (targets: Targets): Scenario[] => [
  newScenario({
    label: 'bare node:http, small JSON body',
    url: targets.bareUrl,
    headers: {},
    expectStatus: 200,
    sts: 'moto_server',
  }),
  newScenario({
    label: 'broker GET /v1/credentials, STS = moto_server',
    url: targets.credentialsUrl,
    headers: targets.allowed,
    expectStatus: 200,
    sts: 'moto_server',
  }),
  newScenario({
    label: 'broker with in-process STS stub',
    url: targets.credentialsUrl,
    headers: targets.allowed,
    expectStatus: 200,
    sts: 'stub',
  }),
  newScenario({
    label: 'broker denied: unknown signing key → 401',
    url: targets.credentialsUrl,
    headers: targets.denied,
    expectStatus: 401,
    sts: 'moto_server',
  }),
]

const setUp = async (sts: BenchSts, client: KeepAliveClient): Promise<Targets> => {
  progress('starting the local stack (dynalite, moto_server, broker)')
  const stack = await startStack(sts)
  const tokens = await registerWorkload(client, stack)
  const targets: Targets = {
    credentialsUrl: `${stack.url}/v1/credentials?role=${PROFILE}`,
    bareUrl: await startBareServer(),
    allowed: { authorization: tokens.allowed },
    denied: { authorization: tokens.denied },
  }
  await expectStatus(client, targets.credentialsUrl, targets.denied, 401, 'InvalidIdentityToken')
  print(
    `stack:    broker ${stack.url}, STS ${stack.sts.source} ${stack.sts.endpoint}, dynalite ${stack.dynamodb.endpoint}`,
  )
  print()
  return targets
}

const runLatency = async (sts: BenchSts, client: KeepAliveClient, targets: Targets) => {
  progress('sequential latency, STS = moto_server')
  const viaMoto = await measureExchangeLatency(client, targets.credentialsUrl, targets.allowed, sts)
  progress('sequential latency, in-process STS stub')
  sts.use('stub')
  const viaStub = await measureExchangeLatency(client, targets.credentialsUrl, targets.allowed, sts)
  sts.use('moto_server')
  progress('sequential latency, bare node:http')
  printLatency(viaMoto, viaStub, await measureRoundTrips(client, targets.bareUrl))
}

const runThroughput = async (sts: BenchSts, targets: Targets) => {
  const load = startLoadClient()
  cleanups.push(() => load.stop())
  const scenarios = throughputScenarios(targets)
  await measureThroughput(load, scenarios, sts)
  printThroughput(scenarios)
}

const main = async () => {
  armWatchdog()
  for (const line of machineLines()) print(line)
  const sts = createBenchSts()
  const client = createKeepAliveClient({ connections: 1, timeoutMs: SETTINGS.requestTimeoutMs })
  cleanups.push(() => client.close())
  const targets = await setUp(sts, client)
  await runLatency(sts, client, targets)
  await runThroughput(sts, targets)
}

try {
  await main()
} catch (error) {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`)
  process.exitCode = 1
} finally {
  await cleanUp()
}
