// Vended STS credentials kept in memory and shared by every request that would have made the
// same AssumeRoleWithWebIdentity call: concurrent misses for one key wait for one call
// (singleflight), and an entry is served only while at least the refresh margin of its life
// remains. Bounded by entries and approximate bytes, least recently used first out.

import { createHash } from 'node:crypto'
import { createBoundedLru } from './bounded-lru.js'
import type { AwsCredentials, IssuerMode } from './model.js'
import type { Clock } from './ports.js'
import type { SessionTags } from './session.js'

/** Never less than this: SDKs refresh 5–15 minutes before expiry, so no answer may hold less. */
export const MIN_REFRESH_MARGIN_SECONDS = 900
export const DEFAULT_REFRESH_MARGIN_SECONDS = 1200

export interface CredentialCacheOptions {
  clock: Clock
  /** An entry is served only while at least this many seconds of its life remain. */
  refreshMarginSeconds: number
  /** Most entries kept; 0 turns the cache (and the sharing of calls) off. */
  maxEntries: number
  /** Most bytes kept, approximately (keys and credential strings). */
  maxBytes: number
}

/**
 * Everything that shapes the STS request, and so the credentials it answers with. Two requests
 * with equal shapes would make the same call, so they may share its answer.
 */
export interface StsRequestShape {
  mode: IssuerMode
  /** The broker's own `iss` (broker mode: the token STS receives names it). */
  brokerIssuerUrl: string
  issuerId: string
  /** The workload token's `sub` (broker mode: the broker token's `sub` is `issuerId:sub`). */
  subject: string
  roleArn: string
  sessionName: string
  durationSeconds: number
  sessionTags: SessionTags
  sourceIdentity?: string | undefined
  /**
   * Passthrough only: the SHA-256 of the workload token itself, which is what STS receives.
   * STS judges that token's own claims against the role's trust policy, so credentials are
   * shared only between requests presenting the very same token.
   */
  webIdentityTokenSha256?: string | undefined
}

export const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex')

const sortedEntries = (record: Readonly<Record<string, string>>): [string, string][] =>
  Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

/** A fixed-order, unambiguous serialization (JSON of an array), hashed to bound the key size. */
export const credentialCacheKey = (shape: StsRequestShape): string =>
  sha256Hex(
    JSON.stringify([
      'v1',
      shape.mode,
      shape.brokerIssuerUrl,
      shape.issuerId,
      shape.subject,
      shape.roleArn,
      shape.sessionName,
      shape.durationSeconds,
      sortedEntries(shape.sessionTags.principalTags),
      [...shape.sessionTags.transitiveTagKeys].sort(),
      shape.sourceIdentity ?? null,
      shape.mode === 'passthrough' ? (shape.webIdentityTokenSha256 ?? null) : null,
    ]),
  )

/** `sts`: this request made the call; `cache`: an entry; `shared`: another request's call in flight. */
export type CredentialSource = 'sts' | 'cache' | 'shared'

export interface ObtainedCredentials {
  credentials: AwsCredentials
  source: CredentialSource
}

export interface CredentialCache {
  /** Credentials for `key`: from the cache, from a call in flight, or from `issue` (run once). */
  obtain(key: string, issue: () => Promise<AwsCredentials>): Promise<ObtainedCredentials>
  /** Forgets every entry, and lets no call already in flight fill one; after an admin write. */
  invalidate(): void
  /** Entries held now. */
  readonly size: number
  /** Their approximate size. */
  readonly bytes: number
  /** Callers waiting on an STS call in flight, the one who started it included. */
  readonly waiting: number
}

interface Entry {
  credentials: AwsCredentials
  /** Epoch ms after which the entry has less than the margin left and is not served. */
  servableUntil: number
  bytes: number
}

/** Per entry beyond its strings: the Map slot, the objects, the Date. A rough, fixed figure. */
const ENTRY_OVERHEAD_BYTES = 256

/** V8 keeps ASCII strings at one byte a character; everything here is ASCII. */
const sizeOf = (key: string, credentials: AwsCredentials): number =>
  ENTRY_OVERHEAD_BYTES +
  key.length +
  credentials.accessKeyId.length +
  credentials.secretAccessKey.length +
  credentials.sessionToken.length +
  credentials.assumedRoleArn.length +
  credentials.accountId.length

export const createCredentialCache = (options: CredentialCacheOptions): CredentialCache => {
  const marginMs = Math.max(options.refreshMarginSeconds, MIN_REFRESH_MARGIN_SECONDS) * 1000
  const entries = createBoundedLru<Entry>(options)
  const inFlight = new Map<string, Promise<AwsCredentials>>()
  let waiting = 0
  /** Bumped by invalidate: a call started before it may answer its callers, never fill an entry. */
  let generation = 0

  const store = (key: string, credentials: AwsCredentials) => {
    const servableUntil = credentials.expiration.getTime() - marginMs
    // Too short a session for the margin (or a nonsense expiration): never cached.
    if (!(servableUntil > options.clock.now().getTime())) return
    entries.set(key, { credentials, servableUntil, bytes: sizeOf(key, credentials) })
  }

  const lookup = (key: string): AwsCredentials | undefined => {
    const entry = entries.get(key)
    if (!entry) return undefined
    if (options.clock.now().getTime() >= entry.servableUntil) {
      entries.delete(key)
      return undefined
    }
    return entry.credentials
  }

  const start = (key: string, issue: () => Promise<AwsCredentials>): Promise<AwsCredentials> => {
    const startedIn = generation
    const call = (async () => issue())()
    inFlight.set(key, call)
    // Failures are not remembered: the callers waiting now share this one error, the next
    // request makes a new call.
    call.then(
      (credentials) => {
        if (inFlight.get(key) === call) inFlight.delete(key)
        if (generation === startedIn) store(key, credentials)
      },
      () => {
        if (inFlight.get(key) === call) inFlight.delete(key)
      },
    )
    return call
  }

  return {
    async obtain(key, issue) {
      if (options.maxEntries <= 0) return { credentials: await issue(), source: 'sts' }
      const cached = lookup(key)
      if (cached) return { credentials: cached, source: 'cache' }
      const pending = inFlight.get(key)
      const source: CredentialSource = pending ? 'shared' : 'sts'
      waiting++
      try {
        return { credentials: await (pending ?? start(key, issue)), source }
      } finally {
        waiting--
      }
    },
    invalidate() {
      generation++
      entries.clear()
      inFlight.clear()
    },
    get size() {
      return entries.size
    },
    get bytes() {
      return entries.bytes
    },
    get waiting() {
      return waiting
    },
  }
}
