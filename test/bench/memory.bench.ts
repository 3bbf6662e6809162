// Memory of the local broker under many identities: 100,000 GET /v1/credentials over 10,000
// distinct service accounts (tokens of one test issuer, all allowed by one glob binding), and
// the broker process's RSS sampled every 10,000 answers; DynamoDB is dynalite in a process of its
// own. STS is an in-process stub here (no
// moto_server): each call answers new credentials shaped like STS's, so every identity's cache
// entry costs what a real one would. Tokens are minted and sent by a child process
// (identity-load-client.ts), so only the broker's own memory is in the figure. Loopback only;
// bounded by count and time. `npm run bench`; exits 1 when the RSS ends above the cap.
import { fork, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { freePort } from '../../infra/local/processes.js'
import type { LocalStack } from '../../infra/local/stack.js'
import type { AwsCredentials } from '../../shared/core/model.js'
import type { RoleAssumer } from '../../shared/core/ports.js'
import {
  addCleanup,
  armWatchdog,
  machineLines,
  print,
  progress,
  registerIssuerAndBinding,
  runBench,
  startBenchStack,
} from './harness.js'
import { createKeepAliveClient } from './http-client.js'
import type { IdentityLoadJob, IdentityLoadMessage } from './identity-load-client.js'
import { table } from './stats.js'

const SETTINGS = {
  identities: 10_000,
  requests: 100_000,
  connections: 16,
  checkpointEvery: 10_000,
  /** Minting 10,000 RS256 tokens in the child. */
  mintTimeoutMs: 120_000,
  /** The load itself; past it the child stops sending and the figures say how many were answered. */
  loadTimeLimitMs: 180_000,
  requestTimeoutMs: 10_000,
  /** The whole run; past it the bench stops what it started and exits 1. */
  hardDeadlineMs: 420_000,
  /** BENCHMARKS.md, "Memory": no RSS sample of the broker process may exceed this. */
  rssCapMb: 512,
  /**
   * Once every identity was seen, the same identities again must not make the broker keep more
   * (heap after a full GC, end against first pass); a little slack for V8's own bookkeeping.
   */
  keptHeapGrowthMb: 8,
} as const

const DYNALITE_CLI = createRequire(import.meta.url).resolve('dynalite/cli.js')

const ISSUER_ID = 'memory-bench'
const PROFILE = 'memory-reader'
const ROLE_ARN = 'arn:aws:iam::111122223333:role/memory-reader'
/** Every one of the child's service accounts: system:serviceaccount:mem-<n>:sa-<i>. */
const SUBJECT_GLOB = 'system:serviceaccount:mem-*:sa-*'

const mb = (bytes: number) => bytes / 2 ** 20

// A full collection on demand, to tell what the broker keeps from garbage not yet collected.
setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void

/** Counts calls; each answers fresh credentials of STS's sizes (a session token is about 1 KB). */
const createStsStub = () => {
  let calls = 0
  const stub: RoleAssumer = {
    assumeRoleWithWebIdentity: async (request): Promise<AwsCredentials> => {
      calls++
      return {
        accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
        secretAccessKey: randomBytes(30).toString('base64'),
        sessionToken: randomBytes(700).toString('base64'),
        expiration: new Date(Date.now() + request.durationSeconds * 1000),
        assumedRoleArn: `arn:aws:sts::111122223333:assumed-role/memory-reader/${request.sessionName}`,
        accountId: '111122223333',
      }
    },
  }
  return { stub, calls: () => calls }
}

/**
 * dynalite in a process of its own (in memory, as the local stack's embedded one), so that the
 * figures are the broker's: an in-process dynalite keeps about 0.8 KB of heap per request it
 * serves (test/bench/dynalite-heap.probe.ts), and the registry reads of the index model (a
 * token's subject, per TTL) would count as the broker's growth. In AWS there is no dynalite.
 */
const startDynamoDbProcess = async (): Promise<string> => {
  const port = await freePort()
  const child = spawn(
    process.execPath,
    [DYNALITE_CLI, '--port', String(port), '--host', '127.0.0.1', '--createTableMs', '0'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  addCleanup(() => {
    child.kill('SIGKILL')
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('dynalite did not start within 10 s')), 10_000)
    child.once('exit', (code) => reject(new Error(`dynalite exited (code ${code})`)))
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('listening')) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  return `http://127.0.0.1:${port}`
}

const startStack = async (sts: RoleAssumer): Promise<LocalStack> => {
  // An endpoint given, the local stack's DynamoDB client takes the default credential chain, as
  // against a real DynamoDB: dynalite accepts any.
  process.env.AWS_ACCESS_KEY_ID ??= 'memory-bench'
  process.env.AWS_SECRET_ACCESS_KEY ??= 'memory-bench'
  return startBenchStack({
    dataDirPrefix: 'irsa-broker-memory-',
    env: {
      // A closed loopback port, never called (the stub answers): no moto_server is started.
      AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9',
      AWS_ENDPOINT_URL_DYNAMODB: await startDynamoDbProcess(),
    },
    wrapSts: () => sts,
  })
}

interface Sample {
  label: string
  answered: number
  ok: number
  offStatus: number
  failed: number
  stsCalls: number
  seconds: number
  /** As found, garbage included. */
  rssMb: number
  /** After a full collection (only where one was made): what the broker keeps. */
  keptHeapMb?: number
  keptRssMb?: number
}

const sample = (
  label: string,
  stsCalls: number,
  tally: { answered: number; ok: number; unexpected: number; failed: number; elapsedMs: number },
  collect = false,
): Sample => {
  const rss = process.memoryUsage.rss()
  if (collect) collectGarbage()
  const kept = process.memoryUsage()
  return {
    label,
    answered: tally.answered,
    ok: tally.ok,
    offStatus: tally.unexpected,
    failed: tally.failed,
    stsCalls,
    seconds: tally.elapsedMs / 1000,
    rssMb: mb(rss),
    ...(collect ? { keptHeapMb: mb(kept.heapUsed), keptRssMb: mb(kept.rss) } : {}),
  }
}

const NO_LOAD = { answered: 0, ok: 0, unexpected: 0, failed: 0, elapsedMs: 0 }

const startChild = () => {
  const child = fork(new URL('./identity-load-client.ts', import.meta.url), [String(SETTINGS.identities)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  addCleanup(() => {
    if (child.connected) child.disconnect()
    if (child.exitCode === null) child.kill()
  })
  const next = (type: IdentityLoadMessage['type'], timeoutMs: number) =>
    new Promise<IdentityLoadMessage>((resolve, reject) => {
      const timer = setTimeout(() => settle(new Error(`no ${type} message in ${timeoutMs} ms`)), timeoutMs)
      const onMessage = (message: IdentityLoadMessage) => {
        if (message.type === type) settle(undefined, message)
      }
      const onExit = (code: number | null) => settle(new Error(`the load client exited (code ${code})`))
      const settle = (error?: Error, message?: IdentityLoadMessage) => {
        clearTimeout(timer)
        child.off('message', onMessage)
        child.off('exit', onExit)
        if (message) resolve(message)
        else reject(error)
      }
      child.on('message', onMessage)
      child.once('exit', onExit)
    })
  return { child, next }
}

const main = async () => {
  const watchdog = armWatchdog(SETTINGS.hardDeadlineMs)
  addCleanup(() => clearTimeout(watchdog))
  for (const line of machineLines()) print(line)

  progress(`minting ${SETTINGS.identities.toLocaleString('en-US')} tokens in the load client`)
  const load = startChild()
  const minted = load.next('jwks', SETTINGS.mintTimeoutMs)

  const sts = createStsStub()
  const stack = await startStack(sts.stub)
  const samples: Sample[] = [sample('broker started, nothing registered', 0, NO_LOAD, true)]
  const admin = createKeepAliveClient({ connections: 1, timeoutMs: SETTINGS.requestTimeoutMs })
  addCleanup(() => admin.close())

  const jwks = await minted
  if (jwks.type !== 'jwks') throw new Error('expected the JWKS')
  print(
    `stack:    broker ${stack.url}, STS in-process stub, dynalite ${stack.dynamodb.endpoint}; ` +
      `${jwks.identities.toLocaleString('en-US')} tokens minted in ${(jwks.mintMs / 1000).toFixed(1)} s`,
  )
  print()
  await registerIssuerAndBinding(admin, stack, {
    issuerId: ISSUER_ID,
    jwks: jwks.jwks,
    profile: PROFILE,
    roleArn: ROLE_ARN,
    subjects: [SUBJECT_GLOB],
    sessionTags: {
      namespace: '{/kubernetes.io/namespace}',
      'service-account': '{/kubernetes.io/serviceaccount/name}',
    },
  })
  samples.push(sample('issuer and binding registered', sts.calls(), NO_LOAD, true))

  progress(
    `${SETTINGS.requests.toLocaleString('en-US')} requests over ${SETTINGS.connections} connections, ` +
      `cycling through ${SETTINGS.identities.toLocaleString('en-US')} identities`,
  )
  const job: IdentityLoadJob = {
    type: 'go',
    url: `${stack.url}/v1/credentials?role=${PROFILE}`,
    requests: SETTINGS.requests,
    connections: SETTINGS.connections,
    timeLimitMs: SETTINGS.loadTimeLimitMs,
    checkpointEvery: SETTINGS.checkpointEvery,
    timeoutMs: SETTINGS.requestTimeoutMs,
  }
  const onCheckpoint = (message: IdentityLoadMessage) => {
    // The last checkpoint is the end of the load, sampled below.
    if (message.type !== 'checkpoint' || message.answered >= SETTINGS.requests) return
    // A full collection once every identity was seen, and none in between: the RSS is as found.
    const firstPass = message.answered === SETTINGS.identities
    samples.push(
      sample(`after ${message.answered.toLocaleString('en-US')} answers`, sts.calls(), message, firstPass),
    )
    if (message.answered % 50_000 === 0) progress(`${message.answered.toLocaleString('en-US')} answered`)
  }
  load.child.on('message', onCheckpoint)
  const done = load.next('done', SETTINGS.loadTimeLimitMs + 30_000)
  load.child.send(job)
  const finished = await done
  load.child.off('message', onCheckpoint)
  if (finished.type !== 'done') throw new Error('expected the end of the load')
  const last = sample('end of the load', sts.calls(), finished, true)
  samples.push(last)

  print(
    `7. Memory: broker process (local stack: HTTP front, Lambda handlers; dynalite in its own process) under ` +
      `${SETTINGS.requests.toLocaleString('en-US')} GET /v1/credentials over ${SETTINGS.identities.toLocaleString('en-US')} ` +
      `identities, ${SETTINGS.connections} connections, STS = in-process stub`,
  )
  print()
  print(
    table(
      ['', 'answered', '200', 'other/failed', 'STS calls', 's', 'RSS MB', 'after full GC: heap MB', 'RSS MB'],
      samples.map((s) => [
        s.label,
        s.answered.toLocaleString('en-US'),
        s.ok.toLocaleString('en-US'),
        `${s.offStatus}/${s.failed}`,
        s.stsCalls.toLocaleString('en-US'),
        s.seconds.toFixed(1),
        s.rssMb.toFixed(0),
        s.keptHeapMb?.toFixed(0) ?? '',
        s.keptRssMb?.toFixed(0) ?? '',
      ]),
    ),
  )
  print()
  const peak = Math.max(...samples.map((s) => s.rssMb))
  print(
    `RSS after the load ${last.rssMb.toFixed(0)} MB (${last.keptRssMb?.toFixed(0)} MB after a full GC), ` +
      `highest sample ${peak.toFixed(0)} MB; cap ${SETTINGS.rssCapMb} MB: ${peak <= SETTINGS.rssCapMb ? 'under' : 'OVER'}`,
  )
  print(
    'RSS: sampled every 10,000 answers while the load goes on, garbage included. A full GC follows ' +
      'only the start, the first pass over the identities and the end.',
  )
  const firstPass = samples.find((s) => s.answered === SETTINGS.identities && s.keptHeapMb !== undefined)
  const growth = (last.keptHeapMb ?? 0) - (firstPass?.keptHeapMb ?? 0)
  print(
    `Heap kept after every identity was seen once ${firstPass?.keptHeapMb?.toFixed(0)} MB, at the end ` +
      `${last.keptHeapMb?.toFixed(0)} MB (${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MB over the ` +
      `${((SETTINGS.requests - SETTINGS.identities) / SETTINGS.identities).toFixed(0)} further passes; ` +
      `allowed ${SETTINGS.keptHeapGrowthMb} MB).`,
  )
  print()
  const problems = [
    ...(finished.answered < SETTINGS.requests
      ? [`only ${finished.answered} of ${SETTINGS.requests} requests answered in the time limit`]
      : []),
    ...(finished.unexpected + finished.failed > 0
      ? [`${finished.unexpected} answers with another status than 200, ${finished.failed} failed requests`]
      : []),
    ...(growth > SETTINGS.keptHeapGrowthMb
      ? [`the kept heap grew by ${growth.toFixed(1)} MB after the first pass: something grows with requests`]
      : []),
    ...(peak > SETTINGS.rssCapMb
      ? [`RSS peaked at ${peak.toFixed(0)} MB, over the ${SETTINGS.rssCapMb} MB cap`]
      : []),
  ]
  if (problems.length > 0) throw new Error(problems.join('; '))
}

await runBench(main)
