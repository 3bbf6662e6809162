// The test-wide outbound guard (test/setup.ts installs it in every worker): what it refuses,
// that it refuses before any socket handle or DNS query exists, and that loopback still works.
import dns from 'node:dns'
import { request } from 'node:http'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  isLoopbackHost,
  isOutboundGuardInstalled,
  outboundAttempts,
  outboundMark,
  REFUSED_CODE,
} from '../../support/outbound-guard.js'

const errorOf = (socket: Socket): Promise<NodeJS.ErrnoException> =>
  new Promise((resolve, reject) => {
    socket.once('error', resolve)
    socket.once('connect', () => reject(new Error('connected')))
  })

/** Node creates the OS socket (`_handle`) before it sends anything; without it nothing can leave. */
const handleOf = (socket: Socket): unknown => (socket as unknown as { _handle: unknown })._handle

let server: Server
let port = 0
const accepted = new Set<Socket>()

beforeAll(async () => {
  server = createServer((socket) => {
    accepted.add(socket)
    socket.on('error', () => undefined) // fetch resets the connection after the non-HTTP answer
    socket.end('hello')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as { port: number }).port
})

afterAll(async () => {
  for (const socket of accepted) socket.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

describe('outbound guard', () => {
  it('is installed in this worker by the setup file', () => {
    expect(isOutboundGuardInstalled()).toBe(true)
  })

  it.each([
    ['169.254.169.254', 80],
    ['10.0.0.1', 443],
    ['169.254.170.2', 80],
    ['::ffff:10.0.0.1', 80],
    ['2001:db8::1', 443],
  ])('refuses net.connect to %s:%i before a socket handle exists, and records it', async (host, target) => {
    // Prepare
    const mark = outboundMark()
    // Act
    const socket = connect({ host, port: target })
    const handleRightAfterConnect = handleOf(socket)
    const error = await errorOf(socket)
    // Assess
    expect(handleRightAfterConnect).toBeNull()
    expect(handleOf(socket)).toBeNull()
    expect(error.code).toBe(REFUSED_CODE)
    expect(outboundAttempts(mark)).toEqual([
      { seq: mark + 1, via: 'net.connect', host, port: target, allowed: false },
    ])
  })

  it('refuses tls.connect and node:http requests to 10.0.0.1', async () => {
    // Prepare
    const mark = outboundMark()
    // Act
    const tlsError = await errorOf(tlsConnect({ host: '10.0.0.1', port: 443 }))
    const httpError = await new Promise<NodeJS.ErrnoException>((resolve) => {
      request('http://169.254.169.254/latest/meta-data/').once('error', resolve).end()
    })
    // Assess
    expect([tlsError.code, httpError.code]).toEqual([REFUSED_CODE, REFUSED_CODE])
    expect(outboundAttempts(mark).map(({ via, host, allowed }) => ({ via, host, allowed }))).toEqual([
      { via: 'tls.connect', host: '10.0.0.1', allowed: false },
      { via: 'net.connect', host: '169.254.169.254', allowed: false },
    ])
  })

  it('refuses fetch to 169.254.169.254 and 10.0.0.1 without opening a socket', async () => {
    // Prepare
    const mark = outboundMark()
    // Act
    const failures = await Promise.all(
      ['http://169.254.169.254/latest/api/token', 'https://10.0.0.1/'].map((url) =>
        fetch(url).then(
          () => undefined,
          (error: Error & { cause?: NodeJS.ErrnoException }) => error.cause?.code,
        ),
      ),
    )
    // Assess: the only attempts are the refused fetches themselves, no socket behind them
    expect(failures).toEqual([REFUSED_CODE, REFUSED_CODE])
    expect(outboundAttempts(mark).map(({ via, host, allowed }) => ({ via, host, allowed }))).toEqual([
      { via: 'fetch', host: '169.254.169.254', allowed: false },
      { via: 'fetch', host: '10.0.0.1', allowed: false },
    ])
  })

  it('refuses a host name without a DNS query, and a DNS lookup of one', async () => {
    // Prepare
    const mark = outboundMark()
    // Act
    const socketError = await errorOf(connect({ host: 'attacker.acceptance.invalid', port: 443 }))
    const lookupError = await dns.promises.lookup('attacker.acceptance.invalid').then(
      () => undefined,
      (error: NodeJS.ErrnoException) => error.code,
    )
    // Assess
    expect([socketError.code, lookupError]).toEqual([REFUSED_CODE, REFUSED_CODE])
    expect(outboundAttempts(mark).map(({ via, allowed }) => ({ via, allowed }))).toEqual([
      { via: 'net.connect', allowed: false },
      { via: 'dns.lookup', allowed: false },
    ])
  })

  it("admits a name only when the caller's own resolver answers loopback", async () => {
    // Prepare
    const resolvingTo =
      (address: string) =>
      (_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
        options.all ? callback(null, [{ address, family: 4 }]) : callback(null, address, 4)
    const toLoopback = resolvingTo('127.0.0.1')
    const toMetadata = resolvingTo('169.254.169.254')
    // Act
    const loopback = connect({ host: 'broker.test', port, lookup: toLoopback as never })
    const connected = await new Promise<boolean>((resolve) => {
      loopback.once('connect', () => resolve(true)).once('error', () => resolve(false))
    })
    loopback.destroy()
    const refused = await errorOf(connect({ host: 'broker.test', port, lookup: toMetadata as never }))
    // Assess
    expect(connected).toBe(true)
    expect(refused.code).toBe(REFUSED_CODE)
  })

  it('lets loopback through: net.connect and fetch to 127.0.0.1, recorded as allowed', async () => {
    // Prepare
    const mark = outboundMark()
    // Act
    const greeting = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port })
      let text = ''
      socket.on('data', (chunk) => {
        text += chunk.toString()
      })
      socket.once('end', () => resolve(text)).once('error', reject)
    })
    const fetched = await fetch(`http://127.0.0.1:${port}/`).then(
      () => 'answered',
      () => 'failed', // the test server speaks no HTTP; the point is that the socket opened
    )
    // Assess
    expect(greeting).toBe('hello')
    expect(fetched).toMatch(/answered|failed/)
    const attempts = outboundAttempts(mark)
    expect(attempts.filter((attempt) => !attempt.allowed)).toEqual([])
    expect(attempts.map((attempt) => attempt.via)).toEqual(expect.arrayContaining(['net.connect', 'fetch']))
  })

  it.each([
    ['127.0.0.1', true],
    ['127.10.20.30', true],
    ['::1', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['128.0.0.1', false],
    ['localhost.attacker.test', false],
    ['::ffff:169.254.169.254', false],
  ])('classifies %s as loopback: %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback)
  })
})
