// The one HTTP client of the bench: node:http with a keep-alive Agent. The latency loop, the
// load client and the admin calls all use it, so every scenario pays the same client cost.
import { Agent, request } from 'node:http'

export interface HttpAnswer {
  status: number
  body: string
}

export interface KeepAliveClient {
  send(method: string, url: string, headers?: Record<string, string>, body?: string): Promise<HttpAnswer>
  /** Closes the pooled connections, so the process can exit. */
  close(): void
}

/** The bench talks to loopback only; a typo in a URL must not send load anywhere else. */
const loopbackOnly = (url: string): URL => {
  const parsed = new URL(url)
  if (parsed.protocol !== 'http:' || parsed.hostname !== '127.0.0.1') {
    throw new Error(`bench traffic goes to http://127.0.0.1 only, not ${parsed.origin}`)
  }
  return parsed
}

export const createKeepAliveClient = (
  options: { connections: number; timeoutMs: number } = { connections: 1, timeoutMs: 10_000 },
): KeepAliveClient => {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: options.connections,
    maxFreeSockets: options.connections,
  })
  const send = (method: string, url: string, headers: Record<string, string> = {}, body?: string) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      const target = loopbackOnly(url)
      const outgoing = request(
        target,
        {
          agent,
          method,
          headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          )
          res.on('error', reject)
        },
      )
      // Without a bound, one stuck answer would hold a bench loop forever.
      outgoing.setTimeout(options.timeoutMs, () =>
        outgoing.destroy(new Error(`no answer in ${options.timeoutMs} ms`)),
      )
      outgoing.on('error', reject)
      outgoing.end(body)
    })
  return { send, close: () => agent.destroy() }
}
