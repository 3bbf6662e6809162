// Benchmark of the broker's caches on the local stack (issue 7): how many STS calls a herd of
// pods of one service account makes, what an uncached exchange costs the broker beside the
// crypto it cannot avoid (one RS256 verify and one RS256 sign, timed with node:crypto in the
// same run), and the throughput of the cached path beside a bare node:http server at 16 and 64
// connections, with and without the verified-token cache. `npm run bench`; prints figures only.
import { createPublicKey, generateKeyPairSync, type JsonWebKey, sign, verify } from 'node:crypto'
import { loadavg } from 'node:os'
import type { Context } from 'aws-lambda'
import type { JWK } from 'jose'
import { createCredentialsHandler } from '../../functions/credentials/app.js'
import type { LocalStack } from '../../infra/local/stack.js'
import { createJsonLogger } from '../../shared/adapters/json-logger.js'
import { createLocalSigner } from '../../shared/adapters/local-signer.js'
import { loadLocalConfig } from '../../shared/config.js'
import { systemClock } from '../../shared/core/ports.js'
import type { HttpEvent } from '../../shared/http/event.js'
import { createCore } from '../../shared/wiring.js'
import { createMemoryRegistry } from '../support/memory-registry.js'
import { AUDIENCE, createTestIssuer, K8S_ISSUER, type TestIssuer } from '../support/workload-issuer.js'
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
  startBareServer,
  startBenchStack,
  stubCredentials,
} from './harness.js'
import { createKeepAliveClient, type KeepAliveClient } from './http-client.js'
import { type LoadClient, type LoadJob, type LoadResult, startLoadClient } from './load.js'
import { distribution, median, ms, perSecond, table } from './stats.js'

const SETTINGS = {
  herd: 1000,
  latencyWarmup: 30,
  latencyRequests: 300,
  /** Bounds each sequential loop even if something turns slow. */
  latencyBudgetMs: 30_000,
  floorWarmup: 50,
  floorSamples: 1000,
  connections: [16, 64],
  warmupMs: 500,
  primeMs: 2_000,
  durationMs: 5_000,
  maxRequestsPerRun: 500_000,
  repetitions: 3,
  requestTimeoutMs: 10_000,
  /** The whole run; past it the bench stops what it started and exits 1. */
  hardDeadlineMs: 300_000,
} as const

const ISSUER_ID = 'bench-dp'
const PROFILE = 'bench-reader'
const ROLE_ARN = 'arn:aws:iam::111122223333:role/bench-reader'

// ── set-up ──────────────────────────────────────────────────────────────────────────────

const loadLine = (when: string) =>
  `load:     ${loadavg()
    .map((value) => value.toFixed(2))
    .join(' ')} (1/5/15-min load average, ${when})`

/** Counts audit lines of issued credentials, and those marked cached, while asked to. */
const createAuditCounter = () => {
  let counting = false
  let issued = 0
  let cached = 0
  return {
    sink: (line: string) => {
      if (!counting || !line.includes('"decision":"allow"')) return
      issued++
      if (line.includes('"cached":true')) cached++
    },
    start: () => {
      counting = true
      issued = 0
      cached = 0
    },
    stop: () => {
      counting = false
      return { issued, cached }
    },
  }
}

type AuditCounter = ReturnType<typeof createAuditCounter>

const startStack = (sts: BenchSts, env: Record<string, string>, audit?: AuditCounter): Promise<LocalStack> =>
  startBenchStack({ dataDirPrefix: 'irsa-broker-bench-cache-', env, logSink: audit?.sink, wrapSts: sts.wrap })

const registerWorkload = (client: KeepAliveClient, stack: LocalStack, dataPlane: TestIssuer) =>
  registerIssuerAndBinding(client, stack, {
    issuerId: ISSUER_ID,
    jwks: dataPlane.jwks,
    profile: PROFILE,
    roleArn: ROLE_ARN,
    subjects: [
      'system:serviceaccount:ml:trainer',
      'system:serviceaccount:herd:api',
      'system:serviceaccount:bench:*',
    ],
    sessionTags: { namespace: '{/kubernetes.io/namespace}', 'data-plane': ISSUER_ID },
  })

