// A node:http server on 127.0.0.1 that the tests script request by request, and that counts
// the TCP connections it accepted (to prove that a refused fetch never reached it).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

export type Handler = (request: IncomingMessage, response: ServerResponse) => void

export interface LoopbackServer {
  url: string
  port: number
  /** TCP connections accepted so far. */
  readonly connections: number
  /** Requests received: method, path and the Host header. */
  readonly requests: { method: string; path: string; host: string | undefined }[]
  handle(handler: Handler): void
  stop(): Promise<void>
}

export const json =
  (body: unknown, contentType = 'application/json', status = 200): Handler =>
  (_request, response) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body)
    response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) })
    response.end(text)
  }

export const startLoopbackServer = async (initial: Handler = json({})): Promise<LoopbackServer> => {
  let handler = initial
  let connections = 0
  const sockets = new Set<Socket>()
  const requests: LoopbackServer['requests'] = []
  const server: Server = createServer((request, response) => {
    requests.push({ method: request.method ?? '', path: request.url ?? '', host: request.headers.host })
    handler(request, response)
  })
  server.on('connection', (socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get connections() {
      return connections
    },
    requests,
    handle: (next) => {
      handler = next
    },
    stop: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => done())
      }),
  }
}
