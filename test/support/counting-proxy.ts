// A loopback HTTP proxy in front of a real service (moto_server's STS) that counts every
// request reaching it, so a test can prove how many calls a flow made to STS — zero for every
// refused token. It forwards bytes unchanged and logs nothing (request bodies hold tokens).
import { createServer, request, type Server } from 'node:http'

export interface CountingProxy {
  url: string
  port: number
  /** Requests forwarded so far. */
  count(): number
  /** The `Action` parameter of each request (STS's query protocol), in order. */
  actions(): string[]
  stop(): Promise<void>
}

const actionOf = (body: Buffer): string => new URLSearchParams(body.toString('utf8')).get('Action') ?? '?'

export const startCountingProxy = async (target: string): Promise<CountingProxy> => {
  const upstream = new URL(target)
  const actions: string[] = []
  const server: Server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = []
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
    incoming.on('end', () => {
      const body = Buffer.concat(chunks)
      actions.push(actionOf(body))
      const forwarded = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: incoming.method,
          path: incoming.url,
          headers: { ...incoming.headers, host: upstream.host },
        },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(outgoing)
        },
      )
      forwarded.on('error', () => {
        outgoing.writeHead(502)
        outgoing.end()
      })
      forwarded.end(body)
    })
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port))
  })
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    count: () => actions.length,
    actions: () => [...actions],
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
