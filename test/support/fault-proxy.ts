// A loopback HTTP proxy in front of a real service (moto_server's STS or KMS, dynalite) that
// injects faults on command: forward, hang (read the request, never answer, hold the
// connection), drop (close the connection without an answer), throttle (STS's Throttling
// error, HTTP 400), or forward and lose the answer. It listens on 127.0.0.1 and forwards only to
// the loopback target it was given. Every request is recorded with what was done to it; bodies
// stay in memory (STS bodies hold tokens) and are never logged.
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

export type Fault = 'forward' | 'hang' | 'drop' | 'throttle' | 'lose-answer'

export interface ProxiedRequest {
  /** The DynamoDB/KMS operation (`X-Amz-Target`), or STS's `Action`. */
  operation: string
  fault: Fault
  /** Whether the proxy sent an answer (or forwarded the service's answer) to the caller. */
  responded: boolean
  /** Whether the caller closed the connection before any answer (its own timeout or abort). */
  closedByCaller: boolean
}

/** Decides the fault for each request; `index` counts the requests seen, from 0. */
export type FaultRule = (request: { operation: string; body: string; index: number }) => Fault

export interface FaultProxy {
  url: string
  port: number
  /** Every request from now on gets `fault` (or what the rule decides). */
  inject(fault: Fault | FaultRule): void
  /** How many requests were seen so far: pass it as `since` to look at what came after. */
  mark(): number
  /** What was seen (and done) since the mark; bodies are left out, they may hold tokens. */
  requests(since?: number): ProxiedRequest[]
  /** Requests of `operation` (a substring of it) since the mark. */
  count(operation: string, since?: number): number
  /**
   * The bodies of the requests of `operation` since the mark (DynamoDB's JSON, to count reads).
   * `firstAttempts`: one per SDK call, its retries left out (the SDK's `amz-sdk-request` header).
   */
  bodies(operation: string, since?: number, options?: { firstAttempts?: boolean }): string[]
  stop(): Promise<void>
}

/** STS's answer when it throttles (query protocol, HTTP 400). */
export const STS_THROTTLING_XML = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>
  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
</ErrorResponse>`

const operationOf = (incoming: IncomingMessage, body: string): string => {
  const target = incoming.headers['x-amz-target']
  if (typeof target === 'string') return target
  return new URLSearchParams(body).get('Action') ?? '?'
}

const readBody = (incoming: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
    incoming.on('end', () => resolve(Buffer.concat(chunks)))
    incoming.on('error', reject)
  })

export const startFaultProxy = async (target: string): Promise<FaultProxy> => {
  const upstream = new URL(target)
  if (upstream.hostname !== '127.0.0.1')
    throw new Error(`the fault proxy forwards to 127.0.0.1 only, not ${target}`)
  let rule: FaultRule = () => 'forward'
  const seen: (ProxiedRequest & { body: string; retry: boolean })[] = []
  const sockets = new Set<Socket>()

  const forward = (
    incoming: IncomingMessage,
    outgoing: ServerResponse,
    body: Buffer,
    record: ProxiedRequest,
    loseAnswer: boolean,
  ) => {
    const forwarded = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, host: upstream.host },
      },
      (answer) => {
        if (loseAnswer) {
          // The service did the work; the caller never hears of it.
          answer.resume()
          answer.on('end', () => outgoing.socket?.destroy())
          return
        }
        record.responded = true
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(outgoing)
      },
    )
    forwarded.on('error', () => outgoing.socket?.destroy())
    forwarded.end(body)
  }

  const server: Server = createServer(async (incoming, outgoing) => {
    const raw = await readBody(incoming)
    const body = raw.toString('utf8')
    const operation = operationOf(incoming, body)
    const fault = rule({ operation, body, index: seen.length })
    // `attempt=2; max=3` on the SDK's retries of one call; absent for other callers.
    const retry = /attempt=(\d+)/.exec(String(incoming.headers['amz-sdk-request'] ?? ''))?.[1] ?? '1'
    const record = { operation, body, fault, responded: false, closedByCaller: false, retry: retry !== '1' }
    seen.push(record)
    outgoing.on('close', () => {
      if (fault === 'hang' && !record.responded) record.closedByCaller = true
    })
    switch (fault) {
      case 'forward':
      case 'lose-answer':
        return forward(incoming, outgoing, raw, record, fault === 'lose-answer')
      case 'hang':
        return // Read, never answered: the connection stays open until the caller gives up.
      case 'drop':
        outgoing.socket?.destroy()
        return
      case 'throttle':
        record.responded = true
        outgoing.writeHead(400, {
          'content-type': 'text/xml',
          'content-length': Buffer.byteLength(STS_THROTTLING_XML),
        })
        outgoing.end(STS_THROTTLING_XML)
        return
    }
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port))
  })
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    inject: (fault) => {
      rule = typeof fault === 'function' ? fault : () => fault
    },
    mark: () => seen.length,
    requests: (since = 0) =>
      seen.slice(since).map(({ operation, fault, responded, closedByCaller }) => ({
        operation,
        fault,
        responded,
        closedByCaller,
      })),
    count: (operation, since = 0) =>
      seen.slice(since).filter((entry) => entry.operation.includes(operation)).length,
    bodies: (operation, since = 0, options = {}) =>
      seen
        .slice(since)
        .filter((entry) => entry.operation.includes(operation) && !(options.firstAttempts && entry.retry))
        .map((entry) => entry.body),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
