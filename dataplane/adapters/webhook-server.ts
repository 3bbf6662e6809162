// The webhook's HTTPS server: POST /mutate (ServiceAccount-annotated pods anywhere) and POST
// /mutate/namespace (pods of labelled namespaces), GET /healthz, GET /readyz. Request rules:
// POST with Content-Type application/json (415 otherwise), a bounded body (413), a malformed
// review 400, an answer within the request deadline (below the webhook's timeoutSeconds: 5).
// The serving certificate is replaced in place (setSecureContext) when its files rotate, and
// shutdown stops accepting, turns /readyz to 503, and drains what is in flight within a bound.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { AdmissionHandler } from './admission-handler.js'
import type { TlsPair } from './tls-files.js'
import { errorBody, WebhookRequestError } from './webhook-errors.js'
import type { RouteLabel } from './webhook-metrics.js'

/** A pod with many containers and a long env is a few hundred KB; 3 MiB is the API's request bound. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024
/** The answer is sent within this; the API server gives up at its timeoutSeconds (5 s). */
export const REQUEST_DEADLINE_MS = 4_000

export interface WebhookServerLog {
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

export interface WebhookServerOptions {
  tls: TlsPair
  handle: AdmissionHandler
  /** /readyz: true once the ServiceAccount view has synced. */
  ready: () => boolean
  log: WebhookServerLog
  request?: (route: RouteLabel, code: number, seconds: number) => void
  maxBodyBytes?: number
  deadlineMs?: number
}

export interface WebhookServer {
  server: Server
  listen(port: number, host?: string): Promise<number>
  /** Serves `pair` to new connections from now on. */
  setTls(pair: TlsPair): void
  readonly shuttingDown: boolean
  readonly inFlight: number
  /**
   * Fails /readyz at once and closes keep-alive connections after their next answer; after
   * `delayMs` (still serving, so the Service can drop this pod first) stops accepting, waits up
   * to `graceMs` for requests in flight, then closes every connection.
   */
  shutdown(options: { delayMs: number; graceMs: number }): Promise<{ drained: boolean }>
}

const ADMISSION_PATHS: Readonly<Record<string, { namespaceInjection: boolean; label: RouteLabel }>> = {
  '/mutate': { namespaceInjection: false, label: 'mutate' },
  '/mutate/namespace': { namespaceInjection: true, label: 'mutate_namespace' },
}

const isJson = (contentType: string | undefined) =>
  (contentType ?? '').split(';')[0]?.trim().toLowerCase() === 'application/json'

/** The body, or a PayloadTooLarge refusal as soon as it passes the bound. */
const readBody = (request: IncomingMessage, maxBytes: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'])
    if (declared > maxBytes) {
      reject(new WebhookRequestError('PayloadTooLarge', `the body is larger than ${maxBytes} bytes`))
      return
    }
    const chunks: Buffer[] = []
    let bytes = 0
    let refused = false
    request.on('data', (chunk: Buffer) => {
      if (refused) return
      bytes += chunk.length
      if (bytes > maxBytes) {
        refused = true
        chunks.length = 0
        reject(new WebhookRequestError('PayloadTooLarge', `the body is larger than ${maxBytes} bytes`))
        return
      }
      chunks.push(chunk)
    })
    request.on('end', () => {
      if (!refused) resolve(Buffer.concat(chunks).toString('utf8'))
    })
    request.on('error', reject)
  })

