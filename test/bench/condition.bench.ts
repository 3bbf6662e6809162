// Benchmark of CEL binding conditions (issue 12, item 1): what the run-time guard costs on
// the hot path (one evaluation guarded, against the library's own evaluation of the same
// expression; and the cached exchange with and without a condition), what the alternative would
// cost (a round trip to a worker thread), and how long the costliest accepted conditions take
// over the largest claims a token may carry (the cost limit's calibration). In this process, no
// network. `npm run bench`; prints figures only.
import { generateKeyPairSync } from 'node:crypto'
import { loadavg } from 'node:os'
import { Worker } from 'node:worker_threads'
import { Environment } from '@marcbachmann/cel-js'
import { createJsonLogger } from '../../shared/adapters/json-logger.js'
import { createLocalSigner } from '../../shared/adapters/local-signer.js'
import { loadLocalConfig } from '../../shared/config.js'
import { compileCondition, MAX_CONDITION_COST } from '../../shared/core/condition.js'
import { createMeter } from '../../shared/core/condition-guard.js'
import { evaluateCompiled } from '../../shared/core/condition-run.js'
import { MAX_CLAIM_COLLECTION_SIZE, MAX_CLAIMS_JSON_BYTES } from '../../shared/core/limits.js'
import type { Binding, WorkloadClaims } from '../../shared/core/model.js'
import { systemClock } from '../../shared/core/ports.js'
import { createCore } from '../../shared/wiring.js'
import { createMemoryRegistry } from '../support/memory-registry.js'
import { createTestIssuer, type TestIssuer } from '../support/workload-issuer.js'
import { makeBinding, makeClaims, makeIssuer } from '../unit/fixtures.js'
import {
  addCleanup,
  armWatchdog,
  latencyRow,
  machineLines,
  print,
  progress,
  runBench,
  stubCredentials,
} from './harness.js'
import { distribution, ms, table } from './stats.js'

const SETTINGS = {
  warmup: 200,
  samples: 2_000,
  exchangeSamples: 1_000,
  workerSamples: 1_000,
  worstCaseRounds: 20,
  hardDeadlineMs: 300_000,
} as const

const ISSUER_ID = 'bench-dp'
const ROLE_ARN = 'arn:aws:iam::111122223333:role/bench-reader'

const TYPICAL = "claims['kubernetes.io'].namespace == 'ml' && claims.sub.endsWith(':trainer')"
const GROUPS = "claims.groups.exists(g, g == 'team-ml')"

const claimsWith = (groups: readonly string[]): WorkloadClaims =>
  makeClaims({
    'kubernetes.io': { namespace: 'ml', serviceaccount: { name: 'trainer', uid: 'u' }, pod: { name: 'p' } },
    groups: [...groups],
  })

const groupsOf = (count: number) => Array.from({ length: count }, (_, index) => `g${index}`)

/** Times `action` `count` times after a warm-up; microseconds per call. */
const timeSync = (count: number, action: () => unknown): number[] => {
  for (let index = 0; index < SETTINGS.warmup; index++) action()
  const samples: number[] = []
  for (let index = 0; index < count; index++) {
    const started = performance.now()
    action()
    samples.push((performance.now() - started) * 1000)
  }
  return samples
}

const timeAsync = async (count: number, action: () => Promise<unknown>): Promise<number[]> => {
  for (let index = 0; index < SETTINGS.warmup; index++) await action()
  const samples: number[] = []
  for (let index = 0; index < count; index++) {
    const started = performance.now()
    await action()
    samples.push((performance.now() - started) * 1000)
  }
  return samples
}

/**
 * Times each action `count` times, taking turns (one call of each per round), so that other load
 * on the machine falls on every row alike; microseconds per call.
 */
const timeInTurns = async (count: number, actions: readonly (() => unknown)[]): Promise<number[][]> => {
  for (let index = 0; index < SETTINGS.warmup; index++) for (const action of actions) await action()
  const samples = actions.map((): number[] => [])
  for (let index = 0; index < count; index++) {
    for (const [column, action] of actions.entries()) {
      const started = performance.now()
      await action()
      samples[column]?.push((performance.now() - started) * 1000)
    }
  }
  return samples
}

