// Verification of a workload's JWT against the issuers registered for its `iss` (docs/api.md,
// "What a workload token must satisfy"; docs/decisions.md, "Token validation").
// Several registered issuers may share one `iss`; the one whose keys verify the signature is
// the one that counts, and only its bindings are ever consulted.
import { errors, type JWTVerifyGetKey } from 'jose'
import {
  type ClaimCheck,
  type ClaimCheckInput,
  explainClaimChecks,
  firstClaimFailure,
} from './claim-checks.js'
import {
  type BrokerError,
  ExpiredTokenError,
  InvalidTokenError,
  PayloadTooLargeError,
  UpstreamUnavailableError,
} from './errors.js'
import { isObject } from './json.js'
import { decodeSegment, verifyCompactJwt } from './jws-verify.js'
import type { JwtVerifier } from './jwt-verifier.js'
import { checkJsonShape } from './limits.js'
import type { Issuer, WorkloadClaims } from './model.js'
import { byCodeUnits } from './order.js'
import type { KeyResolver } from './ports.js'

export { MAX_SUB_LENGTH } from './claim-checks.js'

export const MAX_TOKEN_BYTES = 16 * 1024
export const MAX_ISS_LENGTH = 1024

/** Three base64url segments and nothing else: no padding, whitespace, JSON serialization or JWE. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/** The broker's first gate: strict compact serialization (decisions.md), checked before any decoding. */
export const isStrictCompactJws = (token: string): boolean => COMPACT_JWS.test(token)

/** A token that passed the first gate (size, strict form, JSON shape, `iss`), ready to verify. */
export interface PresentedToken {
  readonly token: string
  /** Its unverified `iss`: only to find the candidate issuers, trusted for nothing else. */
  readonly iss: string
}

/** The token each readUnverifiedToken result was read from: its header and claims are in bounds. */
const shapeCheckedToken = new WeakMap<PresentedToken, string>()

/**
 * The JSON of one segment, or undefined, decoded as jose decodes segments (jws-verify.ts). A last
 * lone character holds no whole byte: it is dropped, so that reading answers as it always did and
 * jose's own decoding refuses such a token when it verifies.
 */
const decodeJsonSegment = (segment: string): unknown => {
  try {
    const whole = segment.length % 4 === 1 ? segment.slice(0, -1) : segment
    return JSON.parse(Buffer.from(decodeSegment(whole)).toString('utf8'))
  } catch {
    return undefined
  }
}

/**
 * Checks the shape of a token and reads its unverified `iss`, only to find the candidate
 * issuers. Nothing read here is trusted for any decision.
 */
export const readUnverifiedToken = (token: unknown): PresentedToken => {
  if (typeof token !== 'string' || token.length === 0) throw new InvalidTokenError('token_missing')
  if (Buffer.byteLength(token, 'utf8') > MAX_TOKEN_BYTES)
    throw new PayloadTooLargeError('token', MAX_TOKEN_BYTES)
  if (!isStrictCompactJws(token)) throw new InvalidTokenError('token_malformed')
  const [headerSegment = '', payloadSegment = ''] = token.split('.')
  const header = decodeJsonSegment(headerSegment)
  const payload = decodeJsonSegment(payloadSegment)
  if (!isObject(header) || !isObject(payload)) throw new InvalidTokenError('token_malformed')
  // Bounded before any key is used: nothing downstream walks an unbounded structure.
  const shape = checkJsonShape(header) ?? checkJsonShape(payload)
  if (shape) throw new InvalidTokenError(shape)
  if (typeof header.alg !== 'string') throw new InvalidTokenError('token_malformed')
  const iss = payload.iss
  if (typeof iss !== 'string' || iss.length === 0 || iss.length > MAX_ISS_LENGTH) {
    throw new InvalidTokenError('issuer_missing')
  }
  const read = { token, iss }
  shapeCheckedToken.set(read, token)
  return read
}

/** `unavailable`: the issuer's remote keys could not be had (endpoint down, nothing cached). */
export type AttemptOutcome = 'verified' | 'disabled' | 'key_mismatch' | 'unavailable' | 'rejected'

export interface VerificationAttempt {
  issuerId: string
  outcome: AttemptOutcome
  reason?: string
  /** The header of a token this issuer's key verified (`alg`, and `kid` when it names one). */
  key?: { alg: string; kid?: string }
  /** Once the signature verified, and only when asked for (`explain`): every claim check on its own. */
  claimChecks?: ClaimCheck[]
}

