// The JsonFetcher of remote key sets, built so that registering an issuer cannot turn the broker
// into an SSRF tool: https only, public addresses only (checked after DNS, and the connection goes
// to the very address checked), no redirects, a size cap, a deadline and a JSON content type.
// DNS and the socket are parameters, so tests see every connection the fetcher would make.
import { lookup } from 'node:dns/promises'
import { request as httpRequest } from 'node:http'
import { isIP, connect as netConnect } from 'node:net'
import type { Duplex } from 'node:stream'
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls'
import type { JsonFetcher } from '../core/ports.js'
import { KeyFetchError, withoutQuery } from '../core/remote-keys.js'
import { classifyAddress } from './jwks-fetch-address.js'

export const FETCH_DEFAULTS = {
  timeoutMs: 3000,
  maxBytes: 64 * 1024,
  maxHeaderBytes: 16 * 1024,
} as const

const JSON_TYPES = new Set(['application/json', 'application/jwk-set+json'])

export interface ResolvedAddress {
  address: string
  family: number
}

/** Every address a host name resolves to. */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>

/** Where a fetch connects: the checked address, never the name again. */
export interface ConnectTarget {
  protocol: 'http:' | 'https:'
  address: string
  port: number
  /** The URL's host name, for TLS SNI and certificate checks (absent when the URL holds an IP). */
  servername?: string
}

/** Opens the connection (TLS included for https) to a checked target. */
export type Connector = (target: ConnectTarget) => Duplex

export interface SafeFetchOptions {
  /** Local mode with IRSA_BROKER_ALLOW_LOOPBACK_JWKS=true only: loopback targets, over http too. */
  allowLoopback: boolean
  resolve?: Resolver
  connect?: Connector
  timeoutMs?: number
  maxBytes?: number
}

export const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true, verbatim: true })

/** node:net / node:tls to the checked address; the certificate is checked against the URL's host. */
export const createSystemConnector =
  (tls: Pick<ConnectionOptions, 'ca'> = {}): Connector =>
  (target) =>
    target.protocol === 'https:'
      ? tlsConnect({
          host: target.address,
          port: target.port,
          ...(target.servername ? { servername: target.servername } : {}),
          ALPNProtocols: ['http/1.1'],
          minVersion: 'TLSv1.2',
          ...tls,
        })
      : netConnect({ host: target.address, port: target.port })

/**
 * A URL as messages show it (to the admin caller and in warning logs): no credentials, and no
 * query or fragment, which may carry a signature or token (a signed JWKS URL).
 */
const describeUrl = (url: URL): string => `${url.origin}${url.pathname}`.slice(0, 300)

