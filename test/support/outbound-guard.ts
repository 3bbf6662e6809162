// The test-wide outbound guard: every connection a test process tries (net and tls sockets,
// http agents, fetch, DNS lookups) is recorded, and every target that is not loopback is
// refused before a socket exists or a DNS query leaves, so a regression can never send traffic
// anywhere but 127.0.0.1/::1. Installed by test/setup.ts in every worker (vitest setupFiles).
import dns from 'node:dns'
import { syncBuiltinESMExports } from 'node:module'
import net from 'node:net'
import tls from 'node:tls'

export type OutboundChannel = 'socket' | 'net.connect' | 'tls.connect' | 'fetch' | 'dns.lookup'

export interface OutboundAttempt {
  /** Increases by one per attempt in this process. */
  seq: number
  via: OutboundChannel
  host: string
  port?: number | undefined
  allowed: boolean
}

export const REFUSED_CODE = 'EOUTBOUNDREFUSED'

interface GuardState {
  attempts: OutboundAttempt[]
  seq: number
}

const STATE_KEY = Symbol.for('irsa-broker.test.outbound-guard')
const MAX_KEPT = 50_000

const state = (): GuardState | undefined => (globalThis as Record<symbol, GuardState | undefined>)[STATE_KEY]

/** Loopback only: 127.0.0.0/8, ::1 (also IPv4-mapped), and the name `localhost`. */
export const isLoopbackHost = (rawHost: string): boolean => {
  const host = rawHost.replace(/^\[|\]$/g, '').toLowerCase()
  if (host === 'localhost') return true
  if (net.isIPv4(host)) return host.startsWith('127.')
  if (net.isIPv6(host)) {
    if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true
    const mapped = /^(?:0{0,4}:){0,4}:?(?:0{0,4}:)?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host)?.[1]
    return mapped?.startsWith('127.') === true
  }
  return false
}

const record = (via: OutboundChannel, host: string, port: number | undefined, allowed: boolean) => {
  const guard = state()
  if (!guard) return
  guard.seq += 1
  guard.attempts.push({ seq: guard.seq, via, host, port, allowed })
  if (guard.attempts.length > MAX_KEPT) guard.attempts.splice(0, guard.attempts.length - MAX_KEPT)
}

export const refusalError = (host: string, port?: number): NodeJS.ErrnoException =>
  Object.assign(
    new Error(
      `outbound connection to ${host}${port === undefined ? '' : `:${port}`} refused by the test guard (loopback only)`,
    ),
    { code: REFUSED_CODE },
  )

/** The attempts recorded in this process, optionally only those after `since` (a seq). */
export const outboundAttempts = (since = 0): OutboundAttempt[] =>
  (state()?.attempts ?? []).filter((attempt) => attempt.seq > since)

/** The seq of the latest attempt, to mark a window. */
export const outboundMark = (): number => state()?.seq ?? 0

export const isOutboundGuardInstalled = (): boolean => state() !== undefined

type LookupFunction = NonNullable<net.TcpNetConnectOpts['lookup']>

/** Wraps a caller's own resolver: the addresses it returns must be loopback too. */
const guardedLookup =
  (lookup: LookupFunction, port: number | undefined): LookupFunction =>
  (hostname, options, callback) => {
    lookup(hostname, options, (error, address, family) => {
      if (error) return callback(error, address as string, family)
      const addresses = Array.isArray(address) ? address.map((entry) => entry.address) : [address]
      const refused = addresses.find((entry) => !isLoopbackHost(String(entry)))
      record('socket', `${hostname}→${addresses.join(',')}`, port, refused === undefined)
      if (refused !== undefined) return callback(refusalError(String(refused), port), '', 4)
      callback(null, address as string, family)
    })
  }

interface Target {
  host?: string
  port?: number
  options?: Record<string, unknown>
}

