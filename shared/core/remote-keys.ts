// Keys of issuers registered by `jwksUri` or `discovery`: fetched through a JsonFetcher port
// (the SSRF-safe adapter in production), checked like inline keys, cached per issuer, and kept
// through endpoint outages for a bounded time. Implements the KeyResolver port for jose.
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import { UpstreamUnavailableError } from './errors.js'
import { checkJwks } from './jwks.js'
import type { Issuer } from './model.js'
import type { Clock, JsonFetcher, KeyResolver, Logger } from './ports.js'

/** Why a key set could not be fetched. `code` is stable; `message` is safe for an admin to read. */
export type KeyFetchCode =
  | 'url_invalid'
  | 'scheme_refused'
  | 'address_refused'
  | 'dns_failed'
  | 'unreachable'
  | 'timeout'
  | 'redirect_refused'
  | 'http_status'
  | 'content_type_refused'
  | 'too_large'
  | 'not_json'
  | 'discovery_invalid'
  | 'discovery_issuer_mismatch'
  | 'keys_rejected'

export class KeyFetchError extends Error {
  override readonly name = 'KeyFetchError'
  constructor(
    readonly code: KeyFetchCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
  }
}

export const isKeyFetchError = (value: unknown): value is KeyFetchError => value instanceof KeyFetchError

export const REMOTE_KEY_DEFAULTS = {
  /** A fetched key set is used without refetching for this long. */
  ttlSeconds: 600,
  /** At most one fetch per issuer in this window, whatever triggers it (unknown kid, TTL, failure). */
  cooldownSeconds: 30,
  /** How long the last good keys keep working while the endpoint fails. */
  maxStaleSeconds: 86_400,
  /** Issuers whose key sets are held at once; the oldest entry is dropped past it. */
  maxIssuers: 1000,
} as const

export interface RemoteKeyOptions {
  fetchJson: JsonFetcher
  clock: Clock
  logger: Logger
  ttlSeconds?: number
  cooldownSeconds?: number
  maxStaleSeconds?: number
  maxIssuers?: number
}

export interface KeySetStatus {
  issuerId: string
  source: 'inline' | 'jwksUri' | 'discovery'
  /** The JWKS URL the keys came from (for `discovery`, the document's `jwks_uri`). */
  jwksUri?: string
  /** `kid`s of the keys held, in key-set order; keys without a `kid` are counted in `keyCount`. */
  kids: string[]
  keyCount: number
  /** When the keys held were fetched (ISO 8601); absent for inline keys. */
  fetchedAt?: string
}

export interface RemoteKeyResolver {
  /** The KeyResolver port for issuers with `jwksUri` or `discovery`. */
  keysFor: KeyResolver
  /**
   * Fetches the issuer's keys now, ignoring TTL and cooldown (registration and the admin
   * refresh). Rejects with KeyFetchError; keys held before stay in use after a failure.
   */
  refresh(issuer: Issuer): Promise<KeySetStatus>
  /** Resolves once no fetch started in the background is still running (tests, bench). */
  settled(): Promise<void>
}

interface KeySet {
  jwksUri: string
  jwks: JSONWebKeySet
  getKey: JWTVerifyGetKey
  kids: ReadonlySet<string>
  fetchedAt: number
}

interface Entry {
  good?: KeySet
  /** When the last fetch started: the cooldown counts from here. */
  lastAttemptAt?: number
  /** The last fetch's failure, cleared by the next success. */
  lastFailure?: KeyFetchError
  pending?: Promise<KeySet>
}

export const DISCOVERY_PATH = '/.well-known/openid-configuration'

/** OpenID Connect Discovery §4: one terminating `/` of the issuer is removed before the path. */
export const discoveryUrlOf = (issuer: string): string => `${issuer.replace(/\/$/, '')}${DISCOVERY_PATH}`

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The same issuer registration (id, `iss`, key source, algorithms) maps to the same entry. */
const entryKey = (issuer: Issuer): string =>
  JSON.stringify([
    issuer.issuerId,
    issuer.issuer,
    issuer.jwksUri ?? null,
    issuer.discovery === true,
    issuer.algorithms,
  ])

