// Real Kubernetes-issued tokens (EKS and kind, ../shared/corpus/k8s-tokens) whose JWKS the
// broker fetches from a loopback endpoint, with the clock frozen: accepted as issued, refused
// after every mutation the corpus lists. Once through the core (remote resolver + the real
// fetcher), once through the whole local stack over HTTP. In AWS mode, EKS's discovery is
// followed over a pinned connection, and kind's real discovery document (its jwks_uri is a
// private address) is refused without a connection to that address.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LocalStack } from '../../infra/local/stack.js'
import { type ConnectTarget, createSafeJsonFetcher } from '../../shared/adapters/jwks-fetch.js'
import { createIssuerKeyResolver } from '../../shared/core/keys.js'
import type { Issuer, SigningAlgorithm } from '../../shared/core/model.js'
import type { Clock, JsonFetcher, Logger } from '../../shared/core/ports.js'
import { createRemoteKeyResolver } from '../../shared/core/remote-keys.js'
import { verifyWorkloadToken } from '../../shared/core/verify.js'
import { capturingSink } from '../support/log-capture.js'
import { json, type LoopbackServer, startLoopbackServer } from '../support/loopback-server.js'
import { startTestStack } from '../support/test-stack.js'
import { makeIssuer } from '../unit/fixtures.js'

const corpus = join(import.meta.dirname, '..', '..', '..', 'shared', 'corpus', 'k8s-tokens')

interface Pair {
  dir: string
  freeze_clock_unix: number
  verify_with: { issuer: string; audience: string; algorithms: SigningAlgorithm[]; jwks_file: string }
  times: { iat: number; exp: number; lifetime_s: number }
  claims: { sub: string }
}

const pairs = (JSON.parse(readFileSync(join(corpus, 'cases.json'), 'utf8')) as { pairs: Pair[] }).pairs
const jwksOf = (pair: Pair): unknown =>
  JSON.parse(readFileSync(join(corpus, pair.verify_with.jwks_file), 'utf8'))
// The files end in a newline, as saved by hand; kubelet's projected token files do not.
const tokenOf = (pair: Pair) => readFileSync(join(corpus, pair.dir, 'token.jwt'), 'utf8').trimEnd()

const quietLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  metric: () => undefined,
}

/** A clock the test sets to an instant. */
const createSettableClock = (unixSeconds: number) => {
  let current = unixSeconds * 1000
  const clock: Clock & { set(seconds: number): void } = {
    now: () => new Date(current),
    set: (seconds) => {
      current = seconds * 1000
    },
  }
  return clock
}

const flipPayloadCharacter = (token: string) => {
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const flipped = `${payload.slice(0, 10)}${payload[10] === 'A' ? 'B' : 'A'}${payload.slice(11)}`
  return `${header}.${flipped}.${signature}`
}

const flipHeaderCharacter = (token: string) => {
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const flipped = `${header.slice(0, 5)}${header[5] === 'A' ? 'B' : 'A'}${header.slice(6)}`
  return `${flipped}.${payload}.${signature}`
}

let endpoint: LoopbackServer

beforeAll(async () => {
  endpoint = await startLoopbackServer((request, response) => {
    const pair = pairs.find((candidate) => request.url === `/${candidate.dir}/keys`)
    if (!pair) {
      response.writeHead(404).end()
      return
    }
    json(jwksOf(pair))(request, response)
  })
})

afterAll(async () => {
  await endpoint?.stop()
})

const issuerFor = (pair: Pair, overrides: Partial<Issuer> = {}): Issuer => {
  const { jwks: _inline, ...remote } = makeIssuer({
    issuerId: pair.dir,
    issuer: pair.verify_with.issuer,
    audiences: [pair.verify_with.audience],
    jwksUri: `${endpoint.url}/${pair.dir}/keys`,
    algorithms: pair.verify_with.algorithms,
    // The kind token is a 365-day default-mounted token: admitted only by an issuer that says so.
    maxTokenLifetimeSeconds: pair.times.lifetime_s,
  })
  return { ...remote, ...overrides }
}