// ── 1: one evaluation, guarded and not ───────────────────────────────────────────────────

const rawEnvironment = new Environment({}).registerVariable('claims', 'map')

const evaluationRows = async () => {
  const rows: string[][] = []
  for (const [label, source, claims] of [
    ['namespace and subject', TYPICAL, claimsWith([])],
    ['exists over 20 groups', GROUPS, claimsWith(groupsOf(20))],
    ['exists over 1000 groups', GROUPS, claimsWith(groupsOf(MAX_CLAIM_COLLECTION_SIZE))],
  ] as const) {
    const raw = rawEnvironment.parse(source)
    raw.check()
    const guarded = compileCondition(source)
    if ('position' in guarded) throw new Error(guarded.message)
    const [library = [], withGuard = []] = await timeInTurns(SETTINGS.samples, [
      () => raw({ claims }),
      () => evaluateCompiled(guarded, claims),
    ])
    rows.push(latencyRow(`${label}: library alone`, library), latencyRow(`${label}: guarded`, withGuard))
  }
  return rows
}

// ── 2: the cached exchange, with and without a condition ─────────────────────────────────

const binding = (condition: string | undefined): Binding =>
  makeBinding({
    bindingId: 'bench',
    issuerId: ISSUER_ID,
    profile: 'bench',
    roleArn: ROLE_ARN,
    subjects: ['system:serviceaccount:ml:trainer'],
    ...(condition === undefined ? {} : { condition }),
  })