export interface VerifyOptions {
  /** Adds every claim check, each on its own, to the attempt whose key verified (`explain`). */
  explain?: boolean
  /**
   * Wraps each candidate's key getter for this verification only: the verified-token cache
   * records what the getters answered, to ask them again later.
   */
  watchKeys?: ((issuer: Issuer, getKey: JWTVerifyGetKey) => JWTVerifyGetKey) | undefined
}

export interface VerifyTokenOptions extends VerifyOptions {
  /** Checks the token against one candidate's keys; the node:crypto fast path unless told otherwise. */
  jwt?: JwtVerifier | undefined
  /**
   * What readUnverifiedToken returned for this very token: its bounds on the claims' shape
   * were checked then, so they are not walked again (a result read from another token counts
   * for nothing).
   */
  read?: PresentedToken | undefined
}

export type VerificationResult =
  | { ok: true; issuer: Issuer; claims: WorkloadClaims; attempts: VerificationAttempt[] }
  | { ok: false; error: BrokerError; attempts: VerificationAttempt[] }

/** jose failures meaning "this issuer's keys did not verify it", so the next candidate may. */
const KEY_MISMATCH_CODES = new Set([
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
  'ERR_JOSE_ALG_NOT_ALLOWED',
])

/** Why an issuer's keys did not verify a token, in the audit log's words. */
const KEY_MISMATCH_REASONS: Record<string, string> = {
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'signature_invalid',
  ERR_JWKS_NO_MATCHING_KEY: 'no_matching_key',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'several_matching_keys',
  ERR_JOSE_ALG_NOT_ALLOWED: 'algorithm_not_allowed',
}

/** The protected header of a token whose signature verified, as the trace shows it. */
const keyOf = (header: { alg?: unknown; kid?: unknown }): VerificationAttempt['key'] => ({
  alg: String(header.alg),
  ...(typeof header.kid === 'string' ? { kid: header.kid.slice(0, 256) } : {}),
})

const classifyJoseError = (error: unknown): BrokerError | 'key_mismatch' => {
  if (error instanceof errors.JOSEError && KEY_MISMATCH_CODES.has(error.code)) return 'key_mismatch'
  if (error instanceof errors.JWTExpired) return new ExpiredTokenError('token_expired', { cause: error })
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return new ExpiredTokenError('token_not_yet_valid', { cause: error })
    if (error.reason === 'missing')
      return new InvalidTokenError(`claim_missing_${error.claim}`, { cause: error })
    return new InvalidTokenError(`claim_invalid_${error.claim}`, { cause: error })
  }
  if (error instanceof errors.JOSENotSupported)
    return new InvalidTokenError('header_unsupported', { cause: error })
  return new InvalidTokenError('token_malformed', { cause: error })
}

/**
 * Verifies `token` against each candidate issuer (the registered issuers sharing its `iss`,
 * in a stable order). The first candidate whose keys verify the signature decides: its claim
 * checks (claim-checks.ts) are final, and no other candidate is tried after it.
 */
