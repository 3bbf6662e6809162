// The broker's base URL as given by --endpoint: https anywhere, plain http only to loopback
// (a token must not cross a network in clear), and whether it is an AWS API Gateway host.
import { isIPv4 } from 'node:net'
import { UsageError } from './errors.js'

export interface Endpoint {
  /** Base URL without a trailing slash, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com`. */
  readonly base: string
  readonly url: URL
  /** The region of an `*.execute-api.<region>.amazonaws.com` host, else undefined. */
  readonly awsRegion: string | undefined
}

const EXECUTE_API_HOST = /^[a-z0-9]+\.execute-api\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?$/

export const isLoopbackHost = (hostname: string): boolean => {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (host === 'localhost' || host === '::1') return true
  return isIPv4(host) && host.startsWith('127.')
}

export const executeApiRegion = (hostname: string): string | undefined =>
  EXECUTE_API_HOST.exec(hostname.toLowerCase())?.[1]

/** `command` names the --help to read; left out, the command that runs is named. */
export const parseEndpoint = (value: string, command = ''): Endpoint => {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new UsageError(`--endpoint "${value}" is not a URL (e.g. https://broker.example.com)`, command)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new UsageError(`--endpoint must be an https:// URL, not ${url.protocol}`, command)
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    throw new UsageError(
      `--endpoint ${url.origin}: plain http is allowed only to loopback (127.0.0.1, ::1, localhost); use https`,
      command,
    )
  if (url.username || url.password)
    throw new UsageError('--endpoint must not carry a user name or password', command)
  if (url.search || url.hash)
    throw new UsageError('--endpoint is the base URL of the broker, without a query or fragment', command)
  return {
    base: `${url.origin}${url.pathname.replace(/\/+$/, '')}`,
    url,
    awsRegion: executeApiRegion(url.hostname),
  }
}
