// The whole third-party corpus END TO END: every attack token and both real Kubernetes tokens
// sent as a workload sends them — `GET /v1/credentials` with the raw token in `Authorization` —
// to the local stack (embedded dynalite, local signing key), whose STS is a counting loopback
// proxy in front of a moto_server this file starts. For every refused token: a 4xx (never 200,
// never 5xx) with a coded error body whenever the request reached the broker, no part of the
// token echoed, an audit record with the same code, and zero calls reaching STS. For the
// jku/x5u/x5c cases: no connection anywhere but the stack's own loopback services.
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMotoServer } from '../../infra/local/processes.js'
import type { LocalStack } from '../../infra/local/stack.js'
import { isBrokerError, WIRE_STATUS } from '../../shared/core/errors.js'
import { createInlineKeyResolver } from '../../shared/core/keys.js'
import type { Issuer } from '../../shared/core/model.js'
import { readUnverifiedToken, verifyWorkloadToken } from '../../shared/core/verify.js'
import {
  type AttackCase,
  attackCorpus,
  brokerAccepts,
  type K8sPair,
  KEY_URL_CASES,
  k8sJwks,
  k8sPairs,
  k8sToken,
  targetJwks,
  unverifiedSub,
} from '../support/corpus.js'
import { type CountingProxy, startCountingProxy } from '../support/counting-proxy.js'
import { capturingSink } from '../support/log-capture.js'
import { outboundAttempts, outboundMark } from '../support/outbound-guard.js'
import { startTestStack } from '../support/test-stack.js'

interface RawAnswer {
  status: number
  headers: Record<string, string>
  body: string
}

/**
 * GET /v1/credentials over a plain socket, with the token bytes exactly as given (fetch would
 * refuse K112's newline, and a client must not repair what the broker is being tested on).
 */
const rawCredentialsRequest = (port: number, authorization: string): Promise<RawAnswer> =>
  new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port })
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    const finish = () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const split = text.indexOf('\r\n\r\n')
      const [statusLine = '', ...headerLines] = text.slice(0, split < 0 ? text.length : split).split('\r\n')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1])
      if (!Number.isInteger(status)) return reject(new Error('no HTTP answer'))
      const headers: Record<string, string> = {}
      for (const line of headerLines) {
        const colon = line.indexOf(':')
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
      }
      resolve({ status, headers, body: split < 0 ? '' : text.slice(split + 4) })
    }
    socket.once('close', finish)
    // The server may answer (431) and close before a huge header is written; the answer counts.
    socket.on('error', () => undefined)
    // `Connection: close` ends the exchange; a half-close from this side would end it before the answer.
    socket.write(
      `GET /v1/credentials HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${authorization}\r\nConnection: close\r\n\r\n`,
    )
  })

const ROLE_ACCOUNT = '111122223333'
const roleFor = (issuerId: string) => `arn:aws:iam::${ROLE_ACCOUNT}:role/corpus-${issuerId}`

/** Refused by node:http's parser before any handler runs: those answers carry no body. */
const HTTP_FRONT_REFUSALS: Record<string, number> = {
  K112: 400, // a newline cannot be part of a header value: the request is malformed HTTP
  P80: 431, // 256 KiB token: over the parser's header cap
  P81: 431, // 50,000-deep claims: 131 KiB token
  P82: 431, // 10,000 audiences: 104 KiB token
}

let current = 0
const clock = { now: () => new Date(current) }
const setClock = (unixSeconds: number) => {
  current = unixSeconds * 1000
}

let moto: Awaited<ReturnType<typeof startMotoServer>>
let sts: CountingProxy
let stack: LocalStack
const adminToken = randomBytes(24).toString('base64url')
const logLines: string[] = []
const registered = new Map<string, Issuer>()
/** Everything the broker handed out, which must never appear in a log line. */
const issuedSecrets: string[] = []

const tally = {
  cases: 0,
  accepted: 0,
  rejected: 0,
  rejectedCoded: 0,
  rejectedByHttpFront: 0,
  stsCallsForRejected: 0,
  stsCallsForAccepted: 0,
}

