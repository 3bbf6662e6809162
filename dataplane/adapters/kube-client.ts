// A small Kubernetes API client over node:https: a JSON GET and a watch stream (one JSON
// object per line), with the connection's CA, client certificate and bearer token, on one
// keep-alive agent. All the webhook needs are list, watch and get of ServiceAccounts; why not
// @kubernetes/client-node: docs/decisions.md ("The webhook program").
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { KubeConnection } from './kube-config.js'

/** An answer that was not 2xx: the API's Status `reason` and `message` when it sent one. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError'
  readonly code = 'KubeApiError'
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message)
  }
}

/** No answer: refused, reset, timed out, or the body could not be read. */
export class KubeUnavailableError extends Error {
  override readonly name = 'KubeUnavailableError'
  readonly code = 'KubeUnavailable'
}

/** A GET answer bigger than this is refused (a ServiceAccount list page of 500 is far smaller). */
const MAX_BODY_BYTES = 32 * 1024 * 1024
/** A watch line bigger than this ends the watch (one ServiceAccount event is a few KB). */
const MAX_WATCH_LINE_BYTES = 4 * 1024 * 1024

export interface KubeClient {
  /** GET `path` (with its query); resolves to the parsed body of a 2xx; throws KubeApiError or KubeUnavailableError. */
  getJson(path: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<unknown>
  /**
   * GET `path` as a watch; calls `onEvent` with each parsed line until the server ends the
   * stream (resolves), the signal aborts (resolves), nothing arrives for `idleTimeoutMs`, the
   * connection fails (rejects KubeUnavailableError), or the answer is not 2xx (rejects KubeApiError).
   * An exception from `onEvent` ends the watch and rejects with it.
   */
  watch(
    path: string,
    onEvent: (event: unknown) => void,
    options: { idleTimeoutMs: number; signal: AbortSignal },
  ): Promise<void>
  /** Closes pooled connections. */
  close(): void
}

const statusError = (status: number, text: string): KubeApiError => {
  let reason = ''
  let message = `the Kubernetes API answered ${status}`
  try {
    const body = JSON.parse(text) as { reason?: unknown; message?: unknown }
    if (typeof body.reason === 'string') reason = body.reason
    if (typeof body.message === 'string') message = `${message}: ${body.message.slice(0, 300)}`
  } catch {
    // Not a Status object (a proxy's page): the code alone says enough.
  }
  return new KubeApiError(status, reason, message)
}

export const createKubeClient = (connection: KubeConnection): KubeClient => {
  const secure = connection.server.protocol === 'https:'
  const agent = secure
    ? new HttpsAgent({
        keepAlive: true,
        maxSockets: 8,
        ca: connection.ca,
        cert: connection.cert,
        key: connection.key,
        rejectUnauthorized: !connection.insecureSkipTlsVerify,
        ...(connection.servername ? { servername: connection.servername } : {}),
      })
    : new HttpAgent({ keepAlive: true, maxSockets: 8 })
  const send = secure ? httpsRequest : httpRequest
  const base = connection.server.href.replace(/\/$/, '')

  const headers = (): Record<string, string> => {
    const out: Record<string, string> = { accept: 'application/json', 'user-agent': 'irsa-broker-webhook' }
    const token = connection.token?.()
    if (token) out.authorization = `Bearer ${token}`
    else if (connection.basicAuth) out.authorization = `Basic ${connection.basicAuth}`
    return out
  }

  const open = (path: string, signal: AbortSignal | undefined): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      let outgoing: ReturnType<typeof send>
      try {
        outgoing = send(`${base}${path}`, { agent, method: 'GET', headers: headers(), signal })
      } catch (error) {
        reject(error)
        return
      }
      outgoing.on('response', resolve)
      outgoing.on('error', (error) => reject(new KubeUnavailableError(error.message, { cause: error })))
      outgoing.end()
    })

  const readAll = (response: IncomingMessage): Promise<string> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      let bytes = 0
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length
        if (bytes > MAX_BODY_BYTES) {
          response.destroy(new KubeUnavailableError(`answer larger than ${MAX_BODY_BYTES} bytes`))
          return
        }
        chunks.push(chunk)
      })
      response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
      response.on('error', (error) =>
        reject(error instanceof KubeUnavailableError ? error : new KubeUnavailableError(error.message)),
      )
      response.on('aborted', () => reject(new KubeUnavailableError('the answer was cut off')))
    })

  return {
    async getJson(path, { timeoutMs, signal }) {
      const timeout = AbortSignal.timeout(timeoutMs)
      const combined = signal ? AbortSignal.any([signal, timeout]) : timeout
      try {
        const response = await open(path, combined)
        const text = await readAll(response)
        const status = response.statusCode ?? 0
        if (status < 200 || status > 299) throw statusError(status, text)
        try {
          return JSON.parse(text) as unknown
        } catch {
          throw new KubeUnavailableError(`GET ${path.split('?')[0]}: the answer is not JSON`)
        }
      } catch (error) {
        if (combined.aborted && !(error instanceof KubeApiError))
          throw new KubeUnavailableError(
            timeout.aborted ? `GET ${path.split('?')[0]}: no answer in ${timeoutMs} ms` : 'aborted',
          )
        throw error
      }
    },

    async watch(path, onEvent, { idleTimeoutMs, signal }) {
      if (signal.aborted) return
      let response: IncomingMessage
      try {
        response = await open(path, signal)
      } catch (error) {
        if (signal.aborted) return
        throw error
      }
      const status = response.statusCode ?? 0
      if (status < 200 || status > 299) throw statusError(status, await readAll(response).catch(() => ''))
      await new Promise<void>((resolve, reject) => {
        let pending = ''
        let settled = false
        const finish = (error?: Error) => {
          if (settled) return
          settled = true
          response.socket?.setTimeout(0)
          if (error) {
            response.destroy()
            reject(error)
          } else resolve()
        }
        // A watch that goes silent (a half-open connection) is ended and made again; the API
        // sends a BOOKMARK about once a minute, so `idleTimeoutMs` should be well above that.
        response.socket?.setTimeout(idleTimeoutMs, () =>
          finish(new KubeUnavailableError(`watch: nothing received in ${idleTimeoutMs} ms`)),
        )
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          pending += chunk
          let newline = pending.indexOf('\n')
          while (newline !== -1) {
            const line = pending.slice(0, newline).trim()
            pending = pending.slice(newline + 1)
            if (line !== '') {
              let event: unknown
              try {
                event = JSON.parse(line)
              } catch {
                finish(new KubeUnavailableError('watch: a line that is not JSON'))
                return
              }
              try {
                onEvent(event)
              } catch (error) {
                finish(error as Error)
                return
              }
            }
            if (settled) return
            newline = pending.indexOf('\n')
          }
          if (pending.length > MAX_WATCH_LINE_BYTES)
            finish(new KubeUnavailableError(`watch: an event larger than ${MAX_WATCH_LINE_BYTES} bytes`))
        })
        response.on('end', () => finish())
        response.on('aborted', () =>
          signal.aborted ? finish() : finish(new KubeUnavailableError('watch: cut off')),
        )
        response.on('error', (error) =>
          signal.aborted ? finish() : finish(new KubeUnavailableError(`watch: ${error.message}`)),
        )
        response.on('close', () =>
          signal.aborted ? finish() : finish(new KubeUnavailableError('watch: closed')),
        )
      })
    },

    close: () => agent.destroy(),
  }
}
