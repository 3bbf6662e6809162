// Every claim check of a workload token (docs/api.md, "What a workload token must satisfy"), one
// function each, with the audit log's reason codes. The
// validator decides with them (the checks jose leaves to it, stopping at the first failure) and
// `explain` lists them all, so the two cannot disagree.

import { isObject } from './json.js'
import type { ShapeProblem } from './limits.js'
import type { Issuer } from './model.js'

export const MAX_SUB_LENGTH = 1024

export type ClaimCheckName =
  | 'shape'
  | 'iss'
  | 'aud'
  | 'exp'
  | 'nbf'
  | 'iat'
  | 'lifetime'
  | 'sub'
  | 'kubernetes_identity'

export interface ClaimCheck {
  check: ClaimCheckName
  passed: boolean
  /** The audit reason code this check fails with. */
  reason?: string
}

/** What the checks look at: the claims, the issuer that verified them, and when. */
export interface ClaimCheckInput {
  payload: Record<string, unknown>
  issuer: Issuer
  nowSeconds: number
  /** The result of `checkJsonShape` on the payload (limits.ts), walked once by the caller. */
  shape: ShapeProblem | undefined
}

const numeric = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)

const audienceFailure = (aud: unknown, audiences: readonly string[]): string | undefined => {
  if (aud === undefined) return 'claim_missing_aud'
  const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
  return list.some((entry) => typeof entry === 'string' && audiences.includes(entry))
    ? undefined
    : 'claim_invalid_aud'
}

/**
 * A Kubernetes service-account token names its workload twice: in `sub` and in the
 * `kubernetes.io` claim. Bindings may match either, so the two must agree.
 */
const kubernetesFailure = (sub: unknown, k8s: unknown): string | undefined => {
  if (typeof sub !== 'string' || !sub.startsWith('system:serviceaccount:') || !isObject(k8s)) return undefined
  const name = isObject(k8s.serviceaccount) ? k8s.serviceaccount.name : undefined
  if (typeof k8s.namespace !== 'string' || typeof name !== 'string') return undefined
  return sub === `system:serviceaccount:${k8s.namespace}:${name}`
    ? undefined
    : 'claim_inconsistent_kubernetes_identity'
}

/** Each check: the reason it fails with, or undefined when it passes. */
const CHECKS: Record<ClaimCheckName, (input: ClaimCheckInput) => string | undefined> = {
  shape: ({ shape }) => shape,
  iss: ({ payload: { iss }, issuer }) =>
    iss === undefined ? 'claim_missing_iss' : iss === issuer.issuer ? undefined : 'claim_invalid_iss',
  aud: ({ payload, issuer }) => audienceFailure(payload.aud, issuer.audiences),
  exp: ({ payload: { exp }, issuer, nowSeconds }) =>
    exp === undefined
      ? 'claim_missing_exp'
      : !numeric(exp)
        ? 'claim_invalid_exp'
        : exp <= nowSeconds - issuer.clockSkewSeconds
          ? 'token_expired'
          : undefined,
  nbf: ({ payload: { nbf }, issuer, nowSeconds }) =>
    nbf === undefined
      ? undefined
      : !numeric(nbf)
        ? 'claim_invalid_nbf'
        : nbf > nowSeconds + issuer.clockSkewSeconds
          ? 'token_not_yet_valid'
          : undefined,
  iat: ({ payload: { iat }, issuer, nowSeconds }) =>
    iat === undefined
      ? 'claim_missing_iat'
      : !numeric(iat) || iat > nowSeconds + issuer.clockSkewSeconds
        ? 'claim_invalid_iat'
        : undefined,
  lifetime: ({ payload: { exp, iat }, issuer }) =>
    numeric(exp) && numeric(iat) && exp - iat > issuer.maxTokenLifetimeSeconds
      ? 'token_lifetime_too_long'
      : undefined,
  sub: ({ payload: { sub } }) =>
    sub === undefined
      ? 'claim_missing_sub'
      : typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUB_LENGTH
        ? 'claim_invalid_sub'
        : undefined,
  kubernetes_identity: ({ payload }) => kubernetesFailure(payload.sub, payload['kubernetes.io']),
}

/** The order `explain` lists the checks in. */
const EXPLAIN_ORDER: readonly ClaimCheckName[] = [
  'shape',
  'iss',
  'aud',
  'exp',
  'nbf',
  'iat',
  'lifetime',
  'sub',
  'kubernetes_identity',
]

/**
 * The checks the validator applies itself, in the order it applies them: jose has already
 * checked `iss`, `aud`, `exp` and `nbf` (and that every registered claim is present).
 */
const VALIDATOR_ORDER: readonly ClaimCheckName[] = ['shape', 'sub', 'iat', 'lifetime', 'kubernetes_identity']

/** The validator's decision: the reason of the first of its checks that fails, or undefined. */
export const firstClaimFailure = (input: ClaimCheckInput): string | undefined => {
  for (const check of VALIDATOR_ORDER) {
    const failure = CHECKS[check](input)
    if (failure !== undefined) return failure
  }
  return undefined
}

/** Every claim check of a token whose signature verified, each on its own, for `explain`. */
export const explainClaimChecks = (input: ClaimCheckInput): ClaimCheck[] =>
  EXPLAIN_ORDER.map((check) => {
    const failure = CHECKS[check](input)
    return failure === undefined ? { check, passed: true } : { check, passed: false, reason: failure }
  })
