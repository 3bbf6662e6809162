// Wires the core from adapters: the same function builds the Lambda roots and the local
// stack, so they differ only in the adapters handed in.
import type { BrokerSettings } from './config.js'
import { type Admin, createAdmin } from './core/admin.js'
import { type CredentialCache, createCredentialCache } from './core/credential-cache.js'
import { createExchange, type Exchange } from './core/exchange.js'
import { createHistory, type History } from './core/history.js'
import { verifyCompactJwt } from './core/jws-verify.js'
import { createKeyPush, type KeyPush } from './core/key-push.js'
import { createIssuerKeyResolver } from './core/keys.js'
import type {
  AdminRegistry,
  AuditSink,
  Clock,
  HistoryLog,
  JsonFetcher,
  KeyResolver,
  Logger,
  Registry,
  RegistryReader,
  RoleAssumer,
  Signer,
} from './core/ports.js'
import { createRegistryCache } from './core/registry-cache.js'
import { createRemoteKeyResolver, type RemoteKeyResolver } from './core/remote-keys.js'
import { withVerifiedTokenCache } from './core/verified-token-cache.js'
import { createWorkloadTokenVerifier, type WorkloadTokenVerifier } from './core/verify.js'

export interface Adapters {
  registry: Registry
  sts: RoleAssumer
  signer: Signer
  clock: Clock
  logger: Logger
  audit: AuditSink
  /** Fetches issuers' discovery documents and JWKS (the SSRF-safe adapter). */
  fetchJson: JsonFetcher
  /** The admin history's store: the admin and keys roots (and the local stack) always pass it. */
  history?: HistoryLog
}

export interface Core {
  exchange: Exchange
  admin: Admin
  signer: Signer
  logger: Logger
  issuerUrl: string
  remoteKeys: RemoteKeyResolver
  /** Vended credentials shared between equal STS requests (read-only figures for tests and the bench). */
  credentialCache: Pick<CredentialCache, 'size' | 'bytes' | 'waiting'>
  /** The admin history, where a store for it was given. */
  history?: History
}

/** What the token-taking functions (credentials, roles) need: the exchange and its caches. */
export interface ExchangeCore extends Pick<Core, 'exchange' | 'logger' | 'remoteKeys' | 'credentialCache'> {
  /** Drops what this process cached: registry, credentials, verified tokens (after an admin write). */
  invalidate(): void
}

/** What the exchange needs: the adapters, with the registry's reads only. */
export type ExchangeAdapters = Omit<Adapters, 'registry'> & { registry: RegistryReader }

/**
 * The caches that speed up the credentials path, made by the builders that reference them: a
 * root that never vends credentials (admin: `explain`) builds its exchange without them, and its
 * bundle does not carry their code (the admin bundle is at its 400 KB budget).
 */
interface ExchangeCaches {
  credentialCache?: CredentialCache
  verifiedTokens?: (
    verifier: WorkloadTokenVerifier,
    keysFor: KeyResolver,
  ) => WorkloadTokenVerifier & { invalidate(): void }
}

const exchangeCaches = (
  adapters: Pick<Adapters, 'clock'>,
  settings: BrokerSettings,
): ExchangeCaches & { credentialCache: CredentialCache } => ({
  credentialCache: createCredentialCache({ ...settings.credentialCache, clock: adapters.clock }),
  // Remembered verifications, unless the settings turn them off (every token verified afresh).
  ...(settings.verifiedTokenCache.maxEntries > 0
    ? {
        verifiedTokens: (verifier: WorkloadTokenVerifier, keysFor: KeyResolver) =>
          withVerifiedTokenCache(verifier, keysFor, settings.verifiedTokenCache),
      }
    : {}),
})

/**
 * The exchange alone, without the admin plane (and so without the admin document schemas):
 * the credentials and roles roots build this, `createCore` builds it and adds the rest.
 */
export const createExchangeCore = (adapters: ExchangeAdapters, settings: BrokerSettings): ExchangeCore => {
  const caches = exchangeCaches(adapters, settings)
  return { ...buildExchange(adapters, settings, caches), credentialCache: caches.credentialCache }
}