export const verifyWorkloadToken = async (
  token: string,
  candidates: readonly Issuer[],
  keysFor: KeyResolver,
  now: Date,
  options: VerifyTokenOptions = {},
): Promise<VerificationResult> => {
  const attempts: VerificationAttempt[] = []
  let unavailable: UpstreamUnavailableError | undefined
  const nowSeconds = Math.floor(now.getTime() / 1000)
  const shapeChecked = options.read !== undefined && shapeCheckedToken.get(options.read) === token
  // The claims jose verified are the token's own, so bounds checked on them before hold for them.
  // Otherwise checked here, so a caller that skipped readUnverifiedToken gets the same bounds.
  const claimCheckInput = (payload: Record<string, unknown>, issuer: Issuer): ClaimCheckInput => ({
    payload,
    issuer,
    nowSeconds,
    shape: shapeChecked ? undefined : checkJsonShape(payload),
  })
  const verifyJwt = options.jwt ?? verifyCompactJwt
  const ordered = [...candidates].sort((a, b) => byCodeUnits(a.issuerId, b.issuerId))
  for (const issuer of ordered) {
    if (!issuer.enabled) {
      attempts.push({ issuerId: issuer.issuerId, outcome: 'disabled' })
      continue
    }
    try {
      // jose's jwtVerify, or its fast path with node:crypto doing the arithmetic (jwt-verifier.ts).
      const getKey = keysFor(issuer)
      const { payload, protectedHeader } = await verifyJwt(
        token,
        options.watchKeys ? options.watchKeys(issuer, getKey) : getKey,
        {
          issuer: issuer.issuer,
          audience: issuer.audiences,
          algorithms: issuer.algorithms,
          clockTolerance: issuer.clockSkewSeconds,
          currentDate: now,
          requiredClaims: ['iss', 'aud', 'sub', 'exp', 'iat'],
        },
      )
      const input = claimCheckInput(payload, issuer)
      const failure = firstClaimFailure(input)
      const verified = {
        key: keyOf(protectedHeader),
        ...(options.explain ? { claimChecks: explainClaimChecks(input) } : {}),
      }
      if (failure !== undefined) {
        const problem = new InvalidTokenError(failure)
        attempts.push({ issuerId: issuer.issuerId, outcome: 'rejected', reason: failure, ...verified })
        return { ok: false, error: problem, attempts }
      }
      attempts.push({ issuerId: issuer.issuerId, outcome: 'verified', ...verified })
      return { ok: true, issuer, claims: payload as WorkloadClaims, attempts }
    } catch (error) {
      // The key getter could not reach the issuer's keys: another candidate may still verify it.
      if (error instanceof UpstreamUnavailableError) {
        attempts.push({ issuerId: issuer.issuerId, outcome: 'unavailable', reason: error.reason })
        unavailable ??= error
        continue
      }
      const verdict = classifyJoseError(error)
      if (verdict === 'key_mismatch') {
        const code = (error as { code?: string }).code ?? ''
        attempts.push({
          issuerId: issuer.issuerId,
          outcome: 'key_mismatch',
          reason: KEY_MISMATCH_REASONS[code],
        })
        continue
      }
      // jose checks claims only after the signature verified, and hands the claims along.
      const claims = (error as { payload?: unknown }).payload
      const header = decodeJsonSegment(token.split('.')[0] ?? '')
      const verified =
        (error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired) &&
        isObject(claims) &&
        isObject(header)
          ? {
              key: keyOf(header),
              ...(options.explain
                ? { claimChecks: explainClaimChecks(claimCheckInput(claims, issuer)) }
                : {}),
            }
          : {}
      attempts.push({ issuerId: issuer.issuerId, outcome: 'rejected', reason: verdict.reason, ...verified })
      return { ok: false, error: verdict, attempts }
    }
  }
  // No candidate verified it, and one could not even be asked: retrying later may succeed.
  if (unavailable) return { ok: false, error: unavailable, attempts }
  const reason =
    ordered.length === 0 || attempts.every((a) => a.outcome === 'disabled')
      ? 'issuer_unknown'
      : 'signature_not_verified'
  return { ok: false, error: new InvalidTokenError(reason), attempts }
}

/**
 * The exchange's one way to verify a workload token: read it (the first gate), then verify it
 * against the candidates its `iss` found. The verified-token cache is a decorator over it
 * (verified-token-cache.ts), chosen in the wiring.
 */
export interface WorkloadTokenVerifier<Result extends VerificationResult = VerificationResult> {
  /**
   * Checks the token's size and form and reads its unverified `iss`; throws the coded error
   * (InvalidTokenError, PayloadTooLargeError) otherwise. `explain` reads afresh whatever is
   * remembered.
   */
  read(token: unknown, options?: { explain?: boolean }): PresentedToken
  /** verifyWorkloadToken on a token read by `read`. */
  verify(
    token: PresentedToken,
    candidates: readonly Issuer[],
    now: Date,
    options?: VerifyOptions,
  ): Promise<Result>
}

/**
 * Verifies every token afresh with the issuers' key getters, through `jwt` (the node:crypto fast
 * path by default; jose's own jwtVerify, `joseJwtVerifier`, gives the same verdicts).
 */
export const createWorkloadTokenVerifier = (
  keysFor: KeyResolver,
  jwt: JwtVerifier = verifyCompactJwt,
): WorkloadTokenVerifier => ({
  read: (token) => readUnverifiedToken(token),
  verify: (token, candidates, now, options) =>
    verifyWorkloadToken(token.token, candidates, keysFor, now, { ...options, read: token, jwt }),
})
