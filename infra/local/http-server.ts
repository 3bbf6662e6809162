// The local HTTP front: node:http in, API Gateway HTTP API (payload 2.0) events out, to the
// very same Lambda handlers. Like API Gateway it matches routes, caps headers (431) and
// bodies (413), and answers unknown routes itself.
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Context } from 'aws-lambda'
import { type FunctionName, ROUTES, type Route, routeKey } from '../../functions/routes.js'
import { statusOf } from '../../shared/core/errors.js'
import { MAX_TOKEN_BYTES } from '../../shared/core/verify.js'
import { type HttpEvent, MAX_BODY_BYTES } from '../../shared/http/event.js'
import type { HttpResponse } from '../../shared/http/response.js'

export type LambdaHttpHandler = (event: HttpEvent, context: Context) => Promise<HttpResponse>
export type FunctionTable = Record<FunctionName, LambdaHttpHandler>

export const MAX_HEADER_BYTES = 16 * 1024
/**
 * The workload token travels in `Authorization` and has its own limit (16 KiB, a 413 from the
 * core), so the parser leaves room for a token at its limit beside MAX_HEADER_BYTES of the rest.
 */
const PARSER_MAX_HEADER_BYTES = MAX_HEADER_BYTES + MAX_TOKEN_BYTES + 1024
const API_GATEWAY_TIMEOUT_MS = 29_000

interface CompiledRoute {
  route: Route
  segments: string[]
}

const compiled: CompiledRoute[] = ROUTES.map((route) => ({ route, segments: route.path.split('/') }))
/** Routes without path parameters, by method and path: the workload routes are found in one lookup. */
const literal = new Map(
  ROUTES.filter((route) => !route.path.includes('{')).map((route) => [routeKey(route), route]),
)

/** Finds the route for a method and path, with its path parameters (decoded like API Gateway). */
export const matchRoute = (
  method: string,
  path: string,
): { route: Route; pathParameters: Record<string, string> } | { allowed: Route['method'][] } => {
  const exact = literal.get(`${method} ${path}`)
  if (exact) return { route: exact, pathParameters: {} }
  const segments = path.split('/')
  const allowed: Route['method'][] = []
  for (const { route, segments: template } of compiled) {
    if (template.length !== segments.length) continue
    const pathParameters: Record<string, string> = {}
    const matches = template.every((part, index) => {
      const actual = segments[index] ?? ''
      if (part.startsWith('{') && part.endsWith('}')) {
        if (actual === '') return false
        try {
          pathParameters[part.slice(1, -1)] = decodeURIComponent(actual)
        } catch {
          return false
        }
        return true
      }
      return part === actual
    })
    if (!matches) continue
    if (route.method === method) return { route, pathParameters }
    allowed.push(route.method)
  }
  return { allowed }
}

/**
 * Request line and headers as the parser counts them, without the `Authorization` value. Node
 * reads the request line and headers as latin1, one character per byte: their lengths are bytes.
 */
const headerBytes = (req: IncomingMessage): number => {
  let size = (req.method ?? '').length + (req.url ?? '').length
  const raw = req.rawHeaders
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = raw[index] ?? ''
    size += name.length
    if (name.length !== 13 || name.toLowerCase() !== 'authorization') size += (raw[index + 1] ?? '').length
  }
  return size
}

const errorBody = (code: string, message: string, requestId: string) =>
  JSON.stringify({ error: { code, message, requestId } })

