// Keys of issuers registered by `jwksUri` or `discovery`: fetched through a JsonFetcher port
// (the SSRF-safe adapter in production), checked like inline keys, cached per issuer, and kept
// through endpoint outages for a bounded time. Implements the KeyResolver port for jose.
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import { IdentityProviderUnavailableError } from './errors.js'
import { isObject } from './json.js'
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
  /** For the operator's log only, never in `message` (e.g. the address a host name resolved to). */
  readonly logDetail: string | undefined
  constructor(
    readonly code: KeyFetchCode,
    message: string,
    options?: { cause?: unknown; logDetail?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.logDetail = options?.logDetail
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
  /**
   * A fetch on the request path (discovery and JWKS together) ends within this budget, inside
   * the request deadline; registration and refresh keep the fetcher's own deadline per fetch.
   */
  requestFetchBudgetMs: 500,
} as const

export interface RemoteKeyOptions {
  fetchJson: JsonFetcher
  clock: Clock
  logger: Logger
  ttlSeconds?: number
  cooldownSeconds?: number
  maxStaleSeconds?: number
  maxIssuers?: number
  requestFetchBudgetMs?: number
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
  /** Resolves once no fetch is still running (tests, bench). */
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
  issuerId: string
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

/** A URL as messages and logs show it: no query or fragment, which may carry a signature or token. */
export const withoutQuery = (url: string): string => url.replace(/[?#][\s\S]*$/, '')

/**
 * One entry per stored version of a registration. Every admin PUT of an issuer bumps its
 * `version`, so each container starts that issuer from no keys as soon as its registry cache
 * holds the new version: a re-PUT is how a dropped key stops verifying everywhere (decisions.md).
 */
const entryKey = (issuer: Issuer): string =>
  JSON.stringify([
    issuer.issuerId,
    issuer.version,
    issuer.issuer,
    issuer.jwksUri ?? null,
    issuer.discovery === true,
    issuer.algorithms,
  ])

const asKeyFetchError = (error: unknown): KeyFetchError =>
  isKeyFetchError(error)
    ? error
    : new KeyFetchError('unreachable', 'the key set could not be fetched', { cause: error })

export const createRemoteKeyResolver = (options: RemoteKeyOptions): RemoteKeyResolver => {
  const ttlMs = (options.ttlSeconds ?? REMOTE_KEY_DEFAULTS.ttlSeconds) * 1000
  const cooldownMs = (options.cooldownSeconds ?? REMOTE_KEY_DEFAULTS.cooldownSeconds) * 1000
  const maxStaleMs = (options.maxStaleSeconds ?? REMOTE_KEY_DEFAULTS.maxStaleSeconds) * 1000
  const maxIssuers = options.maxIssuers ?? REMOTE_KEY_DEFAULTS.maxIssuers
  const requestFetchBudgetMs = options.requestFetchBudgetMs ?? REMOTE_KEY_DEFAULTS.requestFetchBudgetMs
  const { clock, logger } = options
  const entries = new Map<string, Entry>()
  /** The entry key of each issuer's latest registration seen here. */
  const latestKeys = new Map<string, string>()
  const running = new Set<Promise<unknown>>()
  const now = () => clock.now().getTime()

  const entryFor = (issuer: Issuer): Entry => {
    const key = entryKey(issuer)
    let entry = entries.get(key)
    if (!entry) {
      // A new registration of the issuer replaces the one before: its keys are not kept around.
      const previous = latestKeys.get(issuer.issuerId)
      if (previous !== undefined) entries.delete(previous)
      latestKeys.set(issuer.issuerId, key)
      entry = { issuerId: issuer.issuerId }
      entries.set(key, entry)
      if (entries.size > maxIssuers) {
        const [oldest, dropped] = entries.entries().next().value ?? []
        if (oldest !== undefined && dropped !== undefined) {
          entries.delete(oldest)
          if (latestKeys.get(dropped.issuerId) === oldest) latestKeys.delete(dropped.issuerId)
        }
      }
    }
    return entry
  }

  /** Fetches within `budgetMs` in all, when given (monotonic time: the clock may be a test's). */
  const budgetedFetcher = (budgetMs: number | undefined) => {
    if (budgetMs === undefined) return (url: string) => options.fetchJson(url)
    const endsAt = performance.now() + budgetMs
    return (url: string) =>
      options.fetchJson(url, { timeoutMs: Math.max(1, Math.round(endsAt - performance.now())) })
  }

  const jwksUriOf = async (issuer: Issuer, fetchJson: (url: string) => Promise<unknown>): Promise<string> => {
    if (issuer.jwksUri !== undefined) return issuer.jwksUri
    const url = discoveryUrlOf(issuer.issuer)
    const document = await fetchJson(url)
    const label = withoutQuery(url)
    if (!isObject(document))
      throw new KeyFetchError('discovery_invalid', `${label}: the discovery document is not a JSON object`)
    if (document.issuer !== issuer.issuer) {
      // The registered issuer must be the one the document speaks for, byte for byte.
      const found = typeof document.issuer === 'string' ? `"${document.issuer.slice(0, 256)}"` : 'no issuer'
      throw new KeyFetchError(
        'discovery_issuer_mismatch',
        `${label}: the discovery document names ${found}, not the registered issuer "${issuer.issuer}"`,
      )
    }
    if (typeof document.jwks_uri !== 'string' || document.jwks_uri.length === 0)
      throw new KeyFetchError('discovery_invalid', `${label}: the discovery document has no "jwks_uri"`)
    return document.jwks_uri
  }

  const fetchKeySet = async (issuer: Issuer, budgetMs: number | undefined): Promise<KeySet> => {
    const fetchJson = budgetedFetcher(budgetMs)
    const jwksUri = await jwksUriOf(issuer, fetchJson)
    const checked = await checkJwks(await fetchJson(jwksUri), issuer.algorithms)
    if ('field' in checked) {
      throw new KeyFetchError(
        'keys_rejected',
        `${withoutQuery(jwksUri)}: ${checked.field}: ${checked.message}`,
      )
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
      ...(failure.logDetail === undefined ? {} : { logDetail: failure.logDetail }),
      ...(held
        ? {
            keysAgeSeconds: Math.round((at - held.fetchedAt) / 1000),
            staleUntil: new Date(held.fetchedAt + maxStaleMs).toISOString(),
          }
        : {}),
    }
    logger.warn(
      held
        ? 'remote JWKS fetch failed; the last good keys stay in use'
        : 'remote JWKS fetch failed; no keys held for this issuer',
      fields,
    )
    logger.metric(held ? 'RemoteJwksStaleKeysServed' : 'RemoteJwksUnavailable', 1, {
      issuerId: issuer.issuerId,
    })
  }

  /** Starts a fetch, or joins the one running: concurrent callers share one request. */
  const fetchInto = (issuer: Issuer, entry: Entry, budgetMs?: number): Promise<KeySet> => {
    if (entry.pending) return entry.pending
    entry.lastAttemptAt = now()
    const pending = fetchKeySet(issuer, budgetMs).then(
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
    running.add(done)
    void done.then(() => {
      if (entry.pending === pending) entry.pending = undefined
      running.delete(done)
    })
    return pending
  }

  const coolingDown = (entry: Entry, at: number): boolean =>
    entry.lastAttemptAt !== undefined && at - entry.lastAttemptAt < cooldownMs

  const unavailable = (entry: Entry, at: number) =>
    new IdentityProviderUnavailableError('jwks', {
      cause: entry.lastFailure,
      retryAfterSeconds: Math.max(1, Math.ceil(((entry.lastAttemptAt ?? at) + cooldownMs - at) / 1000)),
    })

  /**
   * The keys to verify with: cached, and fetched on the request path when missing, past the TTL
   * or lacking the token's kid. Nothing is left running after the answer: in Lambda a fetch that
   * outlived its invocation would be frozen with the container and time out on thaw.
   */
  const keySetFor = async (issuer: Issuer, entry: Entry, kid: unknown): Promise<KeySet> => {
    const at = now()
    let set = usable(entry, at)
    if (!set) {
      if (entry.pending || !coolingDown(entry, at))
        set = await fetchInto(issuer, entry, requestFetchBudgetMs).catch(() => undefined)
      if (!set) throw unavailable(entry, at)
      return set
    }
    const unknownKid = typeof kid === 'string' && !set.kids.has(kid)
    if (unknownKid && (entry.pending || !coolingDown(entry, at))) {
      // A kid the issuer may have rotated in since the last fetch: worth one fetch per cooldown.
      set = (await fetchInto(issuer, entry, requestFetchBudgetMs).catch(() => undefined)) ?? set
      if (!set.kids.has(kid) && entry.lastFailure) throw unavailable(entry, at)
      return set
    }
    if (unknownKid && entry.lastFailure) throw unavailable(entry, at)
    if (at - set.fetchedAt >= ttlMs && !coolingDown(entry, at)) {
      // Old but usable: refetched before answering (within the fetch deadline), and a failed
      // fetch answers with the keys held, as an outage does.
      set = (await fetchInto(issuer, entry, requestFetchBudgetMs).catch(() => undefined)) ?? set
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
      while (running.size > 0) await Promise.all([...running])
    },
  }
}
