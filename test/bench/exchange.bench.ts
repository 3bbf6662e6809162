// Benchmark of the credential exchange on the local stack: sequential latency of
// GET /v1/credentials split into the broker's own share and the STS call, and fixed-concurrency
// throughput beside a bare node:http server. `npm run bench`; it prints figures, asserts nothing.
// The credential and verified-token caches are off here (every request is a full exchange);
// credential-cache.bench.ts measures them.
import type { LocalStack } from '../../infra/local/stack.js'
import { createTestIssuer } from '../support/workload-issuer.js'
import {
  addCleanup,
  armWatchdog,
  type BenchSts,
  createBenchSts,
  latencyRow,
  machineLines,
  print,
  progress,
  registerIssuerAndBinding,
  runBench,
  type StsTarget,
  startBareServer,
  startBenchStack,
} from './harness.js'
import { createKeepAliveClient, type KeepAliveClient } from './http-client.js'
import { type LoadClient, type LoadJob, type LoadResult, startLoadClient } from './load.js'
import { median, perSecond, table } from './stats.js'

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

// ── set-up ──────────────────────────────────────────────────────────────────────────────

const startStack = (sts: BenchSts): Promise<LocalStack> =>
  startBenchStack({
    dataDirPrefix: 'irsa-broker-bench-',
    // Sections 1-4 measure the exchange without its caches: every request verifies its token
    // and calls STS, as before they existed. The caches are measured by credential-cache.bench.ts.
    env: {
      IRSA_BROKER_CREDENTIAL_CACHE_MAX_ENTRIES: '0',
      IRSA_BROKER_VERIFIED_TOKEN_CACHE_MAX_ENTRIES: '0',
    },
    wrapSts: sts.wrap,
  })

/** Registers one data plane and one binding, and returns an allowed and a denied token. */
const registerWorkload = async (client: KeepAliveClient, stack: LocalStack) => {
  const dataPlane = await createTestIssuer()
  // Same `iss`, a key the broker was never given: the negative path up to the signature check.
  const stranger = await createTestIssuer()
  await registerIssuerAndBinding(client, stack, {
    issuerId: ISSUER_ID,
    jwks: dataPlane.jwks,
    profile: PROFILE,
    roleArn: ROLE_ARN,
    subjects: ['system:serviceaccount:ml:trainer'],
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
  // The first STS call to a fresh moto_server can outlast the request deadline on a busy
  // machine (a 503): the warm-up, which is not counted, tries such a request again.
  for (let i = 0, retries = 0; i < SETTINGS.latencyWarmup; i++) {
    const answer = await client.send('GET', url, headers)
    if (answer.status === 503 && expected.status !== 503 && retries++ < 5) continue
    if (answer.status !== expected.status || !answer.body.includes(expected.bodyHas))
      throw new Error(
        `GET ${url} answered ${answer.status} ${answer.body.slice(0, 300)}; expected ${expected.status}`,
      )
  }
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
  addCleanup(() => load.stop())
  const scenarios = throughputScenarios(targets)
  await measureThroughput(load, scenarios, sts)
  printThroughput(scenarios)
}

const main = async () => {
  armWatchdog(SETTINGS.hardDeadlineMs)
  for (const line of machineLines()) print(line)
  // Without the broker's per-call options (its STS deadline), as this bench always called STS.
  const sts = createBenchSts({ forwardOptions: false })
  const client = createKeepAliveClient({ connections: 1, timeoutMs: SETTINGS.requestTimeoutMs })
  addCleanup(() => client.close())
  const targets = await setUp(sts, client)
  await runLatency(sts, client, targets)
  await runThroughput(sts, targets)
}

await runBench(main)