const credentialsUrl = (stack: LocalStack) => `${stack.url}/v1/credentials?role=${PROFILE}`

const expect200 = async (client: KeepAliveClient, url: string, token: string) => {
  const answer = await client.send('GET', url, { authorization: token })
  if (answer.status !== 200 || !answer.body.includes('AccessKeyId'))
    throw new Error(`GET ${url} answered ${answer.status} ${answer.body.slice(0, 300)}`)
}

// ── 6: STS amplification ────────────────────────────────────────────────────────────────

interface HerdResult {
  label: string
  requests: number
  ok: number
  other: number
  failed: number
  stsCalls: number
  cached: number
  wallMs: number
}

/** Every request at once, each on its own connection; nothing else runs meanwhile. */
const runHerd = async (
  label: string,
  url: string,
  tokens: readonly string[],
  sts: BenchSts,
  audit: AuditCounter,
): Promise<HerdResult> => {
  const client = createKeepAliveClient({ connections: tokens.length, timeoutMs: SETTINGS.requestTimeoutMs })
  try {
    const callsBefore = sts.calls()
    audit.start()
    const started = performance.now()
    const answers = await Promise.all(
      tokens.map((token) =>
        client.send('GET', url, { authorization: token }).then(
          (answer) => answer.status,
          () => 0,
        ),
      ),
    )
    const wallMs = performance.now() - started
    const { cached } = audit.stop()
    return {
      label,
      requests: tokens.length,
      ok: answers.filter((status) => status === 200).length,
      other: answers.filter((status) => status !== 200 && status !== 0).length,
      failed: answers.filter((status) => status === 0).length,
      stsCalls: sts.calls() - callsBefore,
      cached,
      wallMs,
    }
  } finally {
    client.close()
  }
}

const printHerds = (herds: HerdResult[]) => {
  print(
    `6. STS amplification: ${SETTINGS.herd} concurrent GET /v1/credentials for one identity and role ` +
      `(${SETTINGS.herd} pods of one service account, each its own token and connection), STS = moto_server`,
  )
  print()
  print(
    table(
      ['', 'requests', '200', 'other status', 'failed', 'STS calls', 'cached or shared', 'wall ms'],
      herds.map((herd) => [
        herd.label,
        String(herd.requests),
        String(herd.ok),
        String(herd.other),
        String(herd.failed),
        String(herd.stsCalls),
        String(herd.cached),
        herd.wallMs.toFixed(0),
      ]),
    ),
  )
  print('   target: exactly 1 STS call for the herd (the floor: one call per identity and role)')
  print()
}

// ── 7: broker's own share of an uncached exchange vs the crypto floor ────────────────────

/** node:crypto alone: one RS256 verify of a workload token, one RS256 sign of a broker token. */
const measureCryptoFloor = (workloadToken: string, workloadJwk: JWK) => {
  const publicKey = createPublicKey({ key: workloadJwk as JsonWebKey, format: 'jwk' })
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const [header = '', payload = '', signature = ''] = workloadToken.split('.')
  const signedData = Buffer.from(`${header}.${payload}`)
  const workloadSignature = Buffer.from(signature, 'base64url')
  // A broker-token-sized signing input (header, claims with session tags).
  const brokerInput = Buffer.from(`${'e'.repeat(100)}.${'p'.repeat(520)}`)
  const verifyOnce = () => {
    if (!verify('RSA-SHA256', signedData, publicKey, workloadSignature))
      throw new Error('the workload token does not verify with node:crypto')
  }
  const signOnce = () => sign('RSA-SHA256', brokerInput, privateKey)
  const time = (action: () => unknown): number[] => {
    for (let i = 0; i < SETTINGS.floorWarmup; i++) action()
    const samples: number[] = []
    for (let i = 0; i < SETTINGS.floorSamples; i++) {
      const started = performance.now()
      action()
      samples.push(performance.now() - started)
    }
    return samples
  }
  return {
    both: time(() => {
      verifyOnce()
      signOnce()
    }),
    verify: time(verifyOnce),
    sign: time(signOnce),
  }
}

interface UncachedSamples {
  total: number[]
  sts: number[]
  brokerShare: number[]
}