describe.each(pairs)('real Kubernetes token $dir with its JWKS fetched from a loopback endpoint', (pair) => {
  const setup = () => {
    const clock = createSettableClock(pair.freeze_clock_unix)
    const remote = createRemoteKeyResolver({
      fetchJson: createSafeJsonFetcher({ allowLoopback: true }),
      clock,
      logger: quietLogger,
    })
    const keysFor = createIssuerKeyResolver(remote.keysFor)
    const verify = (token: string, issuer: Issuer = issuerFor(pair)) =>
      verifyWorkloadToken(token, [issuer], keysFor, clock.now())
    return { clock, remote, verify }
  }

  it('verifies at the frozen clock with the fetched JWKS, and the refresh reports its kids', async () => {
    // Prepare
    const { remote, verify } = setup()
    // Act
    const result = await verify(tokenOf(pair))
    const status = await remote.refresh(issuerFor(pair))
    // Assess
    expect(result.ok && result.claims.sub).toBe(pair.claims.sub)
    expect(status.keyCount).toBe((jwksOf(pair) as { keys: unknown[] }).keys.length)
  })

  it('is refused as expired past exp plus the skew', async () => {
    // Prepare
    const { clock, verify } = setup()
    clock.set(pair.times.exp + 61)
    // Act
    const result = await verify(tokenOf(pair))
    // Assess
    expect(result.ok ? 'accepted' : result.error.code).toBe('ExpiredToken')
  })

  it('is refused for an issuer registered with a trailing slash', async () => {
    // Prepare
    const { verify } = setup()
    // Act
    const result = await verify(tokenOf(pair), issuerFor(pair, { issuer: `${pair.verify_with.issuer}/` }))
    // Assess
    expect(result.ok ? 'accepted' : result.error.code).toBe('InvalidIdentityToken')
  })

  it('is refused for an issuer expecting another audience', async () => {
    // Prepare
    const { verify } = setup()
    // Act
    const result = await verify(tokenOf(pair), issuerFor(pair, { audiences: ['irsa-broker'] }))
    // Assess
    expect(result.ok ? 'accepted' : result.error.reason).toBe('claim_invalid_aud')
  })

  it('is refused when the issuer allows only ES256', async () => {
    // Prepare
    const { verify } = setup()
    // Act
    const result = await verify(tokenOf(pair), issuerFor(pair, { algorithms: ['ES256'] }))
    // Assess
    expect(result.ok ? 'accepted' : result.error.reason).toBe('signature_not_verified')
  })

  it('is refused after one payload character changes', async () => {
    // Prepare
    const { verify } = setup()
    // Act
    const result = await verify(flipPayloadCharacter(tokenOf(pair)))
    // Assess
    expect(result.ok).toBe(false)
  })

  it('is refused after one header character changes', async () => {
    // Prepare
    const { verify } = setup()
    // Act
    const result = await verify(flipHeaderCharacter(tokenOf(pair)))
    // Assess
    expect(result.ok).toBe(false)
  })
})

describe('AWS mode: discovery of the real issuers over pinned connections', () => {
  const eks = pairs.find((pair) => pair.dir === 'eks-irsa-eu-west-1') as Pair
  const kind = pairs.find((pair) => pair.dir === 'kind-v1.34') as Pair
  const kindDiscovery = JSON.parse(
    readFileSync(join(corpus, 'kind-v1.34', 'openid-configuration.json'), 'utf8'),
  ) as { jwks_uri: string }
  const eksPath = new URL(eks.verify_with.issuer).pathname
  let publisher: LoopbackServer

  beforeAll(async () => {
    // What oidc.eks.<region>.amazonaws.com serves: the discovery document and the keys beside it.
    publisher = await startLoopbackServer((request, response) => {
      if (request.url === `${eksPath}/.well-known/openid-configuration`) {
        json({ issuer: eks.verify_with.issuer, jwks_uri: `${eks.verify_with.issuer}/keys` })(
          request,
          response,
        )
      } else if (request.url === `${eksPath}/keys`) {
        json(jwksOf(eks))(request, response)
      } else if (request.url === '/.well-known/openid-configuration') {
        json(kindDiscovery)(request, response)
      } else {
        response.writeHead(404).end()
      }
    })
  })

  afterAll(async () => {
    await publisher?.stop()
  })

  /** Every public name resolves to one public address; its connections go to `publisher`. */
  const awsFetcher = () => {
    const targets: ConnectTarget[] = []
    const fetchJson: JsonFetcher = createSafeJsonFetcher({
      allowLoopback: false,
      resolve: async () => [{ address: '52.95.120.10', family: 4 }],
      connect: (target) => {
        targets.push(target)
        return connect({ host: '127.0.0.1', port: publisher.port })
      },
    })
    return { fetchJson, targets }
  }

  it('follows EKS discovery to its keys and verifies the EKS token at the frozen clock', async () => {
    // Prepare
    const { fetchJson, targets } = awsFetcher()
    const clock = createSettableClock(eks.freeze_clock_unix)
    const remote = createRemoteKeyResolver({ fetchJson, clock, logger: quietLogger })
    const issuer = issuerFor(eks, { jwksUri: undefined, discovery: true })
    const before = publisher.requests.length
    // Act
    const result = await verifyWorkloadToken(
      tokenOf(eks),
      [issuer],
      createIssuerKeyResolver(remote.keysFor),
      clock.now(),
    )
    // Assess
    expect(result.ok).toBe(true)
    const host = new URL(eks.verify_with.issuer).host
    expect(targets).toEqual([
      { protocol: 'https:', address: '52.95.120.10', port: 443, servername: host },
      { protocol: 'https:', address: '52.95.120.10', port: 443, servername: host },
    ])
    expect(publisher.requests.slice(before)).toEqual([
      { method: 'GET', path: `${eksPath}/.well-known/openid-configuration`, host },
      { method: 'GET', path: `${eksPath}/keys`, host },
    ])
  })

  it("refuses kind's real discovery document, whose jwks_uri is a private address, without connecting there", async () => {
    // Prepare
    const { fetchJson, targets } = awsFetcher()
    const clock = createSettableClock(kind.freeze_clock_unix)
    const remote = createRemoteKeyResolver({ fetchJson, clock, logger: quietLogger })
    const issuer = issuerFor(kind, { jwksUri: undefined, discovery: true })
    // Act
    const refused = remote.refresh(issuer).catch((error: unknown) => error)
    const result = await verifyWorkloadToken(
      tokenOf(kind),
      [issuer],
      createIssuerKeyResolver(remote.keysFor),
      clock.now(),
    )
    // Assess
    expect(await refused).toMatchObject({
      code: 'address_refused',
      message: `${kindDiscovery.jwks_uri}: 172.20.0.2 is a private address, which is refused`,
    })
    expect(result.ok ? 'accepted' : result.error.code).toBe('IDPCommunicationError')
    expect(targets.map((target) => target.servername)).toEqual(['kubernetes.default.svc.cluster.local'])
  })
})

