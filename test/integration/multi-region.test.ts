// A multi-Region stage on loopback (docs/multi-region.md, "Failure analysis", checked here): two
// brokers — two local stacks on their own ports, Regions us-east-1 (home) and eu-west-1 — share
// one registry (one dynalite: the global table's replicas, with no replication lag) and one
// signing key file (the multi-Region KMS key), under one issuer URL; each Region has its own STS
// (a stub on loopback: STS is regional). Clients reach them the way Route 53 latency records
// would send them: half prefer each Region, a health checker polls GET /healthz, and each
// client caches its DNS answer for a TTL. Midway the home Region goes down (its broker and its
// STS stop). Every request must still be answered within the AWS JS SDK's container-provider
// budget (4 attempts of at most 1 s, 1 s apart): the failed attempts are counted, none is lost.
//
// Route 53's timings are compressed 100× so the run fits a test (health check every 100 ms
// instead of 10 s, unhealthy after 3 failures, TTL 600 ms instead of 60 s): the test proves the
// brokers' side — the survivor answers every workload, tokens of either verify against the one
// JWKS, admin writes stay in the home Region — not the real failover time, which the
// credentials' remaining lifetime covers (docs/multi-region.md, "DNS failover time").
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../infra/local/stack.js'
import { loadLocalConfig } from '../../shared/config.js'
import { type EmbeddedDynamoDb, startDynalite } from '../support/dynalite.js'
import { capturingSink } from '../support/log-capture.js'
import { type StsStub, startStsStub } from '../support/sts-stub.js'
import { AUDIENCE, createTestIssuer, type TestIssuer } from '../support/workload-issuer.js'

const ISSUER_URL = 'https://irsa-broker.multi-region.example.test'
const ISS = 'https://onprem.clusters.example.test'
const ROLE_ARN = 'arn:aws:iam::111122223333:role/ml-s3-reader'
const HOME = 'us-east-1'
const OTHER = 'eu-west-1'

/** The AWS JS SDK's container provider (@aws-sdk/credential-provider-http 3.972): 1 + 3 retries, 1 s each, 1 s apart. */
const SDK_ATTEMPTS = 4
const SDK_ATTEMPT_TIMEOUT_MS = 1000
const SDK_RETRY_DELAY_MS = 1000
/** Route 53, compressed 100×: a fast health check (10 s), 3 failures to unhealthy, a 60 s TTL. */
const HEALTH_INTERVAL_MS = 100
const HEALTH_FAILURE_THRESHOLD = 3
const DNS_TTL_MS = 600

const CLIENTS = 24
const MAX_REQUESTS = 3000
const LOAD_MS = 5000
const REGION_DOWN_AFTER_MS = 1500
// The home Region goes down after this many requests or REGION_DOWN_AFTER_MS, whichever comes
// first: on a fast machine the whole load can be done before the timer (CI once answered all
// 3,000 requests within 1.5 s, and nothing was left to fail over).
const REGION_DOWN_AFTER_REQUESTS = MAX_REQUESTS / 3

type Region = typeof HOME | typeof OTHER

interface RegionStack {
  region: Region
  stack: LocalStack
  sts: StsStub
  dataDir: string
  /** Broker tokens this Region handed to its STS, for the JWKS check. */
  minted: string[]
  down: boolean
}

let dynalite: EmbeddedDynamoDb
let dataPlane: TestIssuer
let keyDir: string
const regions = new Map<Region, RegionStack>()
const adminToken = randomBytes(24).toString('base64url')
const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS * 2 })

const regionStack = (region: Region): RegionStack => {
  const found = regions.get(region)
  if (!found) throw new Error(`no broker for ${region}`)
  return found
}

const recordingSts =
  (into: string[]): NonNullable<LocalStackOptions['wrapSts']> =>
  (sts) => ({
    assumeRoleWithWebIdentity: (assume, options) => {
      into.push(assume.webIdentityToken)
      return sts.assumeRoleWithWebIdentity(assume, options)
    },
  })

const startRegion = async (region: Region): Promise<RegionStack> => {
  const sts = await startStsStub()
  const dataDir = mkdtempSync(join(tmpdir(), `irsa-broker-${region}-`))
  const minted: string[] = []
  const stack = await startLocalStack(
    loadLocalConfig({
      PORT: '0',
      AWS_REGION: region,
      IRSA_BROKER_HOME_REGION: HOME,
      IRSA_BROKER_ISSUER_URL: ISSUER_URL,
      IRSA_BROKER_DATA_DIR: dataDir,
      IRSA_BROKER_ADMIN_TOKEN: adminToken,
      IRSA_BROKER_CACHE_TTL_SECONDS: '1',
      AWS_ENDPOINT_URL_STS: sts.url,
      AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
    }),
    {
      logSink: capturingSink(`multi-region-${region}`, () => undefined),
      wrapSts: recordingSts(minted),
      signingKeyPath: join(keyDir, 'signing-key.pem'),
    },
  )
  return { region, stack, sts, dataDir, minted, down: false }
}