const send = (res: ServerResponse, statusCode: number, headers: Record<string, string>, body: string) => {
  if (res.headersSent) return
  res.writeHead(statusCode, { ...headers, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

const NO_BODY = Buffer.alloc(0)

const readBody = (req: IncomingMessage): Promise<Buffer | 'too-large'> | Buffer => {
  // HTTP/1.1: a request without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3),
  // as every GET from an SDK. Drained, not waited for.
  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
    req.resume()
    return NO_BODY
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let tooLarge = false
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) tooLarge = true
      else chunks.push(chunk)
    })
    req.on('end', () => resolve(tooLarge ? 'too-large' : Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

const toEvent = (
  req: IncomingMessage,
  url: URL,
  route: Route,
  pathParameters: Record<string, string>,
  body: Buffer,
  requestId: string,
): HttpEvent => {
  // Node's header names are lowercase already; only set-cookie comes as an array.
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value
  }
  const query: Record<string, string> = {}
  for (const [key, value] of url.searchParams) query[key] = key in query ? `${query[key]},${value}` : value
  const now = new Date()
  return {
    version: '2.0',
    routeKey: routeKey(route),
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
    ...(body.length > 0 ? { body: body.toString('utf8') } : {}),
    isBase64Encoded: false,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: 'local',
      http: {
        method: route.method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: routeKey(route),
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
  }
}

/**
 * The Lambda context of one local invocation. A class rather than an object of closures: one is
 * made per request, and its methods need not be made again each time.
 */
class LocalContext implements Context {
  readonly callbackWaitsForEmptyEventLoop = false
  readonly functionVersion = '$LATEST'
  readonly memoryLimitInMB = '512'
  readonly logStreamName = 'local'
  readonly functionName: string
  readonly invokedFunctionArn: string
  readonly logGroupName: string
  private readonly started = Date.now()

  constructor(
    name: FunctionName,
    readonly awsRequestId: string,
  ) {
    this.functionName = `irsa-broker-local-${name}`
    this.invokedFunctionArn = `arn:aws:lambda:local:000000000000:function:${this.functionName}`
    this.logGroupName = `/aws/lambda/${this.functionName}`
  }

  getRemainingTimeInMillis(): number {
    return Math.max(0, API_GATEWAY_TIMEOUT_MS - (Date.now() - this.started))
  }
  done(): void {}
  fail(): void {}
  succeed(): void {}
}

export const createLocalHttpServer = (functions: () => FunctionTable | undefined): Server => {
  const server = createServer({ maxHeaderSize: PARSER_MAX_HEADER_BYTES }, async (req, res) => {
    const requestId = randomUUID()
    const json = { 'content-type': 'application/json', 'x-request-id': requestId }
    try {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1')
      const match = matchRoute(req.method ?? 'GET', url.pathname)
      const body = await readBody(req)
      if (headerBytes(req) > MAX_HEADER_BYTES) {
        // The same bare answer the parser gives past its own cap (see clientError below).
        return send(res, 431, { connection: 'close' }, '')
      }
      if (!('route' in match)) {
        // A known path with another method: 405 with the methods it does serve (RFC 9110 §15.5.6).
        if (match.allowed.length > 0)
          return send(
            res,
            statusOf('MethodNotAllowed'),
            { ...json, allow: match.allowed.join(', ') },
            errorBody('MethodNotAllowed', `${req.method} is not served on this path.`, requestId),
          )
        return send(res, statusOf('NotFound'), json, errorBody('NotFound', 'No such route.', requestId))
      }
      if (body === 'too-large') {
        return send(
          res,
          413,
          json,
          errorBody('PayloadTooLarge', `request body is larger than ${MAX_BODY_BYTES} bytes.`, requestId),
        )
      }
      const table = functions()
      if (!table)
        return send(
          res,
          503,
          { ...json, 'retry-after': '1' },
          errorBody('ServiceUnavailable', 'Starting.', requestId),
        )
      const event = toEvent(req, url, match.route, match.pathParameters, body, requestId)
      const response = await table[match.route.function](
        event,
        new LocalContext(match.route.function, requestId),
      )
      send(res, response.statusCode, response.headers, typeof response.body === 'string' ? response.body : '')
    } catch {
      send(res, 500, json, errorBody('InternalError', 'Internal error.', requestId))
    }
  })
  // Idle keep-alive connections outlive clients' own pools (Node's 5 s default invites a race in
  // which a client reuses a connection the server is closing: ECONNRESET).
  server.keepAliveTimeout = 65_000
  server.headersTimeout = 66_000
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy()
    const status =
      error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
  })
  return server
}