/** One request at a time, each a new identity: a miss of both caches, one STS call each. */
const measureUncached = async (
  client: KeepAliveClient,
  url: string,
  tokens: readonly string[],
  sts: BenchSts,
): Promise<UncachedSamples> => {
  const samples: UncachedSamples = { total: [], sts: [], brokerShare: [] }
  const stsCalls: number[] = []
  sts.record(stsCalls)
  try {
    const deadline = performance.now() + SETTINGS.latencyBudgetMs
    for (const [index, token] of tokens.entries()) {
      if (performance.now() > deadline) break
      stsCalls.length = 0
      const started = performance.now()
      const answer = await client.send('GET', url, { authorization: token })
      const total = performance.now() - started
      if (answer.status !== 200) throw new Error(`uncached request answered ${answer.status}: ${answer.body}`)
      const stsTime = stsCalls[0]
      if (stsCalls.length !== 1 || stsTime === undefined)
        throw new Error(`expected one STS call per uncached request, saw ${stsCalls.length}`)
      if (index < SETTINGS.latencyWarmup) continue
      samples.total.push(total)
      samples.sts.push(stsTime)
      samples.brokerShare.push(total - stsTime)
    }
  } finally {
    sts.record(undefined)
  }
  return samples
}

const measureSequential = async (client: KeepAliveClient, url: string, headers: Record<string, string>) => {
  for (let i = 0; i < SETTINGS.latencyWarmup; i++) await client.send('GET', url, headers)
  const samples: number[] = []
  const deadline = performance.now() + SETTINGS.latencyBudgetMs
  for (let i = 0; i < SETTINGS.latencyRequests && performance.now() < deadline; i++) {
    const started = performance.now()
    const answer = await client.send('GET', url, headers)
    if (answer.status !== 200) throw new Error(`GET ${url} answered ${answer.status}`)
    samples.push(performance.now() - started)
  }
  return samples
}

/**
 * The exchange core alone, in this process: no HTTP, no API Gateway event, no middy. The same
 * wiring as the stacks (createCore), with an in-memory registry, the local signer and the stub.
 */
const buildCore = (dataPlane: TestIssuer, env: Record<string, string> = {}) => {
  const registry = createMemoryRegistry()
  const stamp = { version: 1, createdAt: '', updatedAt: '', updatedBy: 'bench' }
  registry.seed({
    issuers: [
      {
        issuerId: ISSUER_ID,
        issuer: K8S_ISSUER,
        audiences: [AUDIENCE],
        jwks: dataPlane.jwks,
        algorithms: ['RS256', 'ES256'],
        maxTokenLifetimeSeconds: 86400,
        clockSkewSeconds: 60,
        mode: 'broker',
        enabled: true,
        ...stamp,
      },
    ],
    bindings: [
      {
        bindingId: PROFILE,
        issuerId: ISSUER_ID,
        profile: PROFILE,
        roleArn: ROLE_ARN,
        subjects: ['system:serviceaccount:ml:trainer', 'system:serviceaccount:bench:*'],
        sessionName: '{/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}',
        sessionTags: { namespace: '{/kubernetes.io/namespace}', 'data-plane': ISSUER_ID },
        durationSeconds: 3600,
        enabled: true,
        ...stamp,
      },
    ],
  })
  const logger = createJsonLogger(() => undefined)
  return createCore(
    {
      registry,
      sts: { assumeRoleWithWebIdentity: async () => stubCredentials() },
      signer: createLocalSigner(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey),
      clock: systemClock,
      logger,
      audit: logger.audit,
      fetchJson: async () => {
        throw new Error('no remote key sets in the bench')
      },
    },
    loadLocalConfig(env),
  )
}

/** A GET /v1/credentials event as API Gateway (payload 2.0) hands it to the Lambda. */
const credentialsEvent = (token: string, requestId: string): HttpEvent => ({
  version: '2.0',
  routeKey: 'GET /v1/credentials',
  rawPath: '/v1/credentials',
  rawQueryString: `role=${PROFILE}`,
  headers: { authorization: token, host: 'broker.example.com' },
  queryStringParameters: { role: PROFILE },
  isBase64Encoded: false,
  requestContext: {
    accountId: '111122223333',
    apiId: 'bench',
    domainName: 'broker.example.com',
    domainPrefix: 'broker',
    http: {
      method: 'GET',
      path: '/v1/credentials',
      protocol: 'HTTP/1.1',
      sourceIp: '127.0.0.1',
      userAgent: 'bench',
    },
    requestId,
    routeKey: 'GET /v1/credentials',
    stage: '$default',
    time: new Date().toISOString(),
    timeEpoch: Date.now(),
  },
})

