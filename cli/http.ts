// Talking to the broker: one request with a deadline, bounded retries where retrying is safe,
// and the one place where an HTTP outcome becomes a CLI error (and so an exit code).
import type { CliContext } from './context.js'
import type { Endpoint } from './endpoint.js'
import { BrokerRefusedError, BrokerUnavailableError } from './errors.js'

export interface OutgoingRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  url: URL
  headers: Record<string, string>
  body: string | undefined
}

/** Adds authentication headers (a bearer token, or a SigV4 signature over the whole request). */
export type Authorizer = (request: OutgoingRequest) => Promise<Record<string, string>>

export interface BrokerCall {
  method: OutgoingRequest['method']
  /** Path below the endpoint, e.g. `/v1/roles`. */
  path: string
  query?: Record<string, string | undefined>
  body?: unknown
  /** Only for requests that change nothing or may be repeated safely. */
  retry?: boolean
}

export interface BrokerAnswer {
  status: number
  headers: Headers
  body: unknown
}

export interface BrokerClient {
  call(request: BrokerCall): Promise<BrokerAnswer>
}

export const DEFAULT_TIMEOUT_SECONDS = 10
const MAX_ATTEMPTS = 3
const MAX_RETRY_AFTER_MS = 5000
const RETRYABLE_STATUS = new Set([429, 502, 503, 504])