const exchangeFor = (dataPlane: TestIssuer, condition: string | undefined) => {
  const registry = createMemoryRegistry()
  registry.seed({
    issuers: [makeIssuer({ issuerId: ISSUER_ID, jwks: dataPlane.jwks })],
    bindings: [binding(condition)],
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
    loadLocalConfig({}),
  ).exchange
}

const exchangeRows = async () => {
  const dataPlane = await createTestIssuer()
  const cases = [
    ['no condition', undefined, 20],
    ['namespace and subject', TYPICAL, 20],
    ['exists over 20 groups', GROUPS.replace('team-ml', 'g7'), 20],
    ['exists over 1000 groups', GROUPS.replace('team-ml', 'g999'), MAX_CLAIM_COLLECTION_SIZE],
  ] as const
  let requestNumber = 0
  const actions = await Promise.all(
    cases.map(async ([, condition, groups]) => {
      const exchange = exchangeFor(dataPlane, condition)
      const token = await dataPlane.mint({ extraClaims: { groups: groupsOf(groups) } })
      return () => exchange.issueCredentials({ token, role: 'bench', requestId: `bench-${++requestNumber}` })
    }),
  )
  const samples = await timeInTurns(SETTINGS.exchangeSamples, actions)
  return cases.map(([label], index) => latencyRow(`cached exchange, ${label}`, samples[index] ?? []))
}

// ── 3: the alternative, a worker thread per evaluation ───────────────────────────────────

const workerRows = async () => {
  const library = import.meta.resolve('@marcbachmann/cel-js')
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads')
     import(${JSON.stringify(library)}).then(({ Environment }) => {
       const environment = new Environment({}).registerVariable('claims', 'map')
       const compiled = new Map()
       parentPort.on('message', ({ source, claims }) => {
         let run = compiled.get(source)
         if (!run) { run = environment.parse(source); run.check(); compiled.set(source, run) }
         parentPort.postMessage(run({ claims }) === true)
       })
       parentPort.postMessage('ready')
     })`,
    { eval: true, resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 } },
  )
  addCleanup(async () => {
    await worker.terminate()
  })
  await new Promise((ready) => worker.once('message', ready))
  const roundTrip = (source: string, claims: WorkloadClaims) =>
    new Promise<unknown>((answered) => {
      // A timeout per evaluation, as a real one would arm to terminate a runaway.
      const timer = setTimeout(() => undefined, 50)
      worker.once('message', (value) => {
        clearTimeout(timer)
        answered(value)
      })
      worker.postMessage({ source, claims })
    })
  const rows: string[][] = []
  for (const [label, source, claims] of [
    ['namespace and subject', TYPICAL, claimsWith([])],
    ['exists over 20 groups', GROUPS, claimsWith(groupsOf(20))],
  ] as const) {
    rows.push(
      latencyRow(
        `${label}: in a worker (postMessage both ways)`,
        await timeAsync(SETTINGS.workerSamples, () => roundTrip(source, claims)),
      ),
    )
  }
  return rows
}

// ── 4: the costliest accepted conditions over the largest claims ─────────────────────────

/** Claims as large as a token allows, shaped for each condition to do the most work. */
const worstClaims = (): Record<string, WorkloadClaims> => {
  const budget = MAX_CLAIMS_JSON_BYTES - 400
  const many = groupsOf(MAX_CLAIM_COLLECTION_SIZE).map((_, index) => `g${index % 10}`)
  return {
    '1000 short groups': claimsWith(many),
    'one long group': claimsWith(['ΐ'.repeat(Math.floor(budget / 2 / 2)), ...many.slice(0, 300)]),
    'a long subject': {
      ...claimsWith(many.slice(0, 200)),
      sub: 'ab'.repeat(Math.floor((budget - 1400) / 2)),
    },
  }
}

const WORST_CONDITIONS = [
  `claims.groups.all(g, ${Array.from({ length: 12 }, (_, index) => `g != 'x${index}'`).join(' && ')})`,
  "claims.groups.exists(g, g.lowerAscii() == 'x' || g.upperAscii() == 'Y')",
  "claims.groups.exists(g, g.contains('zz') || g.endsWith('q'))",
  "claims.groups.map(g, g + g).exists(h, h == 'x')",
  "claims.sub.split('').exists(c, c == 'z')",
  "cel.bind(s, claims.sub + claims.sub + claims.sub, s.contains('zz') || s.size() == 0)",
]

const worstRows = () => {
  const rows: string[][] = []
  let worstPerUnit = 0
  for (const source of WORST_CONDITIONS) {
    const compiled = compileCondition(source)
    if ('position' in compiled) {
      rows.push([source.slice(0, 60), 'refused', '', '', '', ''])
      continue
    }
    for (const [shape, claims] of Object.entries(worstClaims())) {
      const meter = createMeter()
      evaluateCompiled(compiled, claims, meter)
      const samples = timeSync(SETTINGS.worstCaseRounds, () => evaluateCompiled(compiled, claims))
      const { p50, max } = distribution(samples)
      worstPerUnit = Math.max(worstPerUnit, p50 / meter.cost)
      rows.push([
        `${source.slice(0, 58)}… / ${shape}`,
        String(Math.round(compiled.bound.cost)),
        String(meter.cost),
        ms(p50),
        ms(max),
      ])
    }
  }
  return { rows, worstPerUnit }
}

const main = async () => {
  armWatchdog(SETTINGS.hardDeadlineMs)
  for (const line of machineLines()) print(line)
  print(
    `load:     ${loadavg()
      .map((load) => load.toFixed(2))
      .join(' ')} (1, 5, 15 min) at start`,
  )
  print()
  progress('one evaluation, guarded and not')
  print('C1. One evaluation of a condition, in process (µs)')
  print()
  print(table(['', 'n', 'p50', 'p90', 'p99', 'max'], await evaluationRows()))
  print()
  progress('cached exchange with and without a condition')
  print('C2. The cached exchange in process (verified-token and credential caches hit), one binding (µs)')
  print()
  print(table(['', 'n', 'p50', 'p90', 'p99', 'max'], await exchangeRows()))
  print()
  progress('worker round trips')
  print('C3. The alternative: the library in a worker thread with resourceLimits, one round trip (µs)')
  print()
  print(table(['', 'n', 'p50', 'p90', 'p99', 'max'], await workerRows()))
  print()
  progress('costliest accepted conditions')
  print(
    `C4. Costly accepted conditions over claims at the token limits (cost limit ${MAX_CONDITION_COST}; µs)`,
  )
  print()
  const worst = worstRows()
  print(table(['condition / claims', 'bound', 'charged', 'p50', 'max'], worst.rows))
  print()
  print(
    `   slowest unit: ${(worst.worstPerUnit * 1000).toFixed(1)} ns, so the limit is about ${(
      (worst.worstPerUnit * MAX_CONDITION_COST) / 1000
    ).toFixed(2)} ms of evaluation at that rate`,
  )
}

await runBench(main)