describe('through the local stack over HTTP, clock frozen per token', () => {
  const adminToken = randomBytes(24).toString('base64url')
  const clock = createSettableClock(pairs[0]?.freeze_clock_unix ?? 0)
  let stack: LocalStack

  const call = async (path: string, init: { method?: string; token?: string; body?: unknown } = {}) => {
    const response = await fetch(`${stack.url}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        ...(init.token ? { authorization: init.token } : { authorization: `Bearer ${adminToken}` }),
        ...(init.body ? { 'content-type': 'application/json' } : {}),
      },
      ...(init.body ? { body: JSON.stringify(init.body) } : {}),
    })
    const body = (await response.json()) as Record<string, unknown>
    return { status: response.status, body, code: (body.error as { code?: string } | undefined)?.code }
  }

  beforeAll(async () => {
    stack = await startTestStack(
      'corpus',
      {
        IRSA_BROKER_ADMIN_TOKEN: adminToken,
        IRSA_BROKER_ALLOW_LOOPBACK_JWKS: 'true',
      },
      { logSink: capturingSink('remote-jwks-corpus', () => undefined), clock },
    )
    for (const pair of pairs) {
      clock.set(pair.freeze_clock_unix)
      const {
        issuerId: _id,
        version: _v,
        createdAt: _c,
        updatedAt: _u,
        updatedBy: _b,
        ...document
      } = issuerFor(pair)
      const registered = await call(`/v1/admin/issuers/${pair.dir}`, { method: 'PUT', body: document })
      expect(registered.status).toBe(201)
      const bound = await call(`/v1/admin/issuers/${pair.dir}/bindings/reader`, {
        method: 'PUT',
        body: { roleArn: 'arn:aws:iam::111122223333:role/corpus-reader', subjects: [pair.claims.sub] },
      })
      expect(bound.status).toBe(201)
    }
  })

  afterAll(async () => {
    await stack?.stop()
  })

  it.each(pairs)(
    'vends credentials for the unmodified $dir token and for no mutation of it',
    async (pair) => {
      // Prepare
      clock.set(pair.freeze_clock_unix)
      const token = tokenOf(pair)
      // Act
      const unmodified = await call('/v1/credentials', { token })
      const payloadFlipped = await call('/v1/credentials', { token: flipPayloadCharacter(token) })
      const headerFlipped = await call('/v1/credentials', { token: flipHeaderCharacter(token) })
      clock.set(pair.times.exp + 61)
      const expired = await call('/v1/credentials', { token })
      // Assess
      expect(unmodified.status).toBe(200)
      expect(unmodified.body.AccessKeyId).toMatch(/^ASIA/)
      expect(
        [payloadFlipped, headerFlipped, expired].map((answer) => `${answer.status} ${answer.code}`),
      ).toEqual(['401 InvalidIdentityToken', '401 InvalidIdentityToken', '401 ExpiredToken'])
    },
  )
})