const parseUrl = (raw: string, allowLoopback: boolean): URL => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new KeyFetchError('url_invalid', `"${withoutQuery(raw).slice(0, 200)}" is not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new KeyFetchError('url_invalid', `${describeUrl(url)}: only https URLs are fetched`)
  if (url.username !== '' || url.password !== '')
    throw new KeyFetchError('url_invalid', `${describeUrl(url)}: credentials in the URL are not accepted`)
  if (url.protocol === 'http:' && !allowLoopback)
    throw new KeyFetchError('scheme_refused', `${describeUrl(url)}: only https is allowed`)
  return url
}

/** Resolves the host once, refuses it unless every address is allowed, and pins the first. */
const checkedTarget = async (url: URL, options: SafeFetchOptions, resolve: Resolver) => {
  const label = describeUrl(url)
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  let addresses: readonly ResolvedAddress[]
  if (isIP(host) !== 0) {
    addresses = [{ address: host, family: isIP(host) }]
  } else {
    try {
      addresses = await resolve(host)
    } catch (error) {
      throw new KeyFetchError('dns_failed', `${label}: ${host} could not be resolved`, { cause: error })
    }
    if (addresses.length === 0) throw new KeyFetchError('dns_failed', `${label}: ${host} has no address`)
  }
  for (const { address } of addresses) {
    const kind = classifyAddress(address)
    const allowed = kind === 'public' || (kind === 'loopback' && options.allowLoopback)
    if (!allowed) {
      // A literal IP is the caller's own input; the address a name resolved to inside the broker's
      // network is not theirs to learn, so it goes to the operator's log only.
      if (address === host)
        throw new KeyFetchError(
          'address_refused',
          `${label}: ${address} is a ${kind} address, which is refused`,
        )
      throw new KeyFetchError(
        'address_refused',
        `${label}: ${host} resolves to a ${kind} address, which is refused`,
        {
          logDetail: `${host} resolved to ${address}`,
        },
      )
    }
    if (url.protocol === 'http:' && kind !== 'loopback')
      throw new KeyFetchError('scheme_refused', `${label}: plain http is allowed to loopback only`)
  }
  const first = addresses[0] as ResolvedAddress
  const target: ConnectTarget = {
    protocol: url.protocol as ConnectTarget['protocol'],
    address: first.address,
    port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
    ...(isIP(host) === 0 ? { servername: host } : {}),
  }
  return target
}

const get = (
  url: URL,
  target: ConnectTarget,
  connect: Connector,
  maxBytes: number,
  expired: Promise<never>,
) =>
  new Promise<unknown>((resolve, reject) => {
    const label = describeUrl(url)
    let settled = false
    const failWith = (error: KeyFetchError) => {
      if (settled) return
      settled = true
      reject(error)
      request.destroy()
    }
    const fail = (code: KeyFetchError['code'], detail: string, cause?: unknown) =>
      failWith(new KeyFetchError(code, `${label}: ${detail}`, { cause }))
    const request = httpRequest({
      method: 'GET',
      host: target.address,
      port: target.port,
      path: `${url.pathname}${url.search}`,
      headers: {
        host: url.host,
        accept: 'application/json, application/jwk-set+json',
        'accept-encoding': 'identity',
        'user-agent': 'irsa-broker',
      },
      createConnection: (_options, created) => {
        try {
          return connect(target)
        } catch (error) {
          created(error instanceof Error ? error : new Error(String(error)), undefined as never)
          return undefined
        }
      },
      maxHeaderSize: FETCH_DEFAULTS.maxHeaderBytes,
    })
    expired.catch(failWith)
    request.on('error', (error) => fail('unreachable', `the request failed (${error.message})`, error))
    request.on('response', (response) => {
      const status = response.statusCode ?? 0
      if (status >= 300 && status < 400)
        return fail('redirect_refused', `answered ${status}; redirects are not followed`)
      if (status !== 200) return fail('http_status', `answered HTTP ${status}`)
      const type = (response.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
      if (!JSON_TYPES.has(type)) {
        return fail('content_type_refused', `content-type "${type.slice(0, 100)}" is not application/json`)
      }
      const declared = Number(response.headers['content-length'])
      if (Number.isFinite(declared) && declared > maxBytes)
        return fail('too_large', `the answer is larger than ${maxBytes} bytes`)
      const chunks: Buffer[] = []
      let size = 0
      response.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > maxBytes) fail('too_large', `the answer is larger than ${maxBytes} bytes`)
        else chunks.push(chunk)
      })
      response.on('error', (error) => fail('unreachable', `the answer broke off (${error.message})`, error))
      response.on('close', () => {
        if (!response.complete) fail('unreachable', 'the answer broke off')
      })
      response.on('end', () => {
        if (settled) return
        let document: unknown
        try {
          document = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)))
        } catch {
          return fail('not_json', 'the answer is not JSON')
        }
        settled = true
        resolve(document)
      })
    })
    request.end()
  })

/** Builds the JsonFetcher of remote key sets (see the module comment for its rules). */
export const createSafeJsonFetcher = (options: SafeFetchOptions): JsonFetcher => {
  const resolve = options.resolve ?? systemResolver
  const connect = options.connect ?? createSystemConnector()
  const maxBytes = options.maxBytes ?? FETCH_DEFAULTS.maxBytes
  return async (raw, call) => {
    const ownTimeoutMs = options.timeoutMs ?? FETCH_DEFAULTS.timeoutMs
    // A caller with a budget of its own (the request path) may only shorten the deadline.
    const timeoutMs = Math.max(1, Math.min(ownTimeoutMs, call?.timeoutMs ?? ownTimeoutMs))
    const url = parseUrl(raw, options.allowLoopback)
    let timer: NodeJS.Timeout | undefined
    // One deadline for DNS, connection, TLS and the whole answer.
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new KeyFetchError('timeout', `${describeUrl(url)}: no complete answer within ${timeoutMs} ms`),
          ),
        timeoutMs,
      )
    })
    expired.catch(() => undefined)
    try {
      const target = await Promise.race([checkedTarget(url, options, resolve), expired])
      return await Promise.race([get(url, target, connect, maxBytes, expired), expired])
    } finally {
      clearTimeout(timer)
    }
  }
}
