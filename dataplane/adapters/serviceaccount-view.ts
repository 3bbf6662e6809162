// The webhook's view of the cluster's ServiceAccounts: a watch-backed cache (list, then watch
// from the list's resourceVersion, reconnecting from the last one seen, relisting on 410 Gone)
// with a direct GET on a miss. The cache is bounded (least recently used entries beyond the
// bound are dropped and cost a GET when next asked for); concurrent misses for one
// ServiceAccount share one GET; GETs run a few at a time with a bounded queue; a 404 is
// remembered for a few seconds, a failed GET for one. `ready` once the first list is in.
// Semantics and what happens when the API is down: docs/decisions.md ("The webhook program").
import { createBoundedLru } from '../../shared/core/bounded-lru.js'
import type { ServiceAccountApi, ServiceAccountRecord, WatchEvent } from './serviceaccount-api.js'

export type ServiceAccountLookup =
  | { status: 'found'; annotations: Readonly<Record<string, string>>; source: 'cache' | 'api' }
  | { status: 'not-found' }
  /** The API could not answer in time (down, slow, or too many GETs queued): `detail` says which. */
  | { status: 'unavailable'; detail: string }

export type GetResult = 'found' | 'not_found' | 'error' | 'shed'
export type WatchEnd = 'closed' | 'error' | 'gone'

/** What the view counts; the webhook's metrics implement it. */
export interface ViewMetrics {
  hit(): void
  miss(): void
  negativeHit(): void
  get(result: GetResult): void
  list(result: 'ok' | 'error'): void
  watchEnded(reason: WatchEnd): void
}

export interface ViewLog {
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
}

export interface ServiceAccountView {
  lookup(namespace: string, name: string, options: { timeoutMs: number }): Promise<ServiceAccountLookup>
  readonly ready: boolean
  /** Entries in the cache now. */
  readonly size: number
  /** Resolves once the first list is in (never rejects; the view retries until stopped). */
  whenReady(): Promise<void>
  start(): void
  /** Ends the watch and any retry; lookups still answer from the cache and GET. */
  stop(): void
}

export interface ServiceAccountViewOptions {
  api: ServiceAccountApi
  metrics?: ViewMetrics | undefined
  log?: ViewLog | undefined
  /** Cache bound (entries); default 100,000. */
  maxEntries?: number
  /** Items per list page; default 500 (the API's own default chunk). */
  pageSize?: number
  /** GETs at once; default 4. */
  maxConcurrentGets?: number
  /** GETs waiting for a turn beyond which a miss is answered `unavailable` at once; default 100. */
  maxQueuedGets?: number
  /** How long one GET may take; default 2,000 ms. */
  getTimeoutMs?: number
  /** How long a 404 is remembered; default 5,000 ms. */
  notFoundTtlMs?: number
  /** How long a failed GET is remembered; default 1,000 ms. */
  failureTtlMs?: number
  /** The server ends a watch after this (client-go: 5 to 10 min, at random); default 300–600 s. */
  watchTimeoutSeconds?: () => number
  /** Backoff after a failed list or watch: first and last delay; default 500 ms doubling to 30 s. */
  backoff?: { initialMs: number; maxMs: number }
  now?: () => number
}

const silentMetrics: ViewMetrics = {
  hit: () => {},
  miss: () => {},
  negativeHit: () => {},
  get: () => {},
  list: () => {},
  watchEnded: () => {},
}
const silentLog: ViewLog = { info: () => {}, warn: () => {} }

/** Rough bytes an entry holds: the key, its annotations, and the Map's own overhead. */
const entryBytes = (key: string, annotations: Readonly<Record<string, string>>): number => {
  let bytes = 64 + key.length * 2
  for (const name in annotations) bytes += 32 + (name.length + (annotations[name]?.length ?? 0)) * 2
  return bytes
}

interface Entry {
  annotations: Readonly<Record<string, string>>
  bytes: number
}

interface NegativeEntry {
  lookup: ServiceAccountLookup
  until: number
  bytes: number
}

interface PendingGet {
  promise: Promise<ServiceAccountLookup>
  /** A watch event for the key arrived while the GET ran: the event's state is the newer. */
  superseded: boolean
}

class GoneError extends Error {
  override readonly name = 'GoneError'
  readonly code = 'ResourceVersionGone'
}