const buildExchange = (adapters: ExchangeAdapters, settings: BrokerSettings, caches: ExchangeCaches) => {
  const cache = createRegistryCache(adapters.registry, {
    ttlSeconds: settings.cacheTtlSeconds,
    staleSeconds: settings.cacheStaleSeconds,
    refreshWaitMs: settings.timeouts.registryRefreshWaitMs,
    maxEntries: 10_000,
    negativeMaxEntries: settings.negativeCacheSize,
    clock: adapters.clock,
    logger: adapters.logger,
  })
  const remoteKeys = createRemoteKeyResolver({
    fetchJson: adapters.fetchJson,
    clock: adapters.clock,
    logger: adapters.logger,
    requestFetchBudgetMs: settings.timeouts.jwksRequestMs,
  })
  const { credentialCache } = caches
  const keysFor = createIssuerKeyResolver(remoteKeys.keysFor)
  // The node:crypto fast path; joseJwtVerifier (jwt-verifier.ts) gives the same verdicts, slower.
  const verifier = createWorkloadTokenVerifier(keysFor, verifyCompactJwt)
  const verifiedTokens = caches.verifiedTokens?.(verifier, keysFor)
  const exchange = createExchange({
    registry: cache,
    verifier: verifiedTokens ?? verifier,
    signer: adapters.signer,
    sts: adapters.sts,
    clock: adapters.clock,
    audit: adapters.audit,
    brokerIssuerUrl: settings.issuerUrl,
    brokerTokenTtlSeconds: settings.brokerTokenTtlSeconds,
    requestDeadlineMs: settings.timeouts.requestDeadlineMs,
    ...(credentialCache ? { credentialCache } : {}),
  })
  return {
    exchange,
    logger: adapters.logger,
    remoteKeys,
    invalidate: () => {
      cache.invalidate()
      credentialCache?.invalidate()
      verifiedTokens?.invalidate()
    },
  }
}

/** The history on its store, settling claims with consistent reads of the registry. */
const historyOf = (adapters: Pick<Adapters, 'history' | 'registry' | 'clock'>): History | undefined =>
  adapters.history
    ? createHistory({ log: adapters.history, clock: adapters.clock, registry: adapters.registry })
    : undefined

/**
 * The admin plane and an exchange for `explain`, without the credentials path's caches (the
 * admin root, whose bundle then carries none of their code).
 */
export const createAdminCore = (
  adapters: Adapters & { registry: AdminRegistry },
  settings: BrokerSettings,
): Omit<Core, 'credentialCache'> => adminCoreOf(adapters, settings, buildExchange(adapters, settings, {}))

/**
 * The exchange with its caches and the admin plane: one process serving every route (tests,
 * benches), whose registry has the paged reads too.
 */
export const createCore = (
  adapters: Adapters & { registry: AdminRegistry },
  settings: BrokerSettings,
): Core => {
  const { credentialCache, ...exchange } = createExchangeCore(adapters, settings)
  return { ...adminCoreOf(adapters, settings, exchange), credentialCache }
}

const adminCoreOf = (
  adapters: Adapters & { registry: AdminRegistry },
  settings: BrokerSettings,
  { exchange, remoteKeys, invalidate }: ReturnType<typeof buildExchange>,
): Omit<Core, 'credentialCache'> => {
  const history = historyOf(adapters)
  const admin = createAdmin({
    registry: adapters.registry,
    clock: adapters.clock,
    audit: adapters.audit,
    // An admin write drops what this process cached; other instances follow within the registry TTL.
    onChange: invalidate,
    keySets: remoteKeys,
    ...(history ? { history } : {}),
  })
  return {
    exchange,
    admin,
    signer: adapters.signer,
    logger: adapters.logger,
    issuerUrl: settings.issuerUrl,
    remoteKeys,
    ...(history ? { history } : {}),
  }
}

/** What the keys function needs: the key push on the registry, and its logger. */
export interface KeyPushCore {
  keyPush: KeyPush
  logger: Logger
}

/**
 * The key push alone (docs/api.md, "Key push"): no exchange, no caches, no remote keys. Its writes reach the
 * other functions through their registry caches, within the registry TTL.
 */
export const createKeyPushCore = (
  adapters: Pick<Adapters, 'registry' | 'clock' | 'logger' | 'audit' | 'history'>,
): KeyPushCore => {
  const history = historyOf(adapters)
  return {
    keyPush: createKeyPush({
      registry: adapters.registry,
      clock: adapters.clock,
      audit: adapters.audit,
      logger: adapters.logger,
      ...(history ? { history } : {}),
    }),
    logger: adapters.logger,
  }
}