const admin = async (method: string, path: string, body: unknown) => {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = await response.text()
  expect(response.status, `${method} ${path}: ${text.slice(0, 300)}`).toBe(201)
  return JSON.parse(text) as Record<string, unknown>
}

const registerIssuer = async (
  issuerId: string,
  document: Record<string, unknown>,
  subject: string,
): Promise<void> => {
  const stored = (await admin('PUT', `/v1/admin/issuers/${issuerId}`, document)) as unknown as Issuer
  registered.set(issuerId, stored)
  await admin('PUT', `/v1/admin/issuers/${issuerId}/bindings/genuine`, {
    roleArn: roleFor(issuerId),
    subjects: [subject],
  })
}

const auditFor = (requestId: string): Record<string, unknown> | undefined =>
  logLines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((record) => record.message === 'audit' && record.requestId === requestId)

/** What the core validator alone says about the token, with the issuer exactly as the admin API stored it. */
const coreVerdict = async (token: string, issuerId: string, unixSeconds: number): Promise<string> => {
  try {
    readUnverifiedToken(token)
  } catch (error) {
    if (isBrokerError(error)) return error.code
    throw error
  }
  const result = await verifyWorkloadToken(
    token,
    [registered.get(issuerId) as Issuer],
    createInlineKeyResolver(),
    new Date(unixSeconds * 1000),
  )
  return result.ok ? 'accepted' : result.error.code
}

/** Segments of the token long enough to mean something if they came back. */
const tokenParts = (token: string): string[] =>
  [token.trim(), ...token.trim().split('.')].filter((part) => part.length >= 16)

interface Exchange {
  answer: RawAnswer
  stsCalls: number
  attempts: ReturnType<typeof outboundAttempts>
}

const exchange = async (token: string): Promise<Exchange> => {
  const before = sts.count()
  const mark = outboundMark()
  const answer = await rawCredentialsRequest(stack.port, token)
  return { answer, stsCalls: sts.count() - before, attempts: outboundAttempts(mark) }
}

/** The assertions every refused token must pass end to end; returns the wire code (or the bare status). */
const expectRefused = (id: string, token: string, { answer, stsCalls }: Exchange): string => {
  tally.rejected++
  tally.stsCallsForRejected += stsCalls
  expect(answer.status, id).toBeGreaterThanOrEqual(400)
  expect(answer.status, id).toBeLessThan(500)
  expect(stsCalls, `${id}: calls that reached STS`).toBe(0)
  for (const part of tokenParts(token)) {
    expect(answer.body.includes(part), `${id}: token echoed in the body`).toBe(false)
    expect(Object.values(answer.headers).join('\n').includes(part), `${id}: token echoed in a header`).toBe(
      false,
    )
  }
  const bare = HTTP_FRONT_REFUSALS[id]
  if (bare !== undefined) {
    tally.rejectedByHttpFront++
    expect({ status: answer.status, body: answer.body }).toEqual({ status: bare, body: '' })
    return String(bare)
  }
  tally.rejectedCoded++
  const { error } = JSON.parse(answer.body) as {
    error: { code: keyof typeof WIRE_STATUS; requestId: string }
  }
  expect(WIRE_STATUS[error.code], `${id}: ${error.code} is a wire code of this status`).toBe(answer.status)
  expect(error.requestId).toBe(answer.headers['x-request-id'])
  const audit = auditFor(error.requestId)
  expect(audit, `${id}: audit record for ${error.requestId}`).toMatchObject({
    decision: 'deny',
    code: error.code,
  })
  expect(typeof audit?.reason).toBe('string')
  return error.code
}

const expectIssued = (id: string, { answer, stsCalls }: Exchange): Record<string, unknown> => {
  tally.accepted++
  tally.stsCallsForAccepted += stsCalls
  expect(answer.status, `${id}: ${answer.body.slice(0, 200)}`).toBe(200)
  const body = JSON.parse(answer.body) as Record<string, unknown>
  expect(Object.keys(body).sort()).toEqual([
    'AccessKeyId',
    'AccountId',
    'Expiration',
    'SecretAccessKey',
    'Token',
  ])
  issuedSecrets.push(String(body.SecretAccessKey), String(body.Token))
  expect(stsCalls, `${id}: exactly one AssumeRoleWithWebIdentity`).toBe(1)
  return body
}

