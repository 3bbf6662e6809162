// Wires the core from adapters: the same function builds the Lambda roots and the local
// stack, so they differ only in the adapters handed in.
import type { BrokerSettings } from './config.js'
import { type Admin, createAdmin } from './core/admin.js'
import { type CredentialCache, createCredentialCache } from './core/credential-cache.js'
import { createExchange, type Exchange } from './core/exchange.js'
import { verifyCompactJwt } from './core/jws-verify.js'
import { createKeyPush, type KeyPush } from './core/key-push.js'
import { createIssuerKeyResolver } from './core/keys.js'
import type {
  AuditSink,
  Clock,
  JsonFetcher,
  Logger,
  Registry,
  RegistryReader,
  RoleAssumer,
  Signer,
} from './core/ports.js'
import { createRegistryCache } from './core/registry-cache.js'
import { createRemoteKeyResolver, type RemoteKeyResolver } from './core/remote-keys.js'
import { withVerifiedTokenCache } from './core/verified-token-cache.js'
import { createWorkloadTokenVerifier } from './core/verify.js'

export interface Adapters {
  registry: Registry
  sts: RoleAssumer
  signer: Signer
  clock: Clock
  logger: Logger
  audit: AuditSink
  /** Fetches issuers' discovery documents and JWKS (the SSRF-safe adapter). */
  fetchJson: JsonFetcher
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
}

/** What the token-taking functions (credentials, roles) need: the exchange and its caches. */
export interface ExchangeCore extends Pick<Core, 'exchange' | 'logger' | 'remoteKeys' | 'credentialCache'> {
  /** Drops what this process cached: registry, credentials, verified tokens (after an admin write). */
  invalidate(): void
}

/**
 * The exchange alone, without the admin plane (and so without the admin document schemas):
 * the credentials and roles roots build this, `createCore` builds it and adds the rest.
 */
/** What the exchange needs: the adapters, with the registry's reads only. */
export type ExchangeAdapters = Omit<Adapters, 'registry'> & { registry: RegistryReader }

export const createExchangeCore = (adapters: ExchangeAdapters, settings: BrokerSettings): ExchangeCore => {
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
  const credentialCache = createCredentialCache({ ...settings.credentialCache, clock: adapters.clock })
  const keysFor = createIssuerKeyResolver(remoteKeys.keysFor)
  // The node:crypto fast path; joseJwtVerifier (jwt-verifier.ts) gives the same verdicts, slower.
  const verifier = createWorkloadTokenVerifier(keysFor, verifyCompactJwt)
  // Remembered verifications, unless the settings turn them off (every token verified afresh).
  const verifiedTokens =
    settings.verifiedTokenCache.maxEntries > 0
      ? withVerifiedTokenCache(verifier, keysFor, settings.verifiedTokenCache)
      : undefined
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
    credentialCache,
  })
  return {
    exchange,
    logger: adapters.logger,
    remoteKeys,
    credentialCache,
    invalidate: () => {
      cache.invalidate()
      credentialCache.invalidate()
      verifiedTokens?.invalidate()
    },
  }
}

export const createCore = (adapters: Adapters, settings: BrokerSettings): Core => {
  const { exchange, remoteKeys, credentialCache, invalidate } = createExchangeCore(adapters, settings)
  const admin = createAdmin({
    registry: adapters.registry,
    clock: adapters.clock,
    audit: adapters.audit,
    // An admin write drops what this process cached; other instances follow within the registry TTL.
    onChange: invalidate,
    keySets: remoteKeys,
  })
  return {
    exchange,
    admin,
    signer: adapters.signer,
    logger: adapters.logger,
    issuerUrl: settings.issuerUrl,
    remoteKeys,
    credentialCache,
  }
}

/** What the keys function needs: the key push on the registry, and its logger. */
export interface KeyPushCore {
  keyPush: KeyPush
  logger: Logger
}

/**
 * The key push alone (DESIGN §8): no exchange, no caches, no remote keys. Its writes reach the
 * other functions through their registry caches, within the registry TTL.
 */
export const createKeyPushCore = (
  adapters: Pick<Adapters, 'registry' | 'clock' | 'logger' | 'audit'>,
): KeyPushCore => ({
  keyPush: createKeyPush({
    registry: adapters.registry,
    clock: adapters.clock,
    audit: adapters.audit,
    logger: adapters.logger,
  }),
  logger: adapters.logger,
})
