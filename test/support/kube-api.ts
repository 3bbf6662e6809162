// A loopback stand-in for the part of the Kubernetes API the webhook reads (no API server can
// run on these machines): ServiceAccounts, over HTTPS with a bearer token, on the real wire
// format —
//   GET /api/v1/serviceaccounts?limit=N[&continue=T]           a ServiceAccountList page
//   GET /api/v1/serviceaccounts?watch=1&resourceVersion=RV…    JSON lines {"type","object"}:
//       ADDED / MODIFIED / DELETED after RV, BOOKMARK when asked, and an ERROR Status with
//       code 410 (reason Expired) when RV is older than the compacted history, as etcd's
//       compaction makes the real one answer; the stream ends after timeoutSeconds
//   GET /api/v1/namespaces/{ns}/serviceaccounts/{name}        the object, or a 404 Status
//   GET /openid/v1/jwks                                        the service-account signing keys
//       (application/jwk-set+json, as ServiceAccountIssuerDiscovery serves them), set by the test
// Every other request is a 404 Status, a missing or wrong token a 401 Status. The tests steer
// it: change objects, compact history, hold events or lists, delay GETs, drop watches, go down.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { Socket } from 'node:net'

export interface StandInRequest {
  path: string
  query: Record<string, string>
  kind: 'list' | 'watch' | 'get' | 'jwks' | 'other'
}

interface StoredEvent {
  rv: number
  type: 'ADDED' | 'MODIFIED' | 'DELETED'
  object: Record<string, unknown>
}

interface OpenWatch {
  after: number
  response: ServerResponse
  timer: NodeJS.Timeout
}

export interface KubeApiStandIn {
  url: string
  port: number
  readonly requests: readonly StandInRequest[]
  count(kind: StandInRequest['kind']): number
  /** Resource version of the last change. */
  readonly resourceVersion: number
  /** Creates or updates a ServiceAccount (ADDED or MODIFIED to every watch). */
  apply(namespace: string, name: string, annotations?: Record<string, string>): void
  remove(namespace: string, name: string): void
  /** Forgets the history up to now: a watch from an older resourceVersion gets 410. */
  compact(): void
  /** Sends a BOOKMARK with the current resourceVersion to every watch that asked for them. */
  bookmark(): void
  /** Events are recorded but not sent to watches until `releaseEvents`. */
  holdEvents(): void
  releaseEvents(): void
  /** List requests wait until the returned function is called. */
  holdLists(): () => void
  /** Delays answers to single GETs (the object is read when the GET arrives). */
  delayGets(ms: number): void
  /** Ends every watch stream abruptly (the connection is destroyed). */
  dropWatches(): void
  readonly openWatches: number
  /** The key set GET /openid/v1/jwks answers from now on (the cluster rotated its keys). */
  setJwks(jwks: { keys: unknown[] }): void
  /** Stops listening and drops every connection: the API is down (connection refused). */
  down(): Promise<void>
  /** Listens again on the same port. */
  up(): Promise<void>
  stop(): Promise<void>
}

const status = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  code,
})

