// Remembers workload tokens whose signature already verified, keyed by the SHA-256 of the exact
// token string, so a token presented again skips the signature check (the largest cost of a
// request whose credentials are cached). A remembered result holds only while everything it
// was decided on still holds: the same issuer objects from the registry (a new version or a
// reload replaces them), the same key objects from each issuer's key set (a changed key set
// gives new ones), and the token's time claims at the current time. It decorates the
// exchange's WorkloadTokenVerifier (verify.ts); the wiring chooses whether to put it in front.

import type { FlattenedJWSInput, JWTHeaderParameters, JWTVerifyGetKey } from 'jose'
import { createBoundedLru } from './bounded-lru.js'
import { sha256Hex } from './credential-cache.js'
import type { Issuer, WorkloadClaims } from './model.js'
import type { KeyResolver } from './ports.js'
import {
  isStrictCompactJws,
  MAX_TOKEN_BYTES,
  type PresentedToken,
  type VerificationAttempt,
  type VerificationResult,
  type VerifyOptions,
  type WorkloadTokenVerifier,
} from './verify.js'

export interface VerifiedTokenCacheOptions {
  /** Most tokens remembered; 0 turns the cache off. */
  maxEntries: number
  /** Most bytes, approximately (token-sized claims and the key-check inputs). */
  maxBytes: number
}

export type VerifiedResult = Extract<VerificationResult, { ok: true }>

/** What one issuer's key getter answered during the verification that is remembered. */
type KeyAnswer =
  | { issuer: Issuer; key: unknown; header: JWTHeaderParameters; input: FlattenedJWSInput }
  | { issuer: Issuer; noMatchingKey: true; header: JWTHeaderParameters; input: FlattenedJWSInput }

interface Entry {
  result: VerifiedResult
  /** The candidates as the registry handed them, object for object. */
  candidates: readonly Issuer[]
  keyAnswers: KeyAnswer[]
  bytes: number
}

/**
 * The verifier with a memory. `read`: a token string this cache remembers is not read again (it
 * passed every check on its form — size, compact form, JSON shape, `iss` — when it verified, and
 * the same string passes them again; its verified `iss` finds the candidates); any other token
 * is read by the verifier. `verify`: the verifier's answer, from memory (`fromCache`) when the
 * same token verified before and nothing it was decided on changed; `explain` always verifies
 * afresh and is not remembered.
 */
export interface CachingTokenVerifier
  extends WorkloadTokenVerifier<VerificationResult & { fromCache?: boolean }> {
  /** Whether this exact token string verified before (its entry may still turn out stale). */
  recall(token: unknown): PresentedToken | undefined
  invalidate(): void
  readonly size: number
  readonly bytes: number
}

const ENTRY_OVERHEAD_BYTES = 512

const NO_MATCHING_KEY = 'ERR_JWKS_NO_MATCHING_KEY'

const codeOf = (error: unknown): unknown => (error as { code?: unknown } | null)?.code

/** jose's own time checks (exp, nbf with the skew) and the broker's `iat` check, at `now`. */
const timeClaimsHold = (claims: WorkloadClaims, issuer: Issuer, now: Date): boolean => {
  const nowSeconds = Math.floor(now.getTime() / 1000)
  const skew = issuer.clockSkewSeconds
  const { exp, iat, nbf } = claims
  if (typeof exp !== 'number' || exp <= nowSeconds - skew) return false
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSeconds + skew)) return false
  return typeof iat === 'number' && iat <= nowSeconds + skew
}

const sameCandidates = (a: readonly Issuer[], b: readonly Issuer[]): boolean =>
  a.length === b.length && a.every((issuer, index) => issuer === b[index])

/** Each recorded key getter, asked again, gives the very same key object (or still none). */
const sameKeys = async (answers: readonly KeyAnswer[], keysFor: KeyResolver): Promise<boolean> => {
  for (const answer of answers) {
    let key: unknown
    try {
      key = await keysFor(answer.issuer)(answer.header, answer.input)
    } catch (error) {
      if ('noMatchingKey' in answer && codeOf(error) === NO_MATCHING_KEY) continue
      return false
    }
    if (!('key' in answer) || key !== answer.key) return false
  }
  return true
}

/**
 * The outcome of a verification depends on the token, the issuer objects, the key objects and
 * the time. It is remembered only when every candidate tried before the one that verified was
 * disabled or did not hold the key, and each key getter answered plainly (a key, or no
 * matching key), so asking the same getters again tells whether anything changed.
 */