const errorText = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).slice(0, 300)

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`

export const createServiceAccountView = (options: ServiceAccountViewOptions): ServiceAccountView => {
  const api = options.api
  const metrics = options.metrics ?? silentMetrics
  const log = options.log ?? silentLog
  const now = options.now ?? Date.now
  const maxEntries = options.maxEntries ?? 100_000
  const pageSize = options.pageSize ?? 500
  const maxConcurrentGets = options.maxConcurrentGets ?? 4
  const maxQueuedGets = options.maxQueuedGets ?? 100
  const getTimeoutMs = options.getTimeoutMs ?? 2_000
  const notFoundTtlMs = options.notFoundTtlMs ?? 5_000
  const failureTtlMs = options.failureTtlMs ?? 1_000
  const watchTimeoutSeconds = options.watchTimeoutSeconds ?? (() => 300 + Math.floor(Math.random() * 300))
  const backoff = options.backoff ?? { initialMs: 500, maxMs: 30_000 }

  // Bytes are bounded by the entry count here (an entry is small: annotations are cut to ours).
  const store = createBoundedLru<Entry>({ maxEntries, maxBytes: Number.MAX_SAFE_INTEGER })
  const negative = createBoundedLru<NegativeEntry>({ maxEntries: 10_000, maxBytes: Number.MAX_SAFE_INTEGER })
  const pending = new Map<string, PendingGet>()

  let ready = false
  let readyWaiters: (() => void)[] = []
  let running = false
  let controller = new AbortController()

  const put = (record: ServiceAccountRecord) => {
    const key = keyOf(record.namespace, record.name)
    store.set(key, { annotations: record.annotations, bytes: entryBytes(key, record.annotations) })
  }

  const applyEvent = (event: WatchEvent): string | undefined => {
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED': {
        const key = keyOf(event.object.namespace, event.object.name)
        if (event.type === 'DELETED') store.delete(key)
        else put(event.object)
        negative.delete(key)
        const inflight = pending.get(key)
        if (inflight) inflight.superseded = true
        return event.object.resourceVersion || undefined
      }
      case 'BOOKMARK':
        return event.resourceVersion
      case 'ERROR':
        if (event.code === 410) throw new GoneError(event.message || 'resourceVersion too old')
        throw new Error(`watch ERROR ${event.code} ${event.reason}: ${event.message}`)
    }
  }

  // ── GETs: a few at a time, a bounded queue ─────────────────────────────────────────────
  let activeGets = 0
  const queue: (() => void)[] = []
  const turn = (): Promise<void> | undefined => {
    if (activeGets < maxConcurrentGets) {
      activeGets++
      return Promise.resolve()
    }
    if (queue.length >= maxQueuedGets) return undefined
    return new Promise((resolve) => queue.push(resolve))
  }
  const release = () => {
    const next = queue.shift()
    if (next) next()
    else activeGets--
  }

  const remember = (key: string, lookup: ServiceAccountLookup, ttlMs: number) =>
    negative.set(key, { lookup, until: now() + ttlMs, bytes: 1 })

  const fetchOne = async (namespace: string, name: string, key: string, entry: PendingGet) => {
    const granted = turn()
    if (!granted) {
      metrics.get('shed')
      return { status: 'unavailable', detail: 'too many ServiceAccount lookups waiting for the API' } as const
    }
    await granted
    try {
      const record = await api.get(namespace, name, { timeoutMs: getTimeoutMs })
      if (entry.superseded) {
        // The watch has told us about this ServiceAccount since the GET began: its word is newer.
        const cached = store.get(key)
        metrics.get(record ? 'found' : 'not_found')
        return cached
          ? ({ status: 'found', annotations: cached.annotations, source: 'cache' } as const)
          : ({ status: 'not-found' } as const)
      }
      if (!record) {
        metrics.get('not_found')
        const lookup = { status: 'not-found' } as const
        remember(key, lookup, notFoundTtlMs)
        return lookup
      }
      metrics.get('found')
      put(record)
      return { status: 'found', annotations: record.annotations, source: 'api' } as const
    } catch (error) {
      metrics.get('error')
      const lookup = { status: 'unavailable', detail: errorText(error) } as const
      remember(key, lookup, failureTtlMs)
      return lookup
    } finally {
      release()
    }
  }

  const withTimeout = (
    promise: Promise<ServiceAccountLookup>,
    timeoutMs: number,
  ): Promise<ServiceAccountLookup> => {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<ServiceAccountLookup>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({ status: 'unavailable', detail: `no answer from the Kubernetes API in ${timeoutMs} ms` }),
        Math.max(0, timeoutMs),
      )
    })
    return Promise.race([promise, late]).finally(() => clearTimeout(timer))
  }

  const lookup: ServiceAccountView['lookup'] = (namespace, name, { timeoutMs }) => {
    const key = keyOf(namespace, name)
    const cached = store.get(key)
    if (cached) {
      metrics.hit()
      return Promise.resolve({ status: 'found', annotations: cached.annotations, source: 'cache' })
    }
    metrics.miss()
    const remembered = negative.get(key)
    if (remembered) {
      if (remembered.until > now()) {
        metrics.negativeHit()
        return Promise.resolve(remembered.lookup)
      }
      negative.delete(key)
    }
    let entry = pending.get(key)
    if (!entry) {
      const created: PendingGet = { promise: Promise.resolve({ status: 'not-found' }), superseded: false }
      created.promise = fetchOne(namespace, name, key, created).finally(() => pending.delete(key))
      pending.set(key, created)
      entry = created
    }
    return withTimeout(entry.promise, timeoutMs)
  }

  // ── list and watch ──────────────────────────────────────────────────────────────────────
  const sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve()
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
      signal.addEventListener('abort', done)
    })

  const jitter = (ms: number) => Math.round(ms * (0.8 + Math.random() * 0.4))

  /** Every page, then the whole set replaces the cache at once (no request sees half a list). */
  const listAll = async (signal: AbortSignal): Promise<string> => {
    const items: ServiceAccountRecord[] = []
    let continueToken: string | undefined
    let resourceVersion = ''
    do {
      const page = await api.list({ continueToken, limit: pageSize, signal })
      items.push(...page.items)
      continueToken = page.continueToken
      // The first page's resourceVersion is the list's; later pages repeat it.
      if (resourceVersion === '') resourceVersion = page.resourceVersion
    } while (continueToken !== undefined && !signal.aborted)
    store.clear()
    for (const item of items) put(item)
    negative.clear()
    for (const entry of pending.values()) entry.superseded = true
    return resourceVersion
  }

  const markReady = () => {
    if (ready) return
    ready = true
    for (const waiter of readyWaiters) waiter()
    readyWaiters = []
  }

  const isGone = (error: unknown) =>
    error instanceof GoneError ||
    (typeof error === 'object' && error !== null && (error as { status?: unknown }).status === 410)

  const loop = async (signal: AbortSignal) => {
    let delay = backoff.initialMs
    while (!signal.aborted) {
      let resourceVersion: string
      try {
        resourceVersion = await listAll(signal)
        if (signal.aborted) return
        metrics.list('ok')
        log.info('serviceaccounts listed', { count: store.size, resourceVersion })
        markReady()
        delay = backoff.initialMs
      } catch (error) {
        if (signal.aborted) return
        metrics.list('error')
        log.warn('serviceaccount list failed; retrying', { error: errorText(error), retryInMs: delay })
        await sleep(jitter(delay), signal)
        delay = Math.min(delay * 2, backoff.maxMs)
        continue
      }
      // Watch from the list, then from the last resourceVersion seen, until a 410 asks for a relist.
      while (!signal.aborted) {
        try {
          await api.watch({ resourceVersion, timeoutSeconds: watchTimeoutSeconds(), signal }, (event) => {
            const next = applyEvent(event)
            if (next) resourceVersion = next
            delay = backoff.initialMs
          })
          if (signal.aborted) return
          metrics.watchEnded('closed')
        } catch (error) {
          if (signal.aborted) return
          if (isGone(error)) {
            metrics.watchEnded('gone')
            log.info('serviceaccount watch expired (410); relisting', { resourceVersion })
            break
          }
          metrics.watchEnded('error')
          log.warn('serviceaccount watch failed; resuming', {
            error: errorText(error),
            resourceVersion,
            retryInMs: delay,
          })
          await sleep(jitter(delay), signal)
          delay = Math.min(delay * 2, backoff.maxMs)
        }
      }
    }
  }

  return {
    lookup,
    get ready() {
      return ready
    },
    get size() {
      return store.size
    },
    whenReady: () => (ready ? Promise.resolve() : new Promise<void>((resolve) => readyWaiters.push(resolve))),
    start() {
      if (running) return
      running = true
      controller = new AbortController()
      void loop(controller.signal).finally(() => {
        running = false
      })
    },
    stop() {
      controller.abort()
    },
  }
}