/** Region down: its broker and its STS stop answering; the shared registry lives on in the other. */
const takeDown = async (region: RegionStack) => {
  region.down = true
  await region.stack.stop()
  await region.sts.stop()
}

type Outcome = { status: number; body: string } | { failure: 'refused' | 'reset' | 'timeout' | 'other' }

/** One HTTP attempt to loopback, bounded by `timeoutMs`; never rejects. */
const attempt = (url: string, headers: Record<string, string>, timeoutMs: number): Promise<Outcome> =>
  new Promise((resolve) => {
    const outgoing = request(url, { agent, headers }, (answer) => {
      const chunks: Buffer[] = []
      answer.on('data', (chunk: Buffer) => chunks.push(chunk))
      answer.on('end', () =>
        resolve({ status: answer.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      )
      answer.on('error', () => resolve({ failure: 'reset' }))
    })
    outgoing.setTimeout(timeoutMs, () => {
      outgoing.destroy()
      resolve({ failure: 'timeout' })
    })
    outgoing.on('error', (error: NodeJS.ErrnoException) =>
      resolve({
        failure: error.code === 'ECONNREFUSED' ? 'refused' : error.code === 'ECONNRESET' ? 'reset' : 'other',
      }),
    )
    outgoing.end()
  })

/**
 * Route 53 as a client sees it: each Region's latency record carries a health check (GET
 * /healthz); a name resolves to the client's nearest healthy Region, or, when none is
 * healthy, to its nearest one (Route 53 answers as if all were healthy).
 */
const startHealthChecker = () => {
  const failures = new Map<Region, number>([
    [HOME, 0],
    [OTHER, 0],
  ])
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      await Promise.all(
        [...regions.values()].map(async ({ region, stack }) => {
          const outcome = await attempt(`${stack.url}/healthz`, {}, HEALTH_INTERVAL_MS)
          const healthy = 'status' in outcome && outcome.status === 200
          failures.set(region, healthy ? 0 : (failures.get(region) ?? 0) + 1)
        }),
      )
      await new Promise((done) => setTimeout(done, HEALTH_INTERVAL_MS))
    }
  })()
  const healthy = (region: Region) => (failures.get(region) ?? 0) < HEALTH_FAILURE_THRESHOLD
  return {
    resolve: (preference: readonly Region[]): Region => preference.find(healthy) ?? (preference[0] as Region),
    stop: async () => {
      stopped = true
      await loop
    },
  }
}

type Resolver = ReturnType<typeof startHealthChecker>

interface Tally {
  requests: number
  /** Requests still unanswered (200) after the SDK's last attempt. */
  lost: number
  answeredBy: Record<Region, { beforeDown: number; afterDown: number }>
  failedAttempts: { refused: number; reset: number; timeout: number; other: number; status5xx: number }
  /** Any other status than 200 or a 5xx: a wrong answer, not a retryable one. */
  unexpected: string[]
  /** Failed attempts that the same request's next attempt answered. */
  retriedThenAnswered: number
}

/** A workload's container provider: the SDK's attempts, re-resolving the name before each (its cached answer until the TTL ends). */
const createWorkload = (token: string, preference: readonly Region[], resolver: Resolver, tally: Tally) => {
  let cached: { region: Region; until: number } | undefined
  const resolveName = (): Region => {
    const now = performance.now()
    if (!cached || cached.until <= now)
      cached = { region: resolver.resolve(preference), until: now + DNS_TTL_MS }
    return cached.region
  }
  return async (downAt: () => number | undefined) => {
    tally.requests++
    let failedBefore = false
    for (let n = 0; n < SDK_ATTEMPTS; n++) {
      if (n > 0) await new Promise((done) => setTimeout(done, SDK_RETRY_DELAY_MS))
      const region = regionStack(resolveName())
      const sentAt = performance.now()
      const outcome = await attempt(
        `${region.stack.url}/v1/credentials?role=ml-reader`,
        { authorization: token },
        SDK_ATTEMPT_TIMEOUT_MS,
      )
      if ('status' in outcome && outcome.status === 200) {
        const down = downAt()
        tally.answeredBy[region.region][down !== undefined && sentAt >= down ? 'afterDown' : 'beforeDown']++
        if (failedBefore) tally.retriedThenAnswered++
        return
      }
      failedBefore = true
      if ('failure' in outcome) tally.failedAttempts[outcome.failure]++
      else if (outcome.status >= 500) tally.failedAttempts.status5xx++
      else {
        tally.unexpected.push(`${region.region}: HTTP ${outcome.status} ${outcome.body.slice(0, 200)}`)
        return
      }
    }
    tally.lost++
  }
}