export const createWebhookServer = (options: WebhookServerOptions): WebhookServer => {
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES
  const deadlineMs = options.deadlineMs ?? REQUEST_DEADLINE_MS
  const { log } = options
  let shuttingDown = false
  let inFlight = 0
  let drained: (() => void) | undefined

  const send = (
    response: ServerResponse,
    status: number,
    body: string,
    contentType: string,
    extra: Record<string, string> = {},
  ) => {
    if (response.headersSent) return
    const headers: Record<string, string | number> = {
      'content-type': contentType,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...extra,
    }
    // While draining, keep-alive connections are closed after their answer.
    if (shuttingDown) headers.connection = 'close'
    response.writeHead(status, headers).end(body)
  }

  const refuse = (response: ServerResponse, error: WebhookRequestError, extra: Record<string, string> = {}) =>
    send(response, error.status, errorBody(error), 'application/json', extra)

  const admit = async (
    request: IncomingMessage,
    response: ServerResponse,
    route: { namespaceInjection: boolean; label: RouteLabel },
  ): Promise<number> => {
    const deadline = Date.now() + deadlineMs
    if (request.method !== 'POST') {
      refuse(response, new WebhookRequestError('MethodNotAllowed', 'use POST'), { allow: 'POST' })
      return 405
    }
    if (!isJson(request.headers['content-type'])) {
      refuse(
        response,
        new WebhookRequestError('UnsupportedMediaType', 'Content-Type must be application/json'),
      )
      return 415
    }
    try {
      const body = await readBody(request, maxBodyBytes)
      const answer = await options.handle(body, route, deadline)
      send(response, 200, answer, 'application/json')
      return 200
    } catch (error) {
      const refusal =
        error instanceof WebhookRequestError
          ? error
          : new WebhookRequestError('InternalError', 'unexpected failure')
      if (refusal.code === 'InternalError' && !(error instanceof WebhookRequestError))
        log.error('request failed', { route: route.label, error })
      else if (refusal.code !== 'InternalError')
        log.warn('request refused', { route: route.label, code: refusal.code, message: refusal.message })
      // A body refused half-read is not read further: close the connection after the answer.
      refuse(response, refusal, refusal.code === 'PayloadTooLarge' ? { connection: 'close' } : {})
      return refusal.status
    }
  }

  // requestTimeout is enforced by a sweep every connectionsCheckingInterval (30 s by default):
  // every second here, so a body that trickles in is cut off near the deadline.
  const server = createServer(
    { ...options.tls.options, connectionsCheckingInterval: 1_000 },
    (request, response) => {
      const started = performance.now()
      inFlight++
      const path = (request.url ?? '').split('?')[0] ?? ''
      const admission = ADMISSION_PATHS[path]
      const label: RouteLabel =
        admission?.label ??
        (path === '/healthz' || path === '/readyz' ? (path.slice(1) as RouteLabel) : 'other')
      const done = (code: number) => {
        options.request?.(label, code, (performance.now() - started) / 1000)
        inFlight--
        if (shuttingDown) {
          server.closeIdleConnections()
          if (inFlight === 0) drained?.()
        }
      }
      if (admission) {
        admit(request, response, admission).then(done, (error) => {
          log.error('request failed', { route: label, error })
          send(response, 500, errorBody(new WebhookRequestError('InternalError', '')), 'application/json')
          done(500)
        })
        return
      }
      let code: number
      if (path === '/healthz' || path === '/readyz') {
        if (request.method !== 'GET' && request.method !== 'HEAD') {
          refuse(response, new WebhookRequestError('MethodNotAllowed', 'use GET'), { allow: 'GET, HEAD' })
          code = 405
        } else if (path === '/healthz') {
          send(response, 200, 'ok\n', 'text/plain')
          code = 200
        } else {
          const reason = shuttingDown
            ? 'shutting down'
            : options.ready()
              ? undefined
              : 'ServiceAccounts not synced yet'
          code = reason ? 503 : 200
          send(response, code, reason ? `not ready: ${reason}\n` : 'ok\n', 'text/plain')
        }
      } else {
        refuse(response, new WebhookRequestError('NotFound', `no route ${path.slice(0, 100)}`))
        code = 404
      }
      done(code)
    },
  )
  // Whole request within the deadline's order of magnitude; idle keep-alive connections kept
  // longer than the API server's own idle timeout (90 s), so it, not we, closes them — a close
  // racing a new request would fail that admission.
  server.requestTimeout = deadlineMs + 1_000
  server.headersTimeout = deadlineMs + 1_000
  server.keepAliveTimeout = 120_000
  server.on('tlsClientError', (error) => {
    // Scanners and health checkers that close early are noise; the message is enough.
    log.warn('tls handshake failed', { error: (error as Error).message })
  })

  return {
    server,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => {
          server.off('error', reject)
          const address = server.address()
          resolve(typeof address === 'object' && address ? address.port : port)
        })
      }),
    setTls: (pair) => server.setSecureContext({ ...pair.options }),
    get shuttingDown() {
      return shuttingDown
    },
    get inFlight() {
      return inFlight
    },
    async shutdown({ delayMs, graceMs }) {
      shuttingDown = true
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      let ok = true
      if (inFlight > 0) {
        let timer: NodeJS.Timeout | undefined
        ok = await new Promise<boolean>((resolve) => {
          drained = () => resolve(true)
          timer = setTimeout(() => resolve(false), graceMs)
        })
        clearTimeout(timer)
      }
      server.closeAllConnections()
      await closed
      return { drained: ok }
    },
  }
}
