// The JWKS fetcher against real loopback listeners the tests start: what it does with the
// answers of a server (redirects, types, sizes, slowness, broken connections), that it connects
// to the address it checked (no DNS rebinding), and TLS checked against the URL's name.
// AWS-mode cases resolve names through an injected resolver to a public-looking address and
// route that one connection to the loopback listener, recording where it was meant to go.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Connector,
  type ConnectTarget,
  createSafeJsonFetcher,
  createSystemConnector,
  FETCH_DEFAULTS,
  type Resolver,
} from '../../shared/adapters/jwks-fetch.js'
import { createAwsAdapters } from '../../shared/aws.js'
import { loadLambdaConfig } from '../../shared/config.js'
import type { KeyFetchError } from '../../shared/core/remote-keys.js'
import { json, type LoopbackServer, startLoopbackServer } from '../support/loopback-server.js'

const PUBLIC_ADDRESS = '93.184.215.14'
const NAME = 'oidc.example.com'

let server: LoopbackServer

beforeAll(async () => {
  server = await startLoopbackServer()
})

afterAll(async () => {
  await server?.stop()
})

/** AWS mode: `oidc.example.com` resolves to a public address; its connection goes to `server`. */
const awsMode = (options: { resolve?: Resolver; timeoutMs?: number } = {}) => {
  const targets: ConnectTarget[] = []
  const lookups: string[] = []
  const connector: Connector = (target) => {
    targets.push(target)
    return connect({ host: '127.0.0.1', port: server.port })
  }
  const fetchJson = createSafeJsonFetcher({
    allowLoopback: false,
    resolve:
      options.resolve ??
      (async (hostname) => {
        lookups.push(hostname)
        return hostname === NAME ? [{ address: PUBLIC_ADDRESS, family: 4 }] : []
      }),
    connect: connector,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  })
  return { fetchJson, targets, lookups }
}

const refusalOf = async (promise: Promise<unknown>): Promise<KeyFetchError> => {
  try {
    await promise
  } catch (error) {
    return error as KeyFetchError
  }
  throw new Error('expected the fetch to fail')
}

