// Key push (docs/api.md, "Key push"): a private cluster, whose issuer the broker cannot fetch, replaces its
// issuer's inline keys itself. The only credential is a token that the issuer's currently
// registered keys verify, with the key-sync audience and exactly the issuer's keySync subject;
// the new set passes the registration rules, and the write is the admin plane's: conditional on
// the version read, stamped, audited with the kids added and removed.
import { calculateJwkThumbprint, type JSONWebKeySet, type JWK } from 'jose'
import {
  AccessDeniedError,
  type BrokerError,
  ConflictError,
  InternalError,
  InvalidParameterError,
  InvalidTokenError,
  isBrokerError,
  ThrottlingError,
} from './errors.js'
import type { History } from './history.js'
import { checkJwks } from './jwks.js'
import { createInlineKeyResolver, hasRemoteKeys } from './keys.js'
import { type Issuer, KEY_SYNC_AUDIENCE, type WorkloadClaims } from './model.js'
import { ID_PATTERN } from './patterns.js'
import type { AuditRecord, AuditSink, Clock, Logger, Registry } from './ports.js'
import { type PresentedToken, readUnverifiedToken, verifyWorkloadToken } from './verify.js'

/** At most one accepted change of an issuer's keys per this many seconds (docs/api.md, "Key push": 429). */
export const KEY_PUSH_INTERVAL_SECONDS = 60

/**
 * A push that loses the race for the issuer's item to another write reads it again and decides
 * again (the token against the keys registered now, the set against the stored one); after
 * this many tries it answers 409 and the next run of the sync job tries anew.
 */
export const KEY_PUSH_MAX_ATTEMPTS = 3

export interface KeyPushDeps {
  registry: Pick<Registry, 'getIssuer' | 'putIssuer'>
  clock: Clock
  audit: AuditSink
  /** `KeyPushAccepted` (by Outcome) and `KeyPushFailures` (by Code): the alarm's metric. */
  logger: Pick<Logger, 'metric'>
  /** The admin history (history.ts): a push that changes the keys is recorded like an admin write. */
  history?: Pick<History, 'recorded'>
}

/** What the HTTP layer read from the request; reading it may itself fail (a 413, a stray query). */
export interface KeyPushInput {
  issuerId: string
  /** `Authorization: Bearer <token>`, the token alone. */
  token: string | undefined
  /** The body as text: the key set, `{"keys": [...]}`. */
  body: string | undefined
}

export interface KeyPushResult {
  issuerId: string
  changed: boolean
  version: number
  keyCount: number
  /** The kids of the keys now registered (a kid-less key as `sha256:<RFC 7638 thumbprint>`). */
  kids: string[]
  kidsAdded: string[]
  kidsRemoved: string[]
}

/** A key's identity for comparing sets: its RFC 7638 thumbprint, and the members that pick it. */
interface KeyIdentity {
  identity: string
  label: string
}

const identify = async (key: JWK): Promise<KeyIdentity> => {
  const thumbprint = await calculateJwkThumbprint(key, 'sha256')
  // kid and alg decide which key jose picks for a token: a renamed kid is a change, though
  // the key material is the same. Member order, and members that verify nothing, are not.
  return {
    identity: JSON.stringify([thumbprint, key.kid ?? null, key.alg ?? null, key.use ?? null]),
    label: typeof key.kid === 'string' ? key.kid : `sha256:${thumbprint}`,
  }
}

const identities = async (jwks: JSONWebKeySet | undefined): Promise<Map<string, string>> =>
  new Map((await Promise.all((jwks?.keys ?? []).map(identify))).map((key) => [key.identity, key.label]))

