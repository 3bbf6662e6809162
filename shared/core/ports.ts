// The small interfaces the core needs from the outside world. Adapters (DynamoDB, STS, KMS,
// a local key file, remote JWKS) implement them at the edges; tests pass fakes.
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose'
import type { Deadline } from './deadline.js'
import type { ClaimOutcome, HistoryRecord } from './history.js'
import type { AwsCredentials, Binding, Issuer } from './model.js'
import type { Page, PageRequest } from './pagination.js'

export interface Clock {
  now(): Date
}

export const systemClock: Clock = { now: () => new Date() }

/** Read side of the registry, what the credential exchange needs. */
export interface RegistryReader {
  /** Enabled and disabled issuers whose `issuer` equals `iss` exactly. */
  findIssuersByIss(iss: string): Promise<Issuer[]>
  listBindings(issuerId: string): Promise<Binding[]>
  /**
   * The bindings listing `subject` among exact subjects, and the pattern bindings (a subject glob,
   * or no subjects): shared/core/binding-index.ts. Together a superset of the bindings that can
   * match a token with that `sub`, read by key, whatever the number of the issuer's bindings.
   */
  bindingsForSubject(issuerId: string, subject: string): Promise<Binding[]>
  patternBindings(issuerId: string): Promise<Binding[]>
}

/** Full registry, what the admin plane needs. Writes are conditional on `expectedVersion`. */
export interface Registry extends RegistryReader {
  getIssuer(issuerId: string): Promise<Issuer | undefined>
  listIssuers(): Promise<Issuer[]>
  /** `expectedVersion` undefined → create only; otherwise the stored version must equal it. */
  putIssuer(issuer: Issuer, expectedVersion: number | undefined): Promise<void>
  deleteIssuer(issuerId: string, expectedVersion: number | undefined): Promise<void>
  getBinding(issuerId: string, bindingId: string): Promise<Binding | undefined>
  /**
   * The issuer's binding whose `profile` is `profile`, if any: the admin plane keeps profiles
   * unique within an issuer with it. A store may answer from an index kept by putBinding.
   */
  findBindingByProfile(issuerId: string, profile: string): Promise<Binding | undefined>
  putBinding(binding: Binding, expectedVersion: number | undefined): Promise<void>
  deleteBinding(issuerId: string, bindingId: string, expectedVersion: number | undefined): Promise<void>
  /**
   * Deletes the items of bindings that no longer count (of another generation than the issuer's,
   * or of an issuer deleted) and their index entries, in batches, until done or until `deadline`
   * (epoch ms). Answers how many it deleted and whether any are left.
   */
  sweepBindings(issuerId: string, budgetMs: number): Promise<{ deleted: number; done: boolean }>
}

/**
 * The paged reads of the admin lists. Apart from Registry so that only the admin plane's
 * composition carries them (the credentials bundle is at its size budget).
 */
export interface RegistryPages {
  /** A page of the issuers by `issuerId` (position field `issuerId`). */
  listIssuersPage(request: PageRequest): Promise<Page<Issuer>>
  /**
   * A page of an issuer's bindings by `bindingId` (position field `bindingId`); may hold fewer
   * than `limit` items and still a `next` (a store that filters), never more.
   */
  listBindingsPage(issuerId: string, request: PageRequest): Promise<Page<Binding>>
}

/** What the admin plane reads and writes. */
export type AdminRegistry = Registry & RegistryPages

/** Gives jose the verification key getter for one registered issuer. */
export type KeyResolver = (issuer: Issuer) => JWTVerifyGetKey

/**
 * GETs a JSON document from an issuer's discovery or JWKS URL and parses it. Rejects with a
 * KeyFetchError (shared/core/remote-keys.ts) saying why: refused target, timeout, size, type…
 * `timeoutMs` shortens the fetcher's own deadline for this call (the request path's budget).
 */
export type JsonFetcher = (url: string, options?: { timeoutMs?: number }) => Promise<unknown>

/** Signs the broker's own tokens (RS256). */
export interface Signer {
  readonly algorithm: 'RS256'
  keyId(): Promise<string>
  sign(signingInput: Uint8Array): Promise<Uint8Array>
  /** Current and previous public keys, as served at /.well-known/jwks.json. */
  publicJwks(): Promise<JSONWebKeySet>
}

export interface AssumeRoleRequest {
  roleArn: string
  sessionName: string
  webIdentityToken: string
  durationSeconds: number
}

/**
 * STS AssumeRoleWithWebIdentity. ("Issuer" in this code base is always a data plane's token
 * issuer, or the broker as an OIDC issuer; STS is the role assumer.)
 */
export interface RoleAssumer {
  /** Attempts and retries end with the request's `deadline` (shared/core/deadline.ts). */
  assumeRoleWithWebIdentity(
    request: AssumeRoleRequest,
    options?: { deadline?: Deadline },
  ): Promise<AwsCredentials>
}

export type AuditRecord = Readonly<Record<string, string | number | boolean | undefined | readonly string[]>>

/** Receives one structured record per decision. */
export type AuditSink = (record: AuditRecord) => void

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
  /**
   * Counts `value` (a count) towards the metric `name`, by `dimensions`. How it reaches a metrics
   * store is the adapter's business (the JSON logger writes CloudWatch Embedded Metric Format).
   */
  metric(name: string, value: number, dimensions: Readonly<Record<string, string>>): void
}

/**
 * Where the admin history (shared/core/history.ts) keeps its records and its objects' heads:
 * DynamoDB (shared/adapters/dynamodb-history.ts), in memory in tests.
 */
export interface HistoryLog {
  /**
   * Claims the head of the record's object for it, if the head is free and at the record's
   * `versionBefore` (or was never written: objects from before the history).
   */
  claim(record: HistoryRecord, now: string): Promise<ClaimOutcome>
  /** Files the record (idempotent) and frees the head at `versionAfter`, if the record still holds it. */
  commit(record: HistoryRecord): Promise<void>
  /** Frees the head at `versionBefore` without a record, if the record still holds it. */
  abandon(record: HistoryRecord): Promise<void>
  /**
   * Moves the head of the record's object, if it is free and at `from`, to the record's
   * `versionBefore` (the object's version now): for an object that changed without a write of
   * its own. Nothing is changed if the head is claimed or elsewhere meanwhile.
   */
  realign(record: HistoryRecord, from: number): Promise<void>
  /** The issuer's claimed heads: writes under way or left by a crash. */
  claims(issuerId: string): Promise<{ record: HistoryRecord; since: string }[]>
  /** The issuer's filed records from `since` on, oldest first, positioned by `at#writeId`. */
  list(issuerId: string, since: string | undefined, page: PageRequest): Promise<Page<HistoryRecord>>
}