const JWKS = { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k' }] }

describe('JWKS fetcher: answers of a real server', () => {
  it('fetches JSON over the pinned connection with the URL host as Host header and TLS name', async () => {
    // Prepare
    const { fetchJson, targets, lookups } = awsMode()
    server.handle(json(JWKS))
    const before = server.requests.length
    // Act
    const document = await fetchJson(`https://${NAME}/openid/v1/jwks?x=1`)
    // Assess
    expect(document).toEqual(JWKS)
    expect(lookups).toEqual([NAME])
    expect(targets).toEqual([{ protocol: 'https:', address: PUBLIC_ADDRESS, port: 443, servername: NAME }])
    expect(server.requests.slice(before)).toEqual([
      { method: 'GET', path: '/openid/v1/jwks?x=1', host: NAME },
    ])
  })

  it('resolves each fetch once and connects to that checked address: a name rebound to loopback is refused next time', async () => {
    // Prepare
    const answers = [PUBLIC_ADDRESS, '127.0.0.1']
    let lookups = 0
    const { fetchJson, targets } = awsMode({
      resolve: async () => [{ address: answers[lookups++] ?? '127.0.0.1', family: 4 }],
    })
    server.handle(json(JWKS))
    // Act
    await fetchJson(`https://${NAME}/keys`)
    const second = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    expect(lookups).toBe(2)
    expect(targets.map((target) => target.address)).toEqual([PUBLIC_ADDRESS])
    expect(second.code).toBe('address_refused')
  })

  it.each([
    ['to IMDS', 301, 'http://169.254.169.254/latest/meta-data/'],
    ['to a private address', 302, 'https://10.0.0.1/keys'],
    ['to loopback', 307, 'http://127.0.0.1:9001/2018-06-01/runtime/invocation/next'],
    ['to the same host', 308, `https://${NAME}/other-keys`],
  ])('refuses a redirect %s and never follows it', async (_label, status, location) => {
    // Prepare
    const { fetchJson, targets } = awsMode()
    server.handle((_request, response) => {
      response.writeHead(status, { location, 'content-type': 'application/json' })
      response.end('{}')
    })
    // Act
    const error = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    expect(error).toMatchObject({ code: 'redirect_refused' })
    expect(targets).toHaveLength(1)
  })

  it.each([404, 500, 503])('refuses an HTTP %d answer', async (status) => {
    // Prepare
    const { fetchJson } = awsMode()
    server.handle(json({ keys: [] }, 'application/json', status))
    // Act
    const error = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    expect(error).toMatchObject({
      code: 'http_status',
      message: `https://${NAME}/keys: answered HTTP ${status}`,
    })
  })

  it.each([
    ['text/html', 'content_type_refused'],
    ['text/plain', 'content_type_refused'],
    ['application/javascript', 'content_type_refused'],
    ['application/x-json', 'content_type_refused'],
  ])('refuses content-type %s', async (contentType, code) => {
    // Prepare
    const { fetchJson } = awsMode()
    server.handle(json(JWKS, contentType))
    // Act
    const error = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    expect(error.code).toBe(code)
  })

  it('refuses an answer without content-type', async () => {
    // Prepare
    const { fetchJson } = awsMode()
    server.handle((_request, response) => {
      response.removeHeader('content-type')
      response.end(JSON.stringify(JWKS))
    })
    // Act
    const error = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    expect(error.code).toBe('content_type_refused')
  })

  it.each(['application/json; charset=utf-8', 'application/jwk-set+json', 'Application/JSON'])(
    'accepts content-type %s',
    async (contentType) => {
      // Prepare
      const { fetchJson } = awsMode()
      server.handle(json(JWKS, contentType))
      // Act
      const document = await fetchJson(`https://${NAME}/keys`)
      // Assess
      expect(document).toEqual(JWKS)
    },
  )

  it('refuses a body that is not JSON', async () => {
    // Prepare
    const { fetchJson } = awsMode()
    server.handle(json('<html>keys</html>'))
    // Act
    const error = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    expect(error).toMatchObject({ code: 'not_json', message: `https://${NAME}/keys: the answer is not JSON` })
  })

  it('refuses a body that is not UTF-8', async () => {
    // Prepare
    const { fetchJson } = awsMode()
    server.handle((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(Buffer.from([0x22, 0xff, 0xfe, 0x22]))
    })
    // Act
    const error = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    expect(error.code).toBe('not_json')
  })

  it('accepts an answer of exactly 64 KiB', async () => {
    // Prepare
    const { fetchJson } = awsMode()
    const padding = 'x'.repeat(FETCH_DEFAULTS.maxBytes - '{"keys":[],"p":""}'.length)
    server.handle(json(`{"keys":[],"p":"${padding}"}`))
    // Act
    const document = (await fetchJson(`https://${NAME}/keys`)) as { p: string }
    // Assess
    expect(document.p).toHaveLength(padding.length)
  })

  it('refuses an answer one byte over 64 KiB sent without content-length, cutting the connection', async () => {
    // Prepare
    const { fetchJson } = awsMode()
    const padding = 'x'.repeat(FETCH_DEFAULTS.maxBytes + 1 - '{"keys":[],"p":""}'.length)
    server.handle((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(`{"keys":[],"p":"${padding}"}`)
    })
    // Act
    const error = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    expect(error).toMatchObject({
      code: 'too_large',
      message: `https://${NAME}/keys: the answer is larger than 65536 bytes`,
    })
  })

  it('refuses a declared content-length over 64 KiB before reading the body', async () => {
    // Prepare
    const { fetchJson } = awsMode({ timeoutMs: 2000 })
    server.handle((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': 100 * 1024 * 1024 })
      // Only headers and a little body: the fetcher must not wait for the rest.
      response.write('{"keys":[')
    })
    const started = performance.now()
    // Act
    const error = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    expect(error.code).toBe('too_large')
    expect(performance.now() - started).toBeLessThan(1000)
  })

  it('refuses an endless body at the size cap, without waiting for its end', async () => {
    // Prepare
    const { fetchJson } = awsMode({ timeoutMs: 2000 })
    server.handle((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      const chunk = 'x'.repeat(16 * 1024)
      const pump = () => {
        while (!response.destroyed && response.write(chunk)) {}
        if (!response.destroyed) response.once('drain', pump)
      }
      response.write('"')
      pump()
    })
    const started = performance.now()
    // Act
    const error = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    expect(error.code).toBe('too_large')
    expect(performance.now() - started).toBeLessThan(1500)
  })

  it('gives up at the deadline on a server that never answers', async () => {
    // Prepare
    const { fetchJson } = awsMode({ timeoutMs: 300 })
    server.handle(() => undefined)
    const started = performance.now()
    // Act
    const error = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    expect(error).toMatchObject({
      code: 'timeout',
      message: `https://${NAME}/keys: no complete answer within 300 ms`,
    })
    expect(performance.now() - started).toBeLessThan(1500)
  })

  it('gives up at the deadline on a server that sends its body a byte at a time', async () => {
    // Prepare
    const { fetchJson } = awsMode({ timeoutMs: 300 })
    server.handle((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      const timer = setInterval(() => (response.destroyed ? clearInterval(timer) : response.write(' ')), 50)
      response.on('close', () => clearInterval(timer))
    })
    // Act
    const error = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    expect(error.code).toBe('timeout')
  })

  it('gives up after 3 s by default', async () => {
    // Prepare
    const { fetchJson } = awsMode()
    server.handle(() => undefined)
    const started = performance.now()
    // Act
    const error = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    const elapsed = performance.now() - started
    expect(error.code).toBe('timeout')
    expect(elapsed).toBeGreaterThanOrEqual(2950)
    expect(elapsed).toBeLessThan(4500)
  })

  it('reports a connection cut mid-answer as unreachable', async () => {
    // Prepare
    const { fetchJson } = awsMode()
    server.handle((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': 1000 })
      response.write('{"keys":')
      setTimeout(() => response.socket?.destroy(), 20)
    })
    // Act
    const error = await refusalOf(fetchJson(`https://${NAME}/keys`))
    // Assess
    expect(error.code).toBe('unreachable')
  })

  it('reports a refused connection as unreachable', async () => {
    // Prepare
    const closed = await startLoopbackServer()
    const port = closed.port
    await closed.stop()
    const fetchJson = createSafeJsonFetcher({ allowLoopback: true })
    // Act
    const error = await refusalOf(fetchJson(`http://127.0.0.1:${port}/keys`))
    // Assess
    expect(error.code).toBe('unreachable')
  })
})

describe('JWKS fetcher: modes, with the real resolver and connector', () => {
  it('fetches http:// from loopback in local mode with the loopback allowance, by IP and by localhost', async () => {
    // Prepare
    const fetchJson = createSafeJsonFetcher({ allowLoopback: true })
    server.handle(json(JWKS))
    // Act
    const byIp = await fetchJson(`${server.url}/keys`)
    const byName = await fetchJson(`http://localhost:${server.port}/keys`)
    // Assess
    expect(byIp).toEqual(JWKS)
    expect(byName).toEqual(JWKS)
  })

  it('never opens a connection to loopback without the allowance', async () => {
    // Prepare
    const fetchJson = createSafeJsonFetcher({ allowLoopback: false })
    const before = server.connections
    // Act
    const errors = [
      await refusalOf(fetchJson(`${server.url}/keys`)),
      await refusalOf(fetchJson(`https://127.0.0.1:${server.port}/keys`)),
      await refusalOf(fetchJson(`https://localhost:${server.port}/keys`)),
    ]
    // Assess
    expect(errors.map((error) => error.code)).toEqual([
      'scheme_refused',
      'address_refused',
      'address_refused',
    ])
    expect(server.connections).toBe(before)
  })

  it('never opens a connection to loopback from the Lambda adapters, whatever the environment says', async () => {
    // Prepare
    const { fetchJson } = createAwsAdapters(
      loadLambdaConfig({
        IRSA_BROKER_ISSUER_URL: 'https://broker.example.com',
        IRSA_BROKER_TABLE: 'irsa-broker',
        IRSA_BROKER_KMS_KEY_ID: 'alias/irsa-broker',
        IRSA_BROKER_ALLOW_LOOPBACK_JWKS: 'true',
      }),
      'test',
    )
    const before = server.connections
    // Act
    const errors = [
      await refusalOf(fetchJson(`${server.url}/keys`)),
      await refusalOf(fetchJson(`https://127.0.0.1:${server.port}/keys`)),
      await refusalOf(fetchJson(`http://[::ffff:127.0.0.1]:${server.port}/keys`)),
    ]
    // Assess
    expect(errors.map((error) => error.code)).toEqual(['scheme_refused', 'address_refused', 'scheme_refused'])
    expect(server.connections).toBe(before)
  })
})

describe('JWKS fetcher: TLS to a pinned address is checked against the URL name', () => {
  let dir: string
  let tlsServer: ReturnType<typeof createHttpsServer>
  let port: number
  let ca: Buffer

  beforeAll(async () => {
    // A throwaway self-signed certificate for jwks.example.test, made now.
    dir = mkdtempSync(join(tmpdir(), 'irsa-broker-tls-'))
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=jwks.example.test',
        '-addext',
        'subjectAltName=DNS:jwks.example.test',
      ],
      { stdio: 'ignore' },
    )
    ca = readFileSync(join(dir, 'cert.pem'))
    tlsServer = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: ca }, json(JWKS))
    await new Promise<void>((done) => tlsServer.listen(0, '127.0.0.1', done))
    const address = tlsServer.address()
    port = typeof address === 'object' && address ? address.port : 0
  })

  afterAll(async () => {
    await new Promise((done) => tlsServer?.close(done))
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const fetcherFor = () =>
    createSafeJsonFetcher({
      allowLoopback: true,
      resolve: async () => [{ address: '127.0.0.1', family: 4 }],
      connect: createSystemConnector({ ca }),
    })

  it('fetches over TLS from the pinned address when the certificate names the URL host', async () => {
    // Act
    const document = await fetcherFor()(`https://jwks.example.test:${port}/keys`)
    // Assess
    expect(document).toEqual(JWKS)
  })

  it('refuses a certificate that does not name the URL host, although the address is the same', async () => {
    // Act
    const error = await refusalOf(fetcherFor()(`https://other.example.test:${port}/keys`))
    // Assess
    expect(error.code).toBe('unreachable')
    expect(error.message).toContain("Hostname/IP does not match certificate's altnames")
  })

  it('refuses a certificate no trusted CA signed', async () => {
    // Prepare
    const fetchJson = createSafeJsonFetcher({
      allowLoopback: true,
      resolve: async () => [{ address: '127.0.0.1', family: 4 }],
    })
    // Act
    const error = await refusalOf(fetchJson(`https://jwks.example.test:${port}/keys`))
    // Assess
    expect(error.code).toBe('unreachable')
    expect(error.message).toContain('self-signed certificate')
  })
})