const asKeyFetchError = (error: unknown): KeyFetchError =>
  isKeyFetchError(error)
    ? error
    : new KeyFetchError('unreachable', 'the key set could not be fetched', { cause: error })

/**
 * CloudWatch Embedded Metric Format fields: the warning line doubles as a metric, with the
 * line's own `issuerId` field as its dimension.
 */
const metricFields = (name: string, timestamp: number): Record<string, unknown> => ({
  _aws: {
    Timestamp: timestamp,
    CloudWatchMetrics: [
      { Namespace: 'irsa-broker', Dimensions: [['issuerId']], Metrics: [{ Name: name, Unit: 'Count' }] },
    ],
  },
  [name]: 1,
})

export const createRemoteKeyResolver = (options: RemoteKeyOptions): RemoteKeyResolver => {
  const ttlMs = (options.ttlSeconds ?? REMOTE_KEY_DEFAULTS.ttlSeconds) * 1000
  const cooldownMs = (options.cooldownSeconds ?? REMOTE_KEY_DEFAULTS.cooldownSeconds) * 1000
  const maxStaleMs = (options.maxStaleSeconds ?? REMOTE_KEY_DEFAULTS.maxStaleSeconds) * 1000
  const maxIssuers = options.maxIssuers ?? REMOTE_KEY_DEFAULTS.maxIssuers
  const { fetchJson, clock, logger } = options
  const entries = new Map<string, Entry>()
  const background = new Set<Promise<unknown>>()
  const now = () => clock.now().getTime()

  const entryFor = (issuer: Issuer): Entry => {
    const key = entryKey(issuer)
    let entry = entries.get(key)
    if (!entry) {
      entry = {}
      entries.set(key, entry)
      if (entries.size > maxIssuers) {
        const oldest = entries.keys().next().value
        if (oldest !== undefined) entries.delete(oldest)
      }
    }
    return entry
  }

  const jwksUriOf = async (issuer: Issuer): Promise<string> => {
    if (issuer.jwksUri !== undefined) return issuer.jwksUri
    const url = discoveryUrlOf(issuer.issuer)
    const document = await fetchJson(url)
    if (!isObject(document))
      throw new KeyFetchError('discovery_invalid', `${url}: the discovery document is not a JSON object`)
    if (document.issuer !== issuer.issuer) {
      // The registered issuer must be the one the document speaks for, byte for byte.
      const found = typeof document.issuer === 'string' ? `"${document.issuer.slice(0, 256)}"` : 'no issuer'
      throw new KeyFetchError(
        'discovery_issuer_mismatch',
        `${url}: the discovery document names ${found}, not the registered issuer "${issuer.issuer}"`,
      )
    }
    if (typeof document.jwks_uri !== 'string' || document.jwks_uri.length === 0)
      throw new KeyFetchError('discovery_invalid', `${url}: the discovery document has no "jwks_uri"`)
    return document.jwks_uri
  }

  const fetchKeySet = async (issuer: Issuer): Promise<KeySet> => {
    const jwksUri = await jwksUriOf(issuer)
    const checked = await checkJwks(await fetchJson(jwksUri), issuer.algorithms)
    if ('field' in checked) {
      throw new KeyFetchError('keys_rejected', `${jwksUri}: ${checked.field}: ${checked.message}`)
    }
    const kids = new Set<string>()
    for (const key of checked.jwks.keys) if (typeof key.kid === 'string') kids.add(key.kid)
    return {
      jwksUri,
      jwks: checked.jwks,
      getKey: createLocalJWKSet(checked.jwks),
      kids,
      fetchedAt: now(),
    }
  }

  const usable = (entry: Entry, at: number): KeySet | undefined => {
    if (entry.good && at - entry.good.fetchedAt > maxStaleMs) entry.good = undefined
    return entry.good
  }

  const reportFailure = (issuer: Issuer, entry: Entry, failure: KeyFetchError) => {
    const at = now()
    const held = usable(entry, at)
    const fields = {
      issuerId: issuer.issuerId,
      code: failure.code,
      detail: failure.message,
      ...(held
        ? {
            keysAgeSeconds: Math.round((at - held.fetchedAt) / 1000),
            staleUntil: new Date(held.fetchedAt + maxStaleMs).toISOString(),
            ...metricFields('RemoteJwksStaleKeysServed', at),
          }
        : metricFields('RemoteJwksUnavailable', at)),
    }
    logger.warn(
      held
        ? 'remote JWKS fetch failed; the last good keys stay in use'
        : 'remote JWKS fetch failed; no keys held for this issuer',
      fields,
    )
  }

  /** Starts a fetch, or joins the one running: concurrent callers share one request. */
  const fetchInto = (issuer: Issuer, entry: Entry): Promise<KeySet> => {
    if (entry.pending) return entry.pending
    entry.lastAttemptAt = now()
    const pending = fetchKeySet(issuer).then(
      (set) => {
        entry.good = set
        entry.lastFailure = undefined
        return set
      },
      (error: unknown) => {
        const failure = asKeyFetchError(error)
        entry.lastFailure = failure
        reportFailure(issuer, entry, failure)
        throw failure
      },
    )
    entry.pending = pending
    const done = pending.then(
      () => undefined,
      () => undefined,
    )
    background.add(done)
    void done.then(() => {
      if (entry.pending === pending) entry.pending = undefined
      background.delete(done)
    })
    return pending
  }

  const coolingDown = (entry: Entry, at: number): boolean =>
    entry.lastAttemptAt !== undefined && at - entry.lastAttemptAt < cooldownMs

  const unavailable = (entry: Entry, at: number) =>
    new UpstreamUnavailableError('jwks', {
      cause: entry.lastFailure,
      retryAfterSeconds: Math.max(1, Math.ceil(((entry.lastAttemptAt ?? at) + cooldownMs - at) / 1000)),
    })

  /** The keys to verify with: cached, refreshed in the background when old, fetched when missing. */
  const keySetFor = async (issuer: Issuer, entry: Entry, kid: unknown): Promise<KeySet> => {
    const at = now()
    let set = usable(entry, at)
    if (!set) {
      if (entry.pending || !coolingDown(entry, at))
        set = await fetchInto(issuer, entry).catch(() => undefined)
      if (!set) throw unavailable(entry, at)
      return set
    }
    const unknownKid = typeof kid === 'string' && !set.kids.has(kid)
    if (unknownKid && (entry.pending || !coolingDown(entry, at))) {
      // A kid the issuer may have rotated in since the last fetch: worth one fetch per cooldown.
      set = (await fetchInto(issuer, entry).catch(() => undefined)) ?? set
      if (!set.kids.has(kid) && entry.lastFailure) throw unavailable(entry, at)
      return set
    }
    if (unknownKid && entry.lastFailure) throw unavailable(entry, at)
    if (at - set.fetchedAt >= ttlMs && !coolingDown(entry, at)) {
      // Old but usable: answer with it now, refresh for the next caller.
      void fetchInto(issuer, entry).catch(() => undefined)
    }
    return set
  }

  const statusOf = (issuer: Issuer, set: KeySet): KeySetStatus => ({
    issuerId: issuer.issuerId,
    source: issuer.jwksUri !== undefined ? 'jwksUri' : 'discovery',
    jwksUri: set.jwksUri,
    kids: [...set.kids],
    keyCount: set.jwks.keys.length,
    fetchedAt: new Date(set.fetchedAt).toISOString(),
  })

  return {
    keysFor: (issuer) => {
      const entry = entryFor(issuer)
      return async (header, token) => (await keySetFor(issuer, entry, header.kid)).getKey(header, token)
    },
    async refresh(issuer) {
      const entry = entryFor(issuer)
      // A forced refresh does not join a fetch already running: it must see the endpoint now.
      while (entry.pending) await entry.pending.catch(() => undefined)
      return statusOf(issuer, await fetchInto(issuer, entry))
    },
    async settled() {
      while (background.size > 0) await Promise.all([...background])
    },
  }
}