const oneLine = (text: string, max = 400): string => {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max)}…` : flat
}

interface WireError {
  code: string
  message: string
  requestId: string | undefined
}

const wireError = (body: unknown): WireError | undefined => {
  if (typeof body !== 'object' || body === null) return undefined
  const error = (body as { error?: unknown }).error
  if (typeof error !== 'object' || error === null) return undefined
  const { code, message, requestId } = error as Record<string, unknown>
  if (typeof code !== 'string' || typeof message !== 'string') return undefined
  return { code, message, requestId: typeof requestId === 'string' ? requestId : undefined }
}

const parseBody = (text: string): unknown => {
  if (text === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

const causeCode = (error: unknown): string => {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause
  if (typeof cause?.code === 'string') return cause.code
  if (typeof cause?.message === 'string') return cause.message
  return error instanceof Error ? error.message : String(error)
}

/**
 * The admin API's messages speak to API callers (shared/core/admin.ts): they name the body's
 * "version" and the query's ?cascade=true. A CLI user gives flags, so the CLI says those instead.
 */
const CLI_WORDING: readonly (readonly [string, string])[] = [
  ['send its "version" to update it', 'give --if-version N (its version) to update it'],
  ['pass ?cascade=true', 'give --cascade'],
]

export const inCliWords = (message: string): string =>
  CLI_WORDING.reduce((text, [api, cli]) => text.split(api).join(cli), message)

/** Maps an answer that is not a success to the error the user sees. */
export const errorForAnswer = (origin: string, status: number, body: unknown): Error => {
  const wire = wireError(body)
  const detail = wire
    ? `${wire.code}: ${oneLine(inCliWords(wire.message))} (HTTP ${status}${wire.requestId ? `, request id ${wire.requestId}` : ''})`
    : `HTTP ${status}${typeof body === 'string' && body ? `: ${oneLine(body, 200)}` : ''}`
  if (status === 429 || status >= 500)
    return new BrokerUnavailableError(
      'Unavailable',
      `the broker at ${origin} is unavailable: ${detail}`,
      status,
    )
  return new BrokerRefusedError(
    wire?.code ?? `HTTP${status}`,
    status,
    `the broker refused: ${detail}`,
    wire?.requestId,
  )
}

const retryDelayMs = (attempt: number, retryAfter: string | null): number => {
  const seconds = retryAfter === null ? Number.NaN : Number(retryAfter)
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, MAX_RETRY_AFTER_MS)
  return 200 * 2 ** attempt
}

export const createBrokerClient = (
  context: Pick<CliContext, 'fetch' | 'sleep'>,
  options: { endpoint: Endpoint; timeoutSeconds: number; authorize: Authorizer },
): BrokerClient => {
  const { endpoint } = options
  const origin = endpoint.url.origin

  const once = async (request: BrokerCall): Promise<BrokerAnswer> => {
    const url = new URL(`${endpoint.base}${request.path}`)
    for (const [name, value] of Object.entries(request.query ?? {}))
      if (value !== undefined) url.searchParams.set(name, value)
    const body = request.body === undefined ? undefined : JSON.stringify(request.body)
    const outgoing: OutgoingRequest = {
      method: request.method,
      url,
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body,
    }
    const headers = { ...outgoing.headers, ...(await options.authorize(outgoing)) }
    let response: Response
    try {
      response = await context.fetch(url, {
        method: request.method,
        headers,
        ...(body === undefined ? {} : { body }),
        redirect: 'manual',
        signal: AbortSignal.timeout(options.timeoutSeconds * 1000),
      })
    } catch (error) {
      const name = (error as { name?: unknown }).name
      if (name === 'TimeoutError' || name === 'AbortError')
        throw new BrokerUnavailableError(
          'Timeout',
          `the broker at ${origin} did not answer within ${options.timeoutSeconds} s`,
        )
      throw new BrokerUnavailableError('Network', `cannot reach the broker at ${origin}: ${causeCode(error)}`)
    }
    let text: string
    try {
      text = await response.text()
    } catch (error) {
      throw new BrokerUnavailableError(
        'Network',
        `the answer of the broker at ${origin} broke off: ${causeCode(error)}`,
      )
    }
    return { status: response.status, headers: response.headers, body: parseBody(text) }
  }

  return {
    async call(request) {
      for (let attempt = 0; ; attempt++) {
        const last = !request.retry || attempt + 1 >= MAX_ATTEMPTS
        let answer: BrokerAnswer
        try {
          answer = await once(request)
        } catch (error) {
          if (last || !(error instanceof BrokerUnavailableError) || error.code !== 'Network') throw error
          await context.sleep(retryDelayMs(attempt, null))
          continue
        }
        if (answer.status >= 200 && answer.status < 300) {
          if (answer.status !== 204 && (typeof answer.body !== 'object' || answer.body === null))
            throw new BrokerUnavailableError(
              'UnexpectedAnswer',
              `the server at ${origin} answered HTTP ${answer.status} without a JSON body; is --endpoint the broker?`,
              answer.status,
            )
          return answer
        }
        if (!last && RETRYABLE_STATUS.has(answer.status)) {
          await context.sleep(retryDelayMs(attempt, answer.headers.get('retry-after')))
          continue
        }
        if (answer.status >= 300 && answer.status < 400)
          throw new BrokerUnavailableError(
            'UnexpectedAnswer',
            `the server at ${origin} answered with a redirect (HTTP ${answer.status}); is --endpoint the broker?`,
            answer.status,
          )
        throw errorForAnswer(origin, answer.status, answer.body)
      }
    },
  }
}

/** A bearer token for every request (the workload's JWT, or the local admin token). */
export const bearer =
  (token: string): Authorizer =>
  async () => ({ authorization: `Bearer ${token}` })

/**
 * GETs a list, following `nextToken` while the broker answers one (docs/api.md, "Admin routes": lists
 * are paged by `limit`/`nextToken`), and returns the items of every page.
 */
export const listAll = async (
  client: BrokerClient,
  path: string,
  field: string,
  options: { pageSize?: number | undefined; query?: Record<string, string | undefined> } = {},
): Promise<unknown[]> => {
  const items: unknown[] = []
  const seen = new Set<string>()
  const limit = options.pageSize?.toString()
  let nextToken: string | undefined
  do {
    const answer = await client.call({
      method: 'GET',
      path,
      query: { ...options.query, limit, nextToken },
      retry: true,
    })
    const body = answer.body as Record<string, unknown> | undefined
    const page = body?.[field]
    if (!Array.isArray(page))
      throw new BrokerUnavailableError(
        'UnexpectedAnswer',
        `the broker's answer to GET ${path} has no "${field}" list`,
      )
    items.push(...page)
    const next = body?.nextToken
    nextToken = typeof next === 'string' && next !== '' ? next : undefined
    // A broker that hands back a token it gave before would page forever.
    if (nextToken !== undefined && seen.has(nextToken))
      throw new BrokerUnavailableError(
        'UnexpectedAnswer',
        `the broker's answer to GET ${path} repeats a nextToken`,
      )
    if (nextToken !== undefined) seen.add(nextToken)
  } while (nextToken !== undefined)
  return items
}
