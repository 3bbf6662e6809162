// A bounded load on loopback: the local stack (dynalite behind a counting proxy, STS an in-process
// stub on loopback — test/support/sts-stub.ts) takes a mix of valid tokens, invalid tokens and
// tokens of unknown issuers from 64 concurrent keep-alive connections, for at most MAX_REQUESTS
// requests or MAX_RUN_MS, whichever ends first. Every request must be answered — right (200 for
// valid, 401 for the rest), never a 5xx, none left hanging — and DynamoDB must see at most one
// read per unknown issuer per negative-cache TTL. No figure of speed is asserted.
import { randomBytes } from 'node:crypto'
import { Agent, request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { LocalStack } from '../../infra/local/stack.js'
import { type EmbeddedDynamoDb, startDynalite } from '../support/dynalite.js'
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js'
import { capturingSink } from '../support/log-capture.js'
import { type StsStub, startStsStub } from '../support/sts-stub.js'
import { startTestStack } from '../support/test-stack.js'
import { AUDIENCE, createTestIssuer } from '../support/workload-issuer.js'

const CONNECTIONS = 64
const MAX_REQUESTS = 20_000
const MAX_RUN_MS = 20_000
/** A request without an answer after this long counts as hung (and the run goes on). */
const HUNG_AFTER_MS = 10_000
const TTL_SECONDS = 3
const ISS = 'https://load.clusters.example.test'
const READER_ARN = 'arn:aws:iam::111122223333:role/ml-s3-reader'
const UNKNOWN_ISSUERS = 40

type Kind = 'valid' | 'invalid' | 'unknown'

let dynalite: EmbeddedDynamoDb
let dynamoProxy: FaultProxy
let sts: StsStub
let stack: LocalStack
const adminToken = randomBytes(24).toString('base64url')
const logLines: string[] = []

const tokens: Record<Kind, string[]> = { valid: [], invalid: [], unknown: [] }
const unknownIss = Array.from(
  { length: UNKNOWN_ISSUERS },
  (_, k) => `https://unknown-${k}.clusters.example.test`,
)

const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS, maxFreeSockets: CONNECTIONS })

/** GET /v1/credentials; resolves with the status, or 'hung' / 'error' — never rejects. */
const ask = (token: string): Promise<number | 'hung' | 'error'> =>
  new Promise((resolve) => {
    const outgoing = request(
      `${stack.url}/v1/credentials`,
      { agent, headers: { authorization: token } },
      (answer) => {
        answer.resume()
        answer.on('end', () => resolve(answer.statusCode ?? 0))
        answer.on('error', () => resolve('error'))
      },
    )
    outgoing.setTimeout(HUNG_AFTER_MS, () => {
      outgoing.destroy()
      resolve('hung')
    })
    outgoing.on('error', () => resolve('error'))
    outgoing.end()
  })