/** Where a connect call goes: IPC paths need no guard; TCP targets have a host and a port. */
const targetOf = (args: unknown[]): Target | 'ipc' => {
  let first = args[0]
  // net.connect() hands Socket#connect its already normalized [options, callback] array.
  if (Array.isArray(first)) first = first[0]
  if (typeof first === 'object' && first !== null) {
    const options = first as Record<string, unknown>
    if (typeof options.path === 'string') return 'ipc'
    if (options.socket !== undefined) return 'ipc' // tls over an existing, already guarded socket
    return {
      host: typeof options.host === 'string' ? options.host : 'localhost',
      port: Number(options.port),
      options,
    }
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return 'ipc'
  return { host: typeof args[1] === 'string' ? args[1] : 'localhost', port: Number(first) }
}

/**
 * Decides a connect call: loopback literals and `localhost` pass; a name with the caller's own
 * resolver passes only if that resolver answers loopback; any other name or address is refused.
 */
const decide = (via: OutboundChannel, args: unknown[]): NodeJS.ErrnoException | undefined => {
  const target = targetOf(args)
  if (target === 'ipc') return undefined
  const host = target.host ?? 'localhost'
  if (net.isIP(host.replace(/^\[|\]$/g, '')) !== 0 || host === 'localhost') {
    const allowed = isLoopbackHost(host)
    record(via, host, target.port, allowed)
    return allowed ? undefined : refusalError(host, target.port)
  }
  if (typeof target.options?.lookup === 'function') {
    target.options.lookup = guardedLookup(target.options.lookup as LookupFunction, target.port)
    return undefined
  }
  // The system resolver would send a DNS query off this machine.
  record(via, host, target.port, false)
  return refusalError(host, target.port)
}

/** Installs the guard once per process; later calls do nothing. */
export const installOutboundGuard = (): void => {
  if (state()) return
  ;(globalThis as Record<symbol, GuardState>)[STATE_KEY] = { attempts: [], seq: 0 }

  const socketConnect = net.Socket.prototype.connect
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
    const refused = decide('socket', args)
    if (refused) {
      // No handle was created, so no packet can leave; fail the way a refused connection does.
      process.nextTick(() => this.destroy(refused))
      return this
    }
    return (socketConnect as (...a: unknown[]) => net.Socket).apply(this, args)
  } as typeof net.Socket.prototype.connect

  const refusedSocket = (error: NodeJS.ErrnoException): net.Socket => {
    const socket = new net.Socket()
    process.nextTick(() => socket.destroy(error))
    return socket
  }
  type Factory = (...args: unknown[]) => net.Socket
  const wrapFactory = (via: OutboundChannel, original: unknown): Factory =>
    function guardedFactory(...args: unknown[]) {
      const refused = decide(via, args)
      return refused ? refusedSocket(refused) : (original as Factory)(...args)
    }
  net.connect = wrapFactory('net.connect', net.connect) as typeof net.connect
  net.createConnection = wrapFactory('net.connect', net.createConnection) as typeof net.createConnection
  tls.connect = wrapFactory('tls.connect', tls.connect) as unknown as typeof tls.connect

  const lookup = dns.lookup
  dns.lookup = function guardedDnsLookup(hostname: string, ...rest: unknown[]) {
    if (net.isIP(hostname) === 0 && !isLoopbackHost(hostname)) {
      record('dns.lookup', hostname, undefined, false)
      const callback = rest[rest.length - 1] as (error: Error) => void
      process.nextTick(() => callback(refusalError(hostname)))
      return undefined
    }
    return (lookup as (...a: unknown[]) => unknown)(hostname, ...rest)
  } as typeof dns.lookup
  const promisesLookup = dns.promises.lookup
  dns.promises.lookup = async function guardedPromisesLookup(hostname: string, ...rest: unknown[]) {
    if (net.isIP(hostname) === 0 && !isLoopbackHost(hostname)) {
      record('dns.lookup', hostname, undefined, false)
      throw refusalError(hostname)
    }
    return (promisesLookup as (...a: unknown[]) => Promise<unknown>)(hostname, ...rest)
  } as typeof dns.promises.lookup

  const originalFetch = globalThis.fetch
  globalThis.fetch = async function guardedFetch(input: string | URL | Request, init?: RequestInit) {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
    if (url.protocol === 'http:' || url.protocol === 'https:') {
      const allowed = isLoopbackHost(url.hostname)
      const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
      record('fetch', url.hostname, port, allowed)
      if (!allowed) throw new TypeError('fetch failed', { cause: refusalError(url.hostname, port) })
    }
    return originalFetch(input, init)
  } as typeof fetch

  // ESM `import { connect } from 'node:net'` sees the wrapped functions too.
  syncBuiltinESMExports()
}