/** The kids that came and went between two sets, order-insensitive. */
export const compareKeySets = async (
  before: JSONWebKeySet | undefined,
  after: JSONWebKeySet,
): Promise<{ same: boolean; kids: string[]; kidsAdded: string[]; kidsRemoved: string[] }> => {
  const [was, is] = await Promise.all([identities(before), identities(after)])
  const kidsAdded = [...is].filter(([identity]) => !was.has(identity)).map(([, label]) => label)
  const kidsRemoved = [...was].filter(([identity]) => !is.has(identity)).map(([, label]) => label)
  return {
    same: kidsAdded.length === 0 && kidsRemoved.length === 0,
    kids: [...is.values()],
    kidsAdded: kidsAdded.sort(),
    kidsRemoved: kidsRemoved.sort(),
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The pushed key set: JSON, `{"keys": [...]}` and nothing else, every key passing the registration rules. */
const parsePushedKeys = async (body: string | undefined, issuer: Issuer): Promise<JSONWebKeySet> => {
  if (body === undefined) throw new InvalidParameterError('body', 'is required: the key set, {"keys": [...]}')
  let document: unknown
  try {
    document = JSON.parse(body)
  } catch {
    throw new InvalidParameterError('body', 'is not valid JSON')
  }
  if (!isObject(document)) throw new InvalidParameterError('body', 'must be a key set, {"keys": [...]}')
  const unknown = Object.keys(document).find((field) => field !== 'keys')
  if (unknown !== undefined) throw new InvalidParameterError(unknown, 'is not a known field')
  // The same hygiene, size and algorithm rules as a registration (jwks.ts); empty is refused there.
  const checked = await checkJwks(document, issuer.algorithms)
  if ('field' in checked) throw new InvalidParameterError(checked.field, checked.message, 'jwks_rejected')
  return checked.jwks
}

export const createKeyPush = (deps: KeyPushDeps) => {
  const interval = KEY_PUSH_INTERVAL_SECONDS
  const keysFor = createInlineKeyResolver()

  /**
   * The workload tokens' verification (verify.ts: signature with the issuer's algorithms, `iss`,
   * lifetime, skew, the Kubernetes identity), against `keys` alone and with the key-sync
   * audience in place of the issuer's workload audiences. Disabled issuers never get here.
   */
  const verifyAgainst = async (
    token: string,
    read: PresentedToken,
    issuer: Issuer,
    keys: JSONWebKeySet | undefined,
  ): Promise<WorkloadClaims> => {
    const candidate: Issuer = { ...issuer, audiences: [KEY_SYNC_AUDIENCE], ...(keys ? { jwks: keys } : {}) }
    const result = await verifyWorkloadToken(token, [candidate], keysFor, deps.clock.now(), { read })
    if (!result.ok) throw result.error
    return result.claims
  }

  /**
   * The one write of a key push: the admin plane's conditional put of the whole issuer, at the
   * version it was read at (a ConflictError when another write came first).
   * It is recorded in the history like an admin PUT, by actor `key-push:<keySync subject>`,
   * with the kids added and removed.
   */
  const writeKeys = (before: Issuer, after: Issuer, requestId: string): Promise<void> => {
    const write = () => deps.registry.putIssuer(after, before.version)
    return deps.history
      ? deps.history.recorded(
          { actor: `key-push:${after.updatedBy}`, requestId, issuerId: after.issuerId, before, after },
          write,
        )
      : write()
  }

  /** What one push learned so far, for its audit record whatever the outcome. */
  interface Progress {
    issuerId?: string
    /** Set once the token verified and its subject is the issuer's keySync subject. */
    subject?: string
    versionBefore?: number
  }

  const attempt = async (
    progress: Progress,
    issuerId: string,
    token: string,
    read: PresentedToken,
    body: string | undefined,
    requestId: string,
  ): Promise<KeyPushResult> => {
    const issuer = await deps.registry.getIssuer(issuerId)
    // A disabled issuer is an unknown one (docs/api.md, "Issuer document"); nothing about it is told.
    if (!issuer?.enabled) throw new InvalidTokenError('issuer_unknown')
    // Its keys come from its own endpoint, and this function fetches none.
    if (hasRemoteKeys(issuer))
      throw new ConflictError(
        `Issuer "${issuerId}" takes its keys from its jwksUri or discovery document; they are fetched, not pushed.`,
        'key_sync_remote_keys',
      )
    const claims = await verifyAgainst(token, read, issuer, issuer.jwks)
    if (!issuer.keySync)
      throw new AccessDeniedError('key_sync_off', 'Key push is not enabled for this issuer.')
    if (claims.sub !== issuer.keySync.subject)
      throw new AccessDeniedError('key_sync_subject_mismatch', "The token's subject may not push keys.")
    progress.subject = claims.sub
    progress.versionBefore = issuer.version
    const pushed = await parsePushedKeys(body, issuer)
    // The set must hold the key this very request was signed with: the cluster signs its next
    // push with it, and a set without it would lock the cluster out (Kubernetes always
    // publishes its signing key, so a set read from the cluster passes).
    try {
      await verifyAgainst(token, read, issuer, pushed)
    } catch (error) {
      if (!isBrokerError(error) || error.code !== 'InvalidIdentityToken') throw error
      throw new InvalidParameterError(
        'keys',
        'must hold the key this request is signed with',
        'key_sync_signer_not_in_set',
      )
    }
    const comparison = await compareKeySets(issuer.jwks, pushed)
    const result = (changed: boolean, version: number): KeyPushResult => ({
      issuerId,
      changed,
      version,
      keyCount: pushed.keys.length,
      kids: comparison.kids,
      kidsAdded: comparison.kidsAdded,
      kidsRemoved: comparison.kidsRemoved,
    })
    // The same keys: nothing is written, the version stays, and no rate limit applies.
    if (comparison.same) return result(false, issuer.version)
    const now = deps.clock.now()
    const last = issuer.keysPushedAt === undefined ? Number.NaN : Date.parse(issuer.keysPushedAt)
    const elapsed = (now.getTime() - last) / 1000
    if (elapsed < interval)
      throw new ThrottlingError(
        'key_sync_rate_limited',
        Math.min(interval, Math.max(1, Math.ceil(interval - elapsed))),
      )
    const stamp = now.toISOString()
    const next: Issuer = {
      ...issuer,
      jwks: pushed,
      version: issuer.version + 1,
      updatedAt: stamp,
      updatedBy: claims.sub,
      keysPushedAt: stamp,
    }
    await writeKeys(issuer, next, requestId)
    return result(true, next.version)
  }

  /**
   * Answers one push. `readInput` reads the request (and may throw, a 413 say): every outcome,
   * whatever step decided it, is one audit record and one metric.
   */
  const push = async (readInput: () => KeyPushInput, requestId: string): Promise<KeyPushResult> => {
    const progress: Progress = {}
    /** The one audit record of this push, whatever decided it. */
    const record = (outcome: 'changed' | 'unchanged' | 'refused', fields: AuditRecord) =>
      deps.audit({
        type: 'audit',
        event: 'issuer.keys.push',
        requestId,
        issuerId: progress.issuerId,
        actor: progress.subject,
        outcome,
        versionBefore: progress.versionBefore,
        ...fields,
      })
    try {
      const input = readInput()
      progress.issuerId = input.issuerId.slice(0, 64)
      if (!ID_PATTERN.test(input.issuerId))
        throw new InvalidParameterError('issuerId', 'must be 1-64 letters, digits, ".", "_" or "-"')
      const read = readUnverifiedToken(input.token)
      const token = input.token as string
      for (let tries = 1; ; tries++) {
        let result: KeyPushResult
        try {
          result = await attempt(progress, input.issuerId, token, read, input.body, requestId)
        } catch (error) {
          // Another write of the issuer came between the read and the write: decide again on
          // what is stored now, which may be this very set (nothing changes then) or a change
          // within the interval (a 429).
          if (
            error instanceof ConflictError &&
            error.reason === 'version_conflict' &&
            tries < KEY_PUSH_MAX_ATTEMPTS
          )
            continue
          throw error
        }
        const outcome = result.changed ? 'changed' : 'unchanged'
        record(outcome, {
          versionAfter: result.version,
          keyCount: result.keyCount,
          kidsAdded: result.kidsAdded,
          kidsRemoved: result.kidsRemoved,
          attempts: tries,
        })
        deps.logger.metric('KeyPushAccepted', 1, { Outcome: outcome })
        return result
      }
    } catch (error) {
      const refusal: BrokerError = isBrokerError(error)
        ? error
        : new InternalError('key_push_failed', { cause: error })
      record('refused', { code: refusal.code, reason: refusal.reason })
      deps.logger.metric('KeyPushFailures', 1, { Code: refusal.code })
      throw error
    }
  }

  return { push }
}

export type KeyPush = ReturnType<typeof createKeyPush>