const adminPut = async (path: string, body: unknown) => {
  const response = await fetch(`${stack.url}${path}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  await response.text()
  return response.status
}

/** The `iss` a DynamoDB Query on the byIss index looked up. */
const issQueried = (body: string): string | undefined => {
  const value = (JSON.parse(body) as { ExpressionAttributeValues?: Record<string, { S?: string }> })
    .ExpressionAttributeValues?.[':iss']?.S
  return value?.startsWith('ISS#') ? value.slice(4) : undefined
}

beforeAll(async () => {
  // The SDK's default chain finds these first (dynalite accepts any credentials).
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'load-test')
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'load-test')
  vi.stubEnv('AWS_SESSION_TOKEN', '')
  dynalite = await startDynalite()
  dynamoProxy = await startFaultProxy(dynalite.endpoint)
  sts = await startStsStub()
  stack = await startTestStack(
    'load',
    {
      IRSA_BROKER_ADMIN_TOKEN: adminToken,
      IRSA_BROKER_CACHE_TTL_SECONDS: String(TTL_SECONDS),
      AWS_ENDPOINT_URL_STS: sts.url,
      AWS_ENDPOINT_URL_DYNAMODB: dynamoProxy.url,
    },
    { logSink: capturingSink('load', (line) => logLines.push(line)) },
  )
  const dataPlane = await createTestIssuer({ iss: ISS, kid: 'load-key' })
  expect(
    await adminPut('/v1/admin/issuers/load', { issuer: ISS, audiences: [AUDIENCE], jwks: dataPlane.jwks }),
  ).toBe(201)
  expect(
    await adminPut('/v1/admin/issuers/load/bindings/readers', {
      roleArn: READER_ARN,
      subjects: ['system:serviceaccount:ml:*'],
    }),
  ).toBe(201)

  // Valid: 100 workloads, each with its own token (each needs one STS call, then its cached credentials).
  for (let n = 0; n < 100; n++) tokens.valid.push(await dataPlane.mint({ serviceAccount: `worker-${n}` }))
  // Invalid, for the registered issuer: a changed signature, expired, another audience, not a JWT.
  const genuine = await dataPlane.mint({ serviceAccount: 'intruder' })
  const [header, payload, signature = ''] = genuine.split('.')
  const flipped = `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`
  const longAgo = Math.floor(Date.now() / 1000) - 7200
  tokens.invalid.push(
    `${header}.${payload}.${flipped}`,
    await dataPlane.mint({ iat: longAgo, lifetimeSeconds: 600 }),
    await dataPlane.mint({ aud: ['someone-else'] }),
    'not-a-token',
  )
  // Unknown issuers: well-formed tokens whose `iss` nobody registered.
  for (const iss of unknownIss) {
    const stranger = await createTestIssuer({ iss })
    tokens.unknown.push(await stranger.mint())
  }
}, 60_000)

afterAll(async () => {
  agent.destroy()
  await stack?.stop()
  await sts?.stop()
  await dynamoProxy?.stop()
  await dynalite?.stop()
  vi.unstubAllEnvs()
})

describe('load on loopback', () => {
  it(
    `answers every request of ${CONNECTIONS} connections mixing valid, invalid and unknown-issuer tokens: right, no 5xx, none hung; DynamoDB reads each unknown issuer at most once per negative-cache TTL`,
    async () => {
      // Prepare
      const since = dynamoProxy.mark()
      const statuses: Record<Kind, Map<number | 'hung' | 'error', number>> = {
        valid: new Map(),
        invalid: new Map(),
        unknown: new Map(),
      }
      let sent = 0
      let answered = 0
      const started = performance.now()
      const stopAt = started + MAX_RUN_MS
      const pick = (n: number): { kind: Kind; token: string } => {
        const kind: Kind = n % 10 < 4 ? 'valid' : n % 10 < 7 ? 'invalid' : 'unknown'
        const pool = tokens[kind]
        return { kind, token: pool[Math.floor(n / 10) % pool.length] ?? '' }
      }

      // Act: 64 loops, each one request at a time, bounded by count and by time.
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (sent < MAX_REQUESTS && performance.now() < stopAt) {
            const { kind, token } = pick(sent++)
            const status = await ask(token)
            answered++
            statuses[kind].set(status, (statuses[kind].get(status) ?? 0) + 1)
          }
        }),
      )
      const elapsedMs = performance.now() - started
      const unknownReads = new Map<string, number>()
      // A read is one SDK call: its retries (a slow answer under this load) are not another read.
      for (const body of dynamoProxy.bodies('DynamoDB_20120810.Query', since, { firstAttempts: true })) {
        const iss = issQueried(body)
        if (iss?.startsWith('https://unknown-')) unknownReads.set(iss, (unknownReads.get(iss) ?? 0) + 1)
      }

      // Assess
      const summary = Object.fromEntries(
        Object.entries(statuses).map(([kind, counts]) => [kind, Object.fromEntries(counts)]),
      )
      expect(answered, JSON.stringify(summary)).toBe(sent)
      expect(sent).toBeGreaterThanOrEqual(CONNECTIONS)
      expect([...statuses.valid.keys()], JSON.stringify(summary)).toEqual([200])
      expect([...statuses.invalid.keys()], JSON.stringify(summary)).toEqual([401])
      expect([...statuses.unknown.keys()], JSON.stringify(summary)).toEqual([401])
      // Each TTL window after a read allows one more; concurrent misses share a read.
      const allowedPerIssuer = Math.floor(elapsedMs / (TTL_SECONDS * 1000)) + 1
      const requestedUnknown = unknownIss.filter((iss) => unknownReads.has(iss))
      expect(requestedUnknown.length).toBe(Math.min(UNKNOWN_ISSUERS, Math.ceil(sent / 10)))
      for (const [iss, reads] of unknownReads) {
        expect(reads, `${iss} read ${reads} times in ${Math.round(elapsedMs)} ms`).toBeLessThanOrEqual(
          allowedPerIssuer,
        )
      }
      console.info(
        `load: ${sent} requests in ${Math.round(elapsedMs)} ms over ${CONNECTIONS} connections; ` +
          `statuses ${JSON.stringify(summary)}; STS calls ${sts.calls()}; ` +
          `DynamoDB reads of unknown issuers: max ${Math.max(...unknownReads.values())} per issuer ` +
          `(allowed ${allowedPerIssuer})`,
      )
    },
    MAX_RUN_MS + 3 * HUNG_AFTER_MS,
  )
})