const asAdmin = async (region: Region, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${regionStack(region).stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

const jwksOf = async (region: Region) =>
  (await (await fetch(`${regionStack(region).stack.url}/.well-known/jwks.json`)).json()) as {
    keys: Record<string, unknown>[]
  }

beforeAll(async () => {
  // The SDK's default chain finds these first (dynalite accepts any credentials).
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'multi-region-test')
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'multi-region-test')
  vi.stubEnv('AWS_SESSION_TOKEN', '')
  dynalite = await startDynalite()
  keyDir = mkdtempSync(join(tmpdir(), 'irsa-broker-multi-region-key-'))
  // Home first: it creates the signing key file the other Region then reads.
  regions.set(HOME, await startRegion(HOME))
  regions.set(OTHER, await startRegion(OTHER))
  dataPlane = await createTestIssuer({ iss: ISS, kid: 'onprem-key' })
}, 60_000)

afterAll(async () => {
  agent.destroy()
  for (const region of regions.values()) {
    if (!region.down) await takeDown(region)
    rmSync(region.dataDir, { recursive: true, force: true })
  }
  await dynalite?.stop()
  if (keyDir) rmSync(keyDir, { recursive: true, force: true })
  vi.unstubAllEnvs()
})

describe('multi-Region stage on loopback: two brokers, one registry, one key, one issuer URL', () => {
  it('takes admin writes in the home Region only: the other answers 421 NotHomeRegion, changes nothing, and serves reads', async () => {
    // Prepare
    const issuer = { issuer: ISS, audiences: [AUDIENCE], jwks: dataPlane.jwks }
    const binding = { roleArn: ROLE_ARN, profile: 'ml-reader', subjects: ['system:serviceaccount:ml:*'] }

    // Act
    const refused = await asAdmin(OTHER, 'PUT', '/v1/admin/issuers/onprem', issuer)
    const missingAfterRefusal = await asAdmin(HOME, 'GET', '/v1/admin/issuers/onprem')
    const created = await asAdmin(HOME, 'PUT', '/v1/admin/issuers/onprem', issuer)
    const bound = await asAdmin(HOME, 'PUT', '/v1/admin/issuers/onprem/bindings/ml-reader', binding)
    const refusedDelete = await asAdmin(OTHER, 'DELETE', '/v1/admin/issuers/onprem/bindings/ml-reader')
    const readElsewhere = await asAdmin(OTHER, 'GET', '/v1/admin/issuers/onprem/bindings/ml-reader')
    const explainedElsewhere = await asAdmin(OTHER, 'POST', '/v1/admin/explain', {
      token: await dataPlane.mint({ iss: ISS }),
    })

    // Assess
    expect(refused.status).toBe(421)
    expect(refused.body.error).toMatchObject({
      code: 'NotHomeRegion',
      message: `This Region (${OTHER}) serves admin reads only; send admin writes to the home Region, ${HOME}.`,
    })
    expect(missingAfterRefusal.status).toBe(404)
    expect([created.status, bound.status]).toEqual([201, 201])
    expect(refusedDelete.status).toBe(421)
    expect(readElsewhere.status).toBe(200)
    expect(readElsewhere.body).toMatchObject({ bindingId: 'ml-reader', version: bound.body.version })
    expect(explainedElsewhere.status).toBe(200)
  })

  it('publishes the same JWKS in both Regions, its kid the key thumbprint', async () => {
    // Act
    const [home, other] = [await jwksOf(HOME), await jwksOf(OTHER)]

    // Assess
    expect(home.keys).toHaveLength(1)
    expect(other).toEqual(home)
    expect(home.keys[0]?.kid).toBe(regionStack(HOME).stack.signingKey.kid)
    expect(regionStack(OTHER).stack.signingKey.kid).toBe(regionStack(HOME).stack.signingKey.kid)
  })

  it(`answers every request of ${CLIENTS} failing-over workloads while the home Region goes down mid-load: none lost, the other Region answers, every broker token verifies against the one JWKS`, async () => {
    // Prepare
    const jwksBefore = await jwksOf(OTHER)
    const resolver = startHealthChecker()
    const tally: Tally = {
      requests: 0,
      lost: 0,
      answeredBy: { [HOME]: { beforeDown: 0, afterDown: 0 }, [OTHER]: { beforeDown: 0, afterDown: 0 } },
      failedAttempts: { refused: 0, reset: 0, timeout: 0, other: 0, status5xx: 0 },
      unexpected: [],
      retriedThenAnswered: 0,
    }
    const tokens = await Promise.all(
      Array.from({ length: CLIENTS }, (_, n) => dataPlane.mint({ iss: ISS, serviceAccount: `trainer-${n}` })),
    )
    const preferenceOf = (n: number): Region[] => (n % 2 === 0 ? [HOME, OTHER] : [OTHER, HOME])
    // Warm-up, one workload at a time, each at its own Region only: the first answer of each
    // identity (registry read, STS call) is not part of the failover being counted.
    for (const [n, token] of tokens.entries()) {
      const warm = await attempt(
        `${regionStack(preferenceOf(n)[0] as Region).stack.url}/v1/credentials?role=ml-reader`,
        { authorization: token },
        10_000,
      )
      expect('status' in warm && warm.status).toBe(200)
    }
    const workloads = tokens.map((token, n) => createWorkload(token, preferenceOf(n), resolver, tally))
    let downAt: number | undefined
    const started = performance.now()
    const stopAt = started + LOAD_MS

    // Act: each workload asks again as soon as it has its answer, bounded by count and time;
    // the home Region goes down while they do.
    let goDown: () => void = () => {}
    const downSignal = new Promise<void>((done) => {
      goDown = done
    })
    const downTimer = setTimeout(goDown, REGION_DOWN_AFTER_MS)
    const regionDown = (async () => {
      await downSignal
      clearTimeout(downTimer)
      downAt = performance.now()
      await takeDown(regionStack(HOME))
    })()
    await Promise.all(
      workloads.map(async (ask) => {
        while (tally.requests < MAX_REQUESTS && performance.now() < stopAt) {
          await ask(() => downAt)
          if (tally.requests >= REGION_DOWN_AFTER_REQUESTS) goDown()
        }
      }),
    )
    await regionDown
    await resolver.stop()
    const survivorJwks = createLocalJWKSet(jwksBefore)
    const verified = { [HOME]: 0, [OTHER]: 0 }
    const notVerified: string[] = []
    for (const region of [HOME, OTHER] as const) {
      for (const token of regionStack(region).minted) {
        try {
          await jwtVerify(token, survivorJwks, { issuer: ISSUER_URL, audience: 'sts.amazonaws.com' })
          verified[region]++
        } catch (error) {
          notVerified.push(`${region}: ${(error as Error).message}`)
        }
      }
    }

    // Assess
    const summary = JSON.stringify({ ...tally, verified })
    expect(tally.unexpected, summary).toEqual([])
    expect(tally.lost, summary).toBe(0)
    expect(tally.requests, summary).toBeGreaterThanOrEqual(CLIENTS * 2)
    // Both Regions served before the home went down; after it, only the other one did.
    expect(tally.answeredBy[HOME].beforeDown, summary).toBeGreaterThan(0)
    expect(tally.answeredBy[OTHER].beforeDown, summary).toBeGreaterThan(0)
    expect(tally.answeredBy[HOME].afterDown, summary).toBe(0)
    expect(tally.answeredBy[OTHER].afterDown, summary).toBeGreaterThan(0)
    // The failover happened: attempts reached the stopped Region, and every failed attempt's
    // request was answered by a later attempt within the SDK's budget.
    const failed = Object.values(tally.failedAttempts).reduce((sum, count) => sum + count, 0)
    expect(failed, summary).toBeGreaterThan(0)
    expect(tally.retriedThenAnswered, summary).toBeGreaterThan(0)
    expect(tally.retriedThenAnswered, summary).toBeLessThanOrEqual(failed)
    // Each Region minted broker tokens, and all of them verify against the survivor's JWKS.
    expect(notVerified, summary).toEqual([])
    expect(verified[HOME], summary).toBeGreaterThan(0)
    expect(verified[OTHER], summary).toBeGreaterThan(0)
    console.info(`multi-region failover: ${summary}`)
  }, 60_000)

  it('carries on in the surviving Region alone: reads the shared registry and refuses admin writes', async () => {
    // Act
    const read = await asAdmin(OTHER, 'GET', '/v1/admin/issuers/onprem')
    const write = await asAdmin(OTHER, 'PUT', '/v1/admin/issuers/onprem/bindings/other', {
      roleArn: ROLE_ARN,
      subjects: ['system:serviceaccount:ml:*'],
    })

    // Assess
    expect(read.status).toBe(200)
    expect(write.status).toBe(421)
  })
})