const rememberable = (result: VerifiedResult, answers: readonly KeyAnswer[]): boolean => {
  const tried = result.attempts.slice(0, -1)
  if (!tried.every((attempt) => attempt.outcome === 'disabled' || attempt.outcome === 'key_mismatch'))
    return false
  const decided = answers.find((answer) => answer.issuer === result.issuer)
  return decided !== undefined && 'key' in decided
}

/**
 * Puts the cache in front of `verifier`. `keysFor` must be the key resolver `verifier` verifies
 * with: a remembered result holds only while its getters, asked again, answer the same keys.
 */
export const withVerifiedTokenCache = (
  verifier: WorkloadTokenVerifier,
  keysFor: KeyResolver,
  options: VerifiedTokenCacheOptions,
): CachingTokenVerifier => {
  const entries = createBoundedLru<Entry>(options)
  /** The cache key of each token recall() found, so that it is not hashed again. */
  const recalledKeys = new WeakMap<PresentedToken, string>()

  const verifyAndRemember = async (
    key: string,
    token: PresentedToken,
    candidates: readonly Issuer[],
    now: Date,
    verifyOptions: VerifyOptions,
  ): Promise<VerificationResult> => {
    const answers: KeyAnswer[] = []
    // Several answers for one issuer (jose trying each of several matching keys) make the
    // outcome depend on more than one key: such a verification is not remembered.
    let plain = true
    const recording = (issuer: Issuer, getKey: JWTVerifyGetKey): JWTVerifyGetKey => {
      return async (header, input) => {
        if (answers.some((answer) => answer.issuer === issuer)) plain = false
        try {
          const found = await getKey(header, input)
          answers.push({ issuer, key: found, header, input })
          return found
        } catch (error) {
          if (codeOf(error) === NO_MATCHING_KEY) answers.push({ issuer, noMatchingKey: true, header, input })
          else plain = false
          throw error
        }
      }
    }
    const result = await verifier.verify(token, candidates, now, { ...verifyOptions, watchKeys: recording })
    if (result.ok && plain && rememberable(result, answers)) {
      entries.set(key, {
        result,
        candidates: [...candidates],
        keyAnswers: answers,
        bytes: ENTRY_OVERHEAD_BYTES + 3 * token.token.length,
      })
    }
    return result
  }

  // The last token hashed and its hash: a token recall() did not find is verified next, and
  // hashing it once is enough.
  let lastToken: string | undefined
  let lastKey = ''
  const keyOf = (token: string): string => {
    if (token !== lastToken) {
      lastKey = sha256Hex(token)
      lastToken = token
    }
    return lastKey
  }

  const recall = (token: unknown): PresentedToken | undefined => {
    // Longer than MAX_TOKEN_BYTES characters is longer in bytes too: never remembered, not hashed.
    if (options.maxEntries <= 0 || typeof token !== 'string' || token.length > MAX_TOKEN_BYTES)
      return undefined
    const key = keyOf(token)
    const entry = entries.get(key)
    if (!entry) return undefined
    const recalled = { token, iss: entry.result.claims.iss }
    recalledKeys.set(recalled, key)
    return recalled
  }

  return {
    recall,
    read(token, readOptions) {
      return (readOptions?.explain ? undefined : recall(token)) ?? verifier.read(token, readOptions)
    },
    async verify(token, candidates, now, verifyOptions = {}) {
      const recalledKey = recalledKeys.get(token)
      // `explain` wants every check computed now; a malformed token is never hashed (a recalled
      // one is the very string that verified before).
      if (
        options.maxEntries <= 0 ||
        verifyOptions.explain ||
        (recalledKey === undefined && !isStrictCompactJws(token.token))
      ) {
        return verifier.verify(token, candidates, now, verifyOptions)
      }
      const key = recalledKey ?? keyOf(token.token)
      const entry = entries.get(key)
      if (entry) {
        const { issuer, claims } = entry.result
        if (
          sameCandidates(candidates, entry.candidates) &&
          timeClaimsHold(claims, issuer, now) &&
          (await sameKeys(entry.keyAnswers, keysFor))
        ) {
          const attempts: VerificationAttempt[] = entry.result.attempts.map((attempt) => ({ ...attempt }))
          return { ok: true, issuer, claims, attempts, fromCache: true }
        }
        entries.delete(key)
      }
      return verifyAndRemember(key, token, candidates, now, verifyOptions)
    },
    invalidate() {
      entries.clear()
    },
    get size() {
      return entries.size
    },
    get bytes() {
      return entries.bytes
    },
  }
}