export const startKubeApiStandIn = async (options: {
  cert: Buffer
  key: Buffer
  token: string
}): Promise<KubeApiStandIn> => {
  let rv = 1000
  let compactedBelow = 0
  const objects = new Map<string, Record<string, unknown>>()
  const history: StoredEvent[] = []
  const watches = new Set<OpenWatch>()
  const requests: StandInRequest[] = []
  const sockets = new Set<Socket>()
  const snapshots = new Map<string, Record<string, unknown>[]>()
  let holding = false
  let held: StoredEvent[] = []
  let listGate: Promise<void> | undefined
  let getDelayMs = 0
  let port = 0
  let jwks: { keys: unknown[] } = { keys: [] }

  const json = (response: ServerResponse, code: number, body: unknown) => {
    const text = JSON.stringify(body)
    response.writeHead(code, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    })
    response.end(text)
  }

  const send = (watch: OpenWatch, type: string, object: unknown) => {
    watch.response.write(`${JSON.stringify({ type, object })}\n`)
  }

  const deliver = (event: StoredEvent) => {
    for (const watch of watches) if (event.rv > watch.after) send(watch, event.type, event.object)
  }

  const record = (type: StoredEvent['type'], object: Record<string, unknown>) => {
    const event = { rv, type, object }
    history.push(event)
    if (holding) held.push(event)
    else deliver(event)
  }

  const handleList = async (query: Record<string, string>, response: ServerResponse) => {
    if (listGate) await listGate
    const limit = Number(query.limit ?? '0') || Number.MAX_SAFE_INTEGER
    let items: Record<string, unknown>[]
    let offset = 0
    let listRv = String(rv)
    if (query.continue) {
      const [id, start] = query.continue.split(':')
      const snapshot = snapshots.get(id ?? '')
      if (!snapshot)
        return json(
          response,
          410,
          status(
            410,
            'Expired',
            'The provided continue parameter is too old to display a consistent list result.',
          ),
        )
      items = snapshot
      offset = Number(start)
      listRv = id ?? ''
    } else {
      items = [...objects.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, object]) => object)
      snapshots.set(listRv, items)
    }
    const page = items.slice(offset, offset + limit)
    const next = offset + limit < items.length ? `${listRv}:${offset + limit}` : undefined
    json(response, 200, {
      kind: 'ServiceAccountList',
      apiVersion: 'v1',
      metadata: { resourceVersion: listRv, ...(next ? { continue: next } : {}) },
      items: page,
    })
  }

  const handleWatch = (query: Record<string, string>, response: ServerResponse) => {
    const after = Number(query.resourceVersion)
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })
    if (!Number.isInteger(after) || after < compactedBelow) {
      response.end(
        `${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${query.resourceVersion} (${compactedBelow})`) })}\n`,
      )
      return
    }
    const timeoutSeconds = Number(query.timeoutSeconds ?? '1800')
    const watch: OpenWatch = {
      after,
      response,
      timer: setTimeout(() => {
        watches.delete(watch)
        response.end()
      }, timeoutSeconds * 1000),
    }
    if (query.allowWatchBookmarks !== 'true') (watch as { bookmarks?: boolean }).bookmarks = false
    watches.add(watch)
    response.on('close', () => {
      clearTimeout(watch.timer)
      watches.delete(watch)
    })
    for (const event of history)
      if (event.rv > after && !held.includes(event)) send(watch, event.type, event.object)
  }

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'https://stand-in')
    const query = Object.fromEntries(url.searchParams)
    const path = url.pathname
    const one = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)$/.exec(path)
    const kind: StandInRequest['kind'] =
      path === '/api/v1/serviceaccounts'
        ? query.watch === '1' || query.watch === 'true'
          ? 'watch'
          : 'list'
        : one
          ? 'get'
          : path === '/openid/v1/jwks'
            ? 'jwks'
            : 'other'
    requests.push({ path, query, kind })
    if (request.headers.authorization !== `Bearer ${options.token}`)
      return json(response, 401, status(401, 'Unauthorized', 'Unauthorized'))
    if (request.method !== 'GET')
      return json(response, 405, status(405, 'MethodNotAllowed', 'method not allowed'))
    if (kind === 'list') return handleList(query, response)
    if (kind === 'watch') return handleWatch(query, response)
    if (kind === 'jwks') {
      const text = JSON.stringify(jwks)
      response.writeHead(200, {
        'content-type': 'application/jwk-set+json',
        'content-length': Buffer.byteLength(text),
      })
      return response.end(text)
    }
    if (kind === 'get' && one) {
      const namespace = decodeURIComponent(one[1] ?? '')
      const name = decodeURIComponent(one[2] ?? '')
      // Read when the request arrives, answered after the delay: a slow answer can be older
      // than a watch event sent meanwhile, as with a real API server.
      const object = objects.get(`${namespace}/${name}`)
      if (getDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, getDelayMs))
      if (!object) return json(response, 404, status(404, 'NotFound', `serviceaccounts "${name}" not found`))
      return json(response, 200, object)
    }
    json(response, 404, status(404, 'NotFound', 'the server could not find the requested resource'))
  }

  const server: Server = createServer({ cert: options.cert, key: options.key }, (request, response) => {
    handle(request, response).catch((error) =>
      json(response, 500, status(500, 'InternalError', String(error))),
    )
  })
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        const address = server.address()
        port = typeof address === 'object' && address ? address.port : port
        resolve()
      })
    })
  await listen()

  const dropAll = () => {
    for (const watch of watches) {
      clearTimeout(watch.timer)
      watch.response.socket?.destroy()
    }
    watches.clear()
  }

  const close = async () => {
    dropAll()
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const socket of sockets) socket.destroy()
    await closed
  }

  return {
    get url() {
      return `https://127.0.0.1:${port}`
    },
    get port() {
      return port
    },
    requests,
    count: (kind) => requests.filter((request) => request.kind === kind).length,
    get resourceVersion() {
      return rv
    },
    apply(namespace, name, annotations = {}) {
      const key = `${namespace}/${name}`
      const existing = objects.get(key)
      rv++
      const object = {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: {
          name,
          namespace,
          uid: `uid-${key}`,
          resourceVersion: String(rv),
          creationTimestamp: '2026-01-01T00:00:00Z',
          // What a kubectl apply leaves: the view must not keep it.
          annotations: {
            'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
              metadata: { name, namespace },
            }),
            ...annotations,
          },
        },
      }
      objects.set(key, object)
      record(existing ? 'MODIFIED' : 'ADDED', object)
    },
    remove(namespace, name) {
      const key = `${namespace}/${name}`
      const existing = objects.get(key)
      if (!existing) return
      objects.delete(key)
      rv++
      const metadata = { ...(existing.metadata as Record<string, unknown>), resourceVersion: String(rv) }
      record('DELETED', { ...existing, metadata })
    },
    compact() {
      compactedBelow = rv
      history.length = 0
      snapshots.clear()
    },
    bookmark() {
      for (const watch of watches)
        if ((watch as { bookmarks?: boolean }).bookmarks !== false)
          send(watch, 'BOOKMARK', {
            kind: 'ServiceAccount',
            apiVersion: 'v1',
            metadata: { resourceVersion: String(rv) },
          })
    },
    holdEvents() {
      holding = true
    },
    releaseEvents() {
      holding = false
      const events = held
      held = []
      for (const event of events) deliver(event)
    },
    holdLists() {
      let release: () => void = () => {}
      listGate = new Promise<void>((resolve) => {
        release = () => {
          listGate = undefined
          resolve()
        }
      })
      return release
    },
    delayGets(ms) {
      getDelayMs = ms
    },
    setJwks(next) {
      jwks = next
    },
    dropWatches: dropAll,
    get openWatches() {
      return watches.size
    },
    down: close,
    up: listen,
    stop: close,
  }
}

/** A kubeconfig file for the stand-in: its CA inline, the bearer token, one context. */
export const kubeconfigFor = (api: Pick<KubeApiStandIn, 'url'>, ca: Buffer, token: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'stand-in', cluster: { server: api.url, 'certificate-authority-data': ca.toString('base64') } },
    ],
    users: [{ name: 'webhook', user: { token } }],
    contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'webhook' } }],
    'current-context': 'stand-in',
  })
