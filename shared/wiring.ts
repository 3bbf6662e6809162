// Wires the core from adapters: the same function builds the Lambda roots and the local
// stack, so they differ only in the adapters handed in.
import type { BrokerSettings } from './config.js'
import { type Admin, createAdmin } from './core/admin.js'
import { createExchange, type Exchange } from './core/exchange.js'
import { createIssuerKeyResolver } from './core/keys.js'
import type {
  AuditSink,
  Clock,
  CredentialIssuer,
  JsonFetcher,
  Logger,
  Registry,
  Signer,
} from './core/ports.js'
import { createRegistryCache } from './core/registry-cache.js'
import { createRemoteKeyResolver, type RemoteKeyResolver } from './core/remote-keys.js'

export interface Adapters {
  registry: Registry
  sts: CredentialIssuer
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
}

export const createCore = (adapters: Adapters, settings: BrokerSettings): Core => {
  const cache = createRegistryCache(adapters.registry, {
    ttlSeconds: settings.cacheTtlSeconds,
    maxEntries: 10_000,
    negativeMaxEntries: settings.negativeCacheSize,
    clock: adapters.clock,
  })
  const remoteKeys = createRemoteKeyResolver({
    fetchJson: adapters.fetchJson,
    clock: adapters.clock,
    logger: adapters.logger,
  })
  const exchange = createExchange({
    registry: cache,
    keysFor: createIssuerKeyResolver(remoteKeys.keysFor),
    signer: adapters.signer,
    sts: adapters.sts,
    clock: adapters.clock,
    audit: adapters.audit,
    brokerIssuerUrl: settings.issuerUrl,
    brokerTokenTtlSeconds: settings.brokerTokenTtlSeconds,
  })
  const admin = createAdmin({
    registry: adapters.registry,
    clock: adapters.clock,
    audit: adapters.audit,
    onChange: cache.invalidate,
    keySets: remoteKeys,
  })
  return {
    exchange,
    admin,
    signer: adapters.signer,
    logger: adapters.logger,
    issuerUrl: settings.issuerUrl,
    remoteKeys,
  }
}
