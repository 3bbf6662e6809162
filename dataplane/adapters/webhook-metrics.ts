// The webhook's metric families (names in docs/decisions.md, "The webhook program") and the
// plain-HTTP server that exposes them on GET /metrics.
import { createServer, type Server } from 'node:http'
import { createMetricsRegistry, type MetricsRegistry } from './metrics.js'
import type { ViewMetrics } from './serviceaccount-view.js'

const PREFIX = 'irsa_broker_webhook'

/** Seconds: from a cache hit (well under a millisecond) to the API server's 5 s timeout. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

export const MUTATION_OUTCOMES = ['mutated', 'unchanged', 'not-selected', 'skipped'] as const
export const ROUTES = ['mutate', 'mutate_namespace', 'healthz', 'readyz', 'other'] as const
export type RouteLabel = (typeof ROUTES)[number]

export interface WebhookMetrics {
  registry: MetricsRegistry
  mutation(outcome: string, route: RouteLabel): void
  request(route: RouteLabel, code: number, seconds: number): void
  view: ViewMetrics
  tlsReload(result: 'ok' | 'failed', notAfter?: Date): void
  rulesReload(result: 'ok' | 'failed'): void
}

export const createWebhookMetrics = (sources: {
  ready: () => boolean
  cacheEntries: () => number
  rules: () => number
}): WebhookMetrics => {
  const registry = createMetricsRegistry()
  const mutations = registry.counter(
    `${PREFIX}_mutations_total`,
    'AdmissionReviews answered, by the outcome of the mutation and the path called.',
    ['outcome', 'route'],
    MUTATION_OUTCOMES.flatMap((outcome) =>
      (['mutate', 'mutate_namespace'] as const).map((route) => ({ outcome, route })),
    ),
  )
  const requests = registry.counter(
    `${PREFIX}_http_requests_total`,
    'HTTPS requests, by route and status code.',
    ['route', 'code'],
  )
  const latency = registry.histogram(
    `${PREFIX}_request_duration_seconds`,
    'Time from the request to the end of the answer, by route.',
    LATENCY_BUCKETS,
    ['route'],
  )
  const hits = registry.counter(
    `${PREFIX}_serviceaccount_cache_hits_total`,
    'ServiceAccount lookups answered by the watch-backed cache.',
  )
  const misses = registry.counter(
    `${PREFIX}_serviceaccount_cache_misses_total`,
    'ServiceAccount lookups not in the cache.',
  )
  const negativeHits = registry.counter(
    `${PREFIX}_serviceaccount_negative_cache_hits_total`,
    'Misses answered by a recent 404 or failed GET remembered for a few seconds.',
  )
  const gets = registry.counter(
    `${PREFIX}_serviceaccount_api_gets_total`,
    'Direct GETs of a ServiceAccount on a miss, by result (shed: too many waiting, not sent).',
    ['result'],
    ['found', 'not_found', 'error', 'shed'].map((result) => ({ result })),
  )
  const lists = registry.counter(
    `${PREFIX}_serviceaccount_lists_total`,
    'Full lists of ServiceAccounts (the first, and each relist after a 410 Gone), by result.',
    ['result'],
    ['ok', 'error'].map((result) => ({ result })),
  )
  const watchEnds = registry.counter(
    `${PREFIX}_serviceaccount_watch_ends_total`,
    'ServiceAccount watches that ended, by reason (closed: the server ended it; error: resumed from the last resourceVersion; gone: 410, relisted).',
    ['reason'],
    ['closed', 'error', 'gone'].map((reason) => ({ reason })),
  )
  registry.gauge(
    `${PREFIX}_serviceaccount_cache_entries`,
    'ServiceAccounts in the cache.',
    sources.cacheEntries,
  )
  registry.gauge(
    `${PREFIX}_ready`,
    '1 once the ServiceAccount view has synced and while not shutting down.',
    () => (sources.ready() ? 1 : 0),
  )
  const tlsReloads = registry.counter(
    `${PREFIX}_tls_reloads_total`,
    'Serving certificate reloads after the files changed, by result (failed: the last good pair kept).',
    ['result'],
    ['ok', 'failed'].map((result) => ({ result })),
  )
  const notAfter = registry.gauge(
    `${PREFIX}_tls_certificate_not_after_seconds`,
    'Expiry of the serving certificate in use (Unix seconds).',
  )
  const rulesReloads = registry.counter(
    `${PREFIX}_rules_reloads_total`,
    'Rules file reloads after it changed, by result (failed: the last good rules kept).',
    ['result'],
    ['ok', 'failed'].map((result) => ({ result })),
  )
  registry.gauge(`${PREFIX}_rules`, 'Rules in force.', sources.rules)
  const started = Date.now() / 1000
  registry.gauge('process_start_time_seconds', 'Start time of the process (Unix seconds).', () => started)
  registry.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () =>
    process.memoryUsage.rss(),
  )
  registry.gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.', () => process.memoryUsage().heapUsed)

  return {
    registry,
    mutation: (outcome, route) => mutations.inc({ outcome, route }),
    request: (route, code, seconds) => {
      requests.inc({ route, code: String(code) })
      latency.observe(seconds, { route })
    },
    view: {
      hit: () => hits.inc(),
      miss: () => misses.inc(),
      negativeHit: () => negativeHits.inc(),
      get: (result) => gets.inc({ result }),
      list: (result) => lists.inc({ result }),
      watchEnded: (reason) => watchEnds.inc({ reason }),
    },
    tlsReload: (result, expiry) => {
      tlsReloads.inc({ result })
      if (expiry) notAfter.set(Math.floor(expiry.getTime() / 1000))
    },
    rulesReload: (result) => rulesReloads.inc({ result }),
  }
}

/** GET /metrics in the text format; anything else 404. Plain HTTP: Prometheus scrapes the pod's port. */
export const createMetricsServer = (registry: MetricsRegistry): Server =>
  createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0]
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' })
        .end('method not allowed\n')
      return
    }
    const body = registry.render()
    response.writeHead(200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    })
    response.end(request.method === 'HEAD' ? undefined : body)
  })