/** Sequential, in this process: warm-up runs, then the timed ones. */
const timeInProcess = async (count: number, action: (index: number) => Promise<unknown>) => {
  const samples: number[] = []
  for (let index = 0; index < SETTINGS.latencyWarmup + count; index++) {
    const started = performance.now()
    await action(index)
    if (index >= SETTINGS.latencyWarmup) samples.push(performance.now() - started)
  }
  return samples
}

const measureInProcess = async (
  dataPlane: TestIssuer,
  uncachedTokens: readonly string[],
  cachedToken: string,
) => {
  const core = buildCore(dataPlane)
  const withoutTokenCache = buildCore(dataPlane, { IRSA_BROKER_VERIFIED_TOKEN_CACHE_MAX_ENTRIES: '0' })
  const handler = createCredentialsHandler(core)
  const context = { awsRequestId: 'bench' } as Context
  let requestNumber = 0
  const issue = (exchange: typeof core.exchange, token: string) =>
    exchange.issueCredentials({ token, role: PROFILE, requestId: `core-${++requestNumber}` })
  const uncached = await timeInProcess(uncachedTokens.length - SETTINGS.latencyWarmup, (index) =>
    issue(core.exchange, uncachedTokens[index] ?? ''),
  )
  const cached = await timeInProcess(SETTINGS.latencyRequests, () => issue(core.exchange, cachedToken))
  const cachedWithoutTokenCache = await timeInProcess(SETTINGS.latencyRequests, () =>
    issue(withoutTokenCache.exchange, cachedToken),
  )
  const handlerCached = await timeInProcess(SETTINGS.latencyRequests, async () => {
    const response = await handler(credentialsEvent(cachedToken, `handler-${++requestNumber}`), context)
    if (response.statusCode !== 200) throw new Error(`the handler answered ${response.statusCode}`)
  })
  return { uncached, cached, cachedWithoutTokenCache, handlerCached }
}

interface LatencyFigures {
  viaMoto: UncachedSamples
  viaStub: UncachedSamples
  cached: number[]
  bare: number[]
  core: Awaited<ReturnType<typeof measureInProcess>>
  floor: ReturnType<typeof measureCryptoFloor>
}

const printLatency = (figures: LatencyFigures) => {
  const { viaMoto, viaStub, cached, bare, core, floor } = figures
  print(
    `7. Broker's own share of an uncached exchange (each request a new identity: both caches miss, ` +
      `one STS call), sequential, 1 keep-alive connection, local signing key, ${SETTINGS.latencyWarmup} ` +
      'warm-up requests not counted (ms)',
  )
  print()
  print(
    table(
      ['', 'n', 'p50', 'p90', 'p99', 'max'],
      [
        latencyRow('uncached total, STS = moto_server', viaMoto.total),
        latencyRow('  STS call (SDK client + moto_server)', viaMoto.sts),
        latencyRow('  broker share (total − STS, per request)', viaMoto.brokerShare),
        latencyRow('uncached total, in-process STS stub', viaStub.total),
        latencyRow('  broker share (total − stub call)', viaStub.brokerShare),
        latencyRow('cached path (one identity, same token)', cached),
        latencyRow('bare node:http round trip', bare),
        latencyRow('exchange core alone, in-process, uncached', core.uncached),
        latencyRow('exchange core alone, in-process, cached', core.cached),
        latencyRow('  the same, verified-token cache off', core.cachedWithoutTokenCache),
        latencyRow('credentials handler alone (event in), cached', core.handlerCached),
        latencyRow('crypto floor: RS256 verify + RS256 sign', floor.both),
        latencyRow('  node:crypto RS256 verify (workload token)', floor.verify),
        latencyRow('  node:crypto RS256 sign (2048-bit key)', floor.sign),
      ],
    ),
  )
  const floorDist = distribution(floor.both)
  const ratio = (samples: readonly number[]) => {
    const d = distribution(samples)
    return `p50 ${(d.p50 / floorDist.p50).toFixed(2)}×, p99 ${(d.p99 / floorDist.p99).toFixed(2)}×`
  }
  print()
  print(`   broker share / crypto floor, STS = moto_server:  ${ratio(viaMoto.brokerShare)}`)
  print(`   broker share / crypto floor, in-process stub:    ${ratio(viaStub.brokerShare)}`)
  print(`   exchange core alone (no HTTP) / crypto floor:    ${ratio(core.uncached)}`)
  print('   target: p99 ≤ 1.5× the crypto floor')
  print()
}