beforeAll(async () => {
  moto = await startMotoServer()
  sts = await startCountingProxy(moto.endpoint)
  stack = await startTestStack(
    'corpus',
    {
      IRSA_BROKER_ADMIN_TOKEN: adminToken,
      AWS_ENDPOINT_URL_STS: sts.url,
      // Off: every accepted token must reach STS exactly once here. Accepted cases share a
      // `sub`, and the credential cache would answer them from one call
      // (test/integration/credential-cache.test.ts counts that).
      IRSA_BROKER_CREDENTIAL_CACHE_MAX_ENTRIES: '0',
    },
    { clock, logSink: capturingSink('corpus-e2e', (line) => logLines.push(line)) },
  )
  setClock(attackCorpus.targets['test-issuer']?.frozen_clock_unix ?? 0)
  for (const [issuerId, target] of Object.entries(attackCorpus.targets)) {
    const genuine = attackCorpus.cases.find((c) => c.target === issuerId && c.expect === 'accept')
    await registerIssuer(
      issuerId,
      {
        issuer: target.issuer,
        audiences: [target.audience],
        jwks: targetJwks(target),
        algorithms: target.allowed_algs,
        // The kind target's genuine token is a 365-day default-mounted one.
        maxTokenLifetimeSeconds: issuerId === 'kind-v1.34' ? 366 * 86400 : 86400,
      },
      unverifiedSub(genuine?.token ?? ''),
    )
  }
  const eks = k8sPairs.find((pair) => pair.dir.startsWith('eks')) as K8sPair
  await registerIssuer(
    eks.dir,
    {
      issuer: eks.verify_with.issuer,
      audiences: [eks.verify_with.audience],
      jwks: k8sJwks(eks),
      algorithms: eks.verify_with.algorithms,
      maxTokenLifetimeSeconds: eks.times.lifetime_s,
    },
    unverifiedSub(k8sToken(eks)),
  )
}, 90_000)

afterAll(async () => {
  await stack?.stop()
  await sts?.stop()
  await moto?.stop()
})

describe('attack corpus end to end through GET /v1/credentials', () => {
  it.each(attackCorpus.cases)('$id ($expect) $description', async (attack: AttackCase) => {
    // Prepare
    const frozen = attackCorpus.targets[attack.target]?.frozen_clock_unix ?? 0
    setClock(frozen)
    tally.cases++
    // Act
    const result = await exchange(attack.token)
    // Assess
    const core = await coreVerdict(attack.token, attack.target, frozen)
    if (brokerAccepts(attack)) {
      expectIssued(attack.id, result)
      expect(core).toBe('accepted')
    } else {
      const code = expectRefused(attack.id, attack.token, result)
      // Both ways agree: the HTTP answer carries the core validator's code.
      if (!(attack.id in HTTP_FRONT_REFUSALS)) expect(code).toBe(core)
      else expect(core).not.toBe('accepted')
    }
  })

  it.each(KEY_URL_CASES.map((id) => ({ id })))(
    '$id: the jku/x5u/x5c in its header is never fetched — every connection stays on the stack',
    async ({ id }) => {
      // Prepare
      const attack = attackCorpus.cases.find((c) => c.id === id) as AttackCase
      setClock(attackCorpus.targets[attack.target]?.frozen_clock_unix ?? 0)
      // The stack, its dynalite, the STS proxy and (from the proxy, in this process) moto_server.
      const own = new Set(
        [stack.url, stack.dynamodb.endpoint, sts.url, moto.endpoint].map((url) => Number(new URL(url).port)),
      )
      // Act
      const { attempts } = await exchange(attack.token)
      // Assess
      expect(attempts.length).toBeGreaterThan(0)
      expect(attempts.filter((attempt) => !attempt.allowed)).toEqual([])
      expect(
        attempts.filter((attempt) => attempt.host !== '127.0.0.1' || !own.has(attempt.port ?? -1)),
      ).toEqual([])
    },
  )

  it('P61/P62 end to end: the audit names the identity the verifier returned (the last duplicate)', async () => {
    // Prepare
    setClock(attackCorpus.targets['test-issuer']?.frozen_clock_unix ?? 0)
    const ids = ['P61', 'P62']
    // Act
    const answers = await Promise.all(
      ids.map(
        async (id) => (await exchange(attackCorpus.cases.find((c) => c.id === id)?.token ?? '')).answer,
      ),
    )
    // Assess
    for (const answer of answers) {
      expect(answer.status).toBe(200)
      expect(auditFor(answer.headers['x-request-id'] ?? '')).toMatchObject({
        decision: 'allow',
        sub: 'system:serviceaccount:payments:api',
        namespace: 'payments',
      })
    }
  })
})

