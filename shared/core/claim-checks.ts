// Every claim check of DESIGN §4, each evaluated on its own, for `explain`: the validator stops
// at the first failure, an operator wants to see them all. Reasons are the audit log's codes.
import { checkJsonShape } from './limits.js'
import type { Issuer } from './model.js'

export interface ClaimCheck {
  check: 'shape' | 'iss' | 'aud' | 'exp' | 'nbf' | 'iat' | 'lifetime' | 'sub' | 'kubernetes_identity'
  passed: boolean
  /** The audit reason code this check fails with. */
  reason?: string
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const MAX_SUB_LENGTH = 1024

const result = (check: ClaimCheck['check'], failure: string | undefined): ClaimCheck =>
  failure === undefined ? { check, passed: true } : { check, passed: false, reason: failure }

const audienceFailure = (aud: unknown, audiences: readonly string[]): string | undefined => {
  if (aud === undefined) return 'claim_missing_aud'
  const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
  return list.some((entry) => typeof entry === 'string' && audiences.includes(entry))
    ? undefined
    : 'claim_invalid_aud'
}

const kubernetesFailure = (sub: unknown, k8s: unknown): string | undefined => {
  if (typeof sub !== 'string' || !sub.startsWith('system:serviceaccount:') || !isObject(k8s)) return undefined
  const name = isObject(k8s.serviceaccount) ? k8s.serviceaccount.name : undefined
  if (typeof k8s.namespace !== 'string' || typeof name !== 'string') return undefined
  return sub === `system:serviceaccount:${k8s.namespace}:${name}`
    ? undefined
    : 'claim_inconsistent_kubernetes_identity'
}

/** The claim checks of a token whose signature verified, for `issuer`, at `nowSeconds`. */
export const explainClaimChecks = (
  payload: Record<string, unknown>,
  issuer: Issuer,
  nowSeconds: number,
): ClaimCheck[] => {
  const skew = issuer.clockSkewSeconds
  const { iss, aud, exp, nbf, iat, sub } = payload
  const numeric = (value: unknown) => typeof value === 'number' && Number.isFinite(value)
  return [
    result('shape', checkJsonShape(payload)),
    result(
      'iss',
      iss === undefined ? 'claim_missing_iss' : iss === issuer.issuer ? undefined : 'claim_invalid_iss',
    ),
    result('aud', audienceFailure(aud, issuer.audiences)),
    result(
      'exp',
      exp === undefined
        ? 'claim_missing_exp'
        : !numeric(exp)
          ? 'claim_invalid_exp'
          : (exp as number) <= nowSeconds - skew
            ? 'token_expired'
            : undefined,
    ),
    result(
      'nbf',
      nbf === undefined
        ? undefined
        : !numeric(nbf)
          ? 'claim_invalid_nbf'
          : (nbf as number) > nowSeconds + skew
            ? 'token_not_yet_valid'
            : undefined,
    ),
    result(
      'iat',
      iat === undefined
        ? 'claim_missing_iat'
        : !numeric(iat) || (iat as number) > nowSeconds + skew
          ? 'claim_invalid_iat'
          : undefined,
    ),
    result(
      'lifetime',
      numeric(exp) && numeric(iat) && (exp as number) - (iat as number) > issuer.maxTokenLifetimeSeconds
        ? 'token_lifetime_too_long'
        : undefined,
    ),
    result(
      'sub',
      sub === undefined
        ? 'claim_missing_sub'
        : typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUB_LENGTH
          ? 'claim_invalid_sub'
          : undefined,
    ),
    result('kubernetes_identity', kubernetesFailure(sub, payload['kubernetes.io'])),
  ]
}