// ── 8: cached-path throughput vs bare ───────────────────────────────────────────────────

interface Scenario {
  label: string
  connections: number
  url: string
  headers: Record<string, string>
  results: LoadResult[]
}

const jobFor = (scenario: Scenario): LoadJob => ({
  url: scenario.url,
  headers: scenario.headers,
  connections: scenario.connections,
  warmupMs: SETTINGS.warmupMs,
  durationMs: SETTINGS.durationMs,
  maxRequests: SETTINGS.maxRequestsPerRun,
  expectStatus: 200,
  timeoutMs: SETTINGS.requestTimeoutMs,
})

const measureThroughput = async (load: LoadClient, scenarios: Scenario[]) => {
  const first = scenarios[0]
  if (first) {
    progress(`priming the load client: ${SETTINGS.primeMs / 1000} s of ${first.label}, not counted`)
    await load.run({ ...jobFor(first), durationMs: SETTINGS.primeMs })
  }
  for (let repetition = 1; repetition <= SETTINGS.repetitions; repetition++) {
    for (const scenario of scenarios) {
      progress(
        `throughput run ${repetition}/${SETTINGS.repetitions}: ${scenario.label}, ${scenario.connections} connections`,
      )
      scenario.results.push(await load.run(jobFor(scenario)))
    }
  }
}

const printThroughput = (scenarios: Scenario[]) => {
  const medianOf = (scenario: Scenario, pick: (result: LoadResult) => number) =>
    median(scenario.results.map(pick))
  print(
    `8. Cached path throughput (credentials cached; one identity, one token), ${SETTINGS.durationMs / 1000} s per run ` +
      `after ${SETTINGS.warmupMs / 1000} s warm-up, median of ${SETTINGS.repetitions} interleaved runs ` +
      '(load client in its own process; latency per request as the client saw it)',
  )
  print()
  const rows: string[][] = []
  for (const connections of SETTINGS.connections) {
    const group = scenarios.filter((scenario) => scenario.connections === connections)
    const bare = group[0]
    const bareRate = bare ? medianOf(bare, (r) => r.requestsPerSecond) : Number.NaN
    for (const scenario of group) {
      const rate = medianOf(scenario, (r) => r.requestsPerSecond)
      const offStatus = scenario.results.reduce((sum, result) => sum + result.unexpected, 0)
      const failed = scenario.results.reduce((sum, result) => sum + result.failures, 0)
      rows.push([
        scenario.label,
        String(connections),
        perSecond(rate),
        scenario.results.map((result) => perSecond(result.requestsPerSecond)).join(' / '),
        (rate / bareRate).toFixed(3),
        ms(medianOf(scenario, (r) => r.p50Ms)),
        ms(medianOf(scenario, (r) => r.p99Ms)),
        `${offStatus}/${failed}`,
      ])
    }
  }
  print(
    table(
      ['', 'conns', 'req/s median', 'runs (req/s)', 'ratio to bare', 'p50 ms', 'p99 ms', 'off-status/failed'],
      rows,
    ),
  )
  print('   target: cached path ≥ 0.50 of bare')
  print()
}

// ── main ────────────────────────────────────────────────────────────────────────────────

const mintMany = (
  dataPlane: TestIssuer,
  count: number,
  claims: (index: number) => Parameters<TestIssuer['mint']>[0],
) => Promise.all(Array.from({ length: count }, (_, index) => dataPlane.mint(claims(index))))