describe.each(k8sPairs)('real Kubernetes token $dir end to end', (pair) => {
  it('is issued credentials at its frozen clock, with one call to STS', async () => {
    // Prepare
    setClock(pair.freeze_clock_unix)
    tally.cases++
    // Act
    const result = await exchange(k8sToken(pair))
    // Assess
    expectIssued(pair.dir, result)
    expect(await coreVerdict(k8sToken(pair), pair.dir, pair.freeze_clock_unix)).toBe('accepted')
  })

  it('is refused 401 ExpiredToken past exp plus the skew, without reaching STS', async () => {
    // Prepare
    setClock(pair.times.exp + 61)
    tally.cases++
    // Act
    const result = await exchange(k8sToken(pair))
    // Assess
    expect(expectRefused(`${pair.dir} expired`, k8sToken(pair), result)).toBe('ExpiredToken')
  })

  it('is refused 401 InvalidIdentityToken after one payload character changes, without reaching STS', async () => {
    // Prepare
    setClock(pair.freeze_clock_unix)
    tally.cases++
    const [header, payload, signature] = k8sToken(pair).split('.') as [string, string, string]
    const flipped = `${header}.${payload.slice(0, 10)}${payload[10] === 'A' ? 'B' : 'A'}${payload.slice(11)}.${signature}`
    // Act
    const result = await exchange(flipped)
    // Assess
    expect(expectRefused(`${pair.dir} flipped`, flipped, result)).toBe('InvalidIdentityToken')
  })
})

describe('across the corpus run', () => {
  it('ran every case, refused every one it must, and no refused token reached STS', () => {
    // Assess
    const mustAccept = attackCorpus.cases.filter(brokerAccepts).length + k8sPairs.length
    expect(tally.cases).toBe(attackCorpus.cases.length + 3 * k8sPairs.length)
    expect(tally.accepted).toBe(mustAccept)
    expect(tally.rejected).toBe(tally.cases - mustAccept)
    expect(tally.rejectedCoded + tally.rejectedByHttpFront).toBe(tally.rejected)
    expect(tally.stsCallsForRejected).toBe(0)
    expect(tally.stsCallsForAccepted).toBe(tally.accepted)
    expect(sts.actions().every((action) => action === 'AssumeRoleWithWebIdentity')).toBe(true)
    console.info(`corpus end to end: ${JSON.stringify(tally)}`)
  })

  it('never logged a corpus token, a signature segment or an issued secret', () => {
    // Prepare
    const forbidden = [
      ...attackCorpus.cases.flatMap((c) => tokenParts(c.token).filter((part) => part.length >= 40)),
      ...k8sPairs.flatMap((pair) => tokenParts(k8sToken(pair))),
      ...issuedSecrets,
    ]
    // Act
    const leaks = forbidden.filter((secret) => logLines.some((line) => line.includes(secret)))
    // Assess
    expect(logLines.length).toBeGreaterThan(100)
    expect(issuedSecrets.length).toBeGreaterThan(0)
    expect(leaks.map((secret) => `${secret.slice(0, 6)}…`)).toEqual([])
  })
})
