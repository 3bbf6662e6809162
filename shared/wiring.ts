// Wires the core from adapters: the same function builds the Lambda roots and the local
// stack, so they differ only in the adapters handed in.
import type { BrokerSettings } from './config.js'
import { type Admin, createAdmin } from './core/admin.js'
import { createExchange, type Exchange } from './core/exchange.js'
import { createInlineKeyResolver } from './core/keys.js'
import type { AuditSink, Clock, CredentialIssuer, Logger, Registry, Signer } from './core/ports.js'
import { createRegistryCache } from './core/registry-cache.js'

export interface Adapters {
  registry: Registry
  sts: CredentialIssuer
  signer: Signer
  clock: Clock
  logger: Logger
  audit: AuditSink
}

export interface Core {
  exchange: Exchange
  admin: Admin
  signer: Signer
  logger: Logger
  issuerUrl: string
}

export const createCore = (adapters: Adapters, settings: BrokerSettings): Core => {
  const cache = createRegistryCache(adapters.registry, {
    ttlSeconds: settings.cacheTtlSeconds,
    maxEntries: 10_000,
    negativeMaxEntries: settings.negativeCacheSize,
    clock: adapters.clock,
  })
  const exchange = createExchange({
    registry: cache,
    keysFor: createInlineKeyResolver(),
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
  })
  return { exchange, admin, signer: adapters.signer, logger: adapters.logger, issuerUrl: settings.issuerUrl }
}