const main = async () => {
  armWatchdog(SETTINGS.hardDeadlineMs)
  for (const line of machineLines()) print(line)
  print(loadLine('at the start'))
  const sts = createBenchSts()
  const audit = createAuditCounter()
  const admin = createKeepAliveClient({ connections: 1, timeoutMs: SETTINGS.requestTimeoutMs })
  addCleanup(() => admin.close())

  progress('starting the local stacks (dynalite, moto_server, brokers)')
  const withCaches = await startStack(sts, {}, audit)
  // The same broker without the verified-token cache, STS from the first stack's moto_server.
  const withoutTokenCache = await startStack(sts, {
    AWS_ENDPOINT_URL_STS: withCaches.sts.endpoint,
    IRSA_BROKER_VERIFIED_TOKEN_CACHE_MAX_ENTRIES: '0',
  })
  const dataPlane = await createTestIssuer()
  await registerWorkload(admin, withCaches, dataPlane)
  await registerWorkload(admin, withoutTokenCache, dataPlane)
  const bareUrl = await startBareServer()
  print(
    `stacks:   broker ${withCaches.url} (caches on), broker ${withoutTokenCache.url} (verified-token cache off), ` +
      `STS moto_server ${withCaches.sts.endpoint}`,
  )
  print()

  progress(
    `minting ${SETTINGS.herd} herd tokens and ${2 * (SETTINGS.latencyWarmup + SETTINGS.latencyRequests)} one-off identities`,
  )
  const herdTokens = await mintMany(dataPlane, SETTINGS.herd, (pod) => ({
    namespace: 'herd',
    serviceAccount: 'api',
    extraClaims: { jti: `herd-${pod}` },
  }))
  const perRun = SETTINGS.latencyWarmup + SETTINGS.latencyRequests
  const oneOff = await mintMany(dataPlane, 2 * perRun, (index) => ({
    namespace: 'bench',
    serviceAccount: `sa-${index}`,
  }))
  const trainer = await dataPlane.mint()

  progress('6: the herd, twice')
  sts.use('moto_server')
  const herds = [
    await runHerd('first herd: nothing cached yet', credentialsUrl(withCaches), herdTokens, sts, audit),
    await runHerd(
      'second herd: same tokens, credentials cached',
      credentialsUrl(withCaches),
      herdTokens,
      sts,
      audit,
    ),
  ]
  printHerds(herds)

  progress('7: uncached exchanges (moto_server, then the stub), the cached path, bare, the crypto floor')
  const client = createKeepAliveClient({ connections: 1, timeoutMs: SETTINGS.requestTimeoutMs })
  addCleanup(() => client.close())
  const viaMoto = await measureUncached(client, credentialsUrl(withCaches), oneOff.slice(0, perRun), sts)
  sts.use('stub')
  const viaStub = await measureUncached(client, credentialsUrl(withCaches), oneOff.slice(perRun), sts)
  sts.use('moto_server')
  const cached = await measureSequential(client, credentialsUrl(withCaches), { authorization: trainer })
  const bare = await measureSequential(client, bareUrl, {})
  const jwk = dataPlane.jwks.keys[0]
  if (!jwk) throw new Error('the data plane has no key')
  const floor = measureCryptoFloor(trainer, jwk)
  const core = await measureInProcess(dataPlane, oneOff.slice(0, perRun), trainer)
  printLatency({ viaMoto, viaStub, cached, bare, core, floor })

  progress('8: cached-path throughput')
  for (const stack of [withCaches, withoutTokenCache]) await expect200(admin, credentialsUrl(stack), trainer)
  const load = startLoadClient()
  addCleanup(() => load.stop())
  const scenarios: Scenario[] = SETTINGS.connections.flatMap((connections): Scenario[] => [
    { label: 'bare node:http, small JSON body', connections, url: bareUrl, headers: {}, results: [] },
    {
      label: 'broker, cached path (both caches on)',
      connections,
      url: credentialsUrl(withCaches),
      headers: { authorization: trainer },
      results: [],
    },
    {
      label: 'broker, cached path, verified-token cache off',
      connections,
      url: credentialsUrl(withoutTokenCache),
      headers: { authorization: trainer },
      results: [],
    },
  ])
  await measureThroughput(load, scenarios)
  printThroughput(scenarios)
  print(loadLine('at the end'))
}

await runBench(main)
