// The decision trace `explain` answers (POST /v1/admin/explain), made from an evaluation: what
// the credentials route would decide for the token and role, and why, without issuing anything.
// A module of its own, imported by the admin function only.
import type { Exchange } from './exchange.js'
import type { Evaluation, EvaluationRequest } from './exchange-evaluate.js'
import type { Issuer } from './model.js'
import type { SessionTags } from './session.js'
import type { VerificationAttempt } from './verify.js'

export interface Decision {
  decision: 'allow' | 'deny'
  code?: string
  reason?: string
  iss?: string
  issuerId?: string
  sub?: string
  /** Every registered issuer whose `issuer` equals the token's `iss`, enabled or not, in the order tried. */
  issuersSharingIss?: string[]
  /** What each of them did with the token, up to the one that decided. */
  candidates: VerificationAttempt[]
  bindings: {
    bindingId: string
    profile: string
    roleArn: string
    matched: boolean
    failedRule?: string
    detail?: string
  }[]
  selected?: {
    bindingId: string
    profile: string
    roleArn: string
    sessionName: string
    /** What AWS records as the session's source identity; null in passthrough mode, with why. */
    sourceIdentity: string | null
    sourceIdentityNote?: string
    sessionTags: SessionTags
    durationSeconds: number
    mode: Issuer['mode']
  }
}

/** Why a passthrough session has no source identity (docs/security.md, incident runbook). */
export const PASSTHROUGH_SOURCE_IDENTITY_NOTE =
  "passthrough mode: STS gets the workload's own token, which the broker cannot add a source identity (or session tags) to; the session has one only if the data plane's token carries the https://aws.amazon.com/source_identity claim itself, and a revocation's deny policy can only end every older session of the role"

export const traceOf = (evaluation: Evaluation): Decision => {
  const { iss, issuersSharingIss, issuer, claims } = evaluation
  return {
    decision: evaluation.decision,
    ...(evaluation.decision === 'deny'
      ? { code: evaluation.error.code, reason: evaluation.error.reason }
      : {}),
    ...(iss === undefined ? {} : { iss }),
    ...(issuer ? { issuerId: issuer.issuerId } : {}),
    ...(claims ? { sub: claims.sub } : {}),
    ...(issuersSharingIss ? { issuersSharingIss } : {}),
    candidates: [...evaluation.attempts],
    bindings: evaluation.bindings.map(({ binding, matched, failedRule, detail }) => ({
      bindingId: binding.bindingId,
      profile: binding.profile,
      roleArn: binding.roleArn,
      matched,
      ...(failedRule ? { failedRule } : {}),
      ...(detail ? { detail } : {}),
    })),
    ...(evaluation.decision === 'allow'
      ? {
          selected: {
            bindingId: evaluation.selected.bindingId,
            profile: evaluation.selected.profile,
            roleArn: evaluation.selected.roleArn,
            sessionName: evaluation.session.sessionName,
            ...(evaluation.issuer.mode === 'broker'
              ? { sourceIdentity: evaluation.session.sourceIdentity }
              : { sourceIdentity: null, sourceIdentityNote: PASSTHROUGH_SOURCE_IDENTITY_NOTE }),
            sessionTags: evaluation.session.sessionTags,
            durationSeconds: evaluation.durationSeconds,
            mode: evaluation.issuer.mode,
          },
        }
      : {}),
  }
}

/** The trace of what `exchange` would decide for this token and role, afresh, issuing nothing. */
export const explain = async (
  exchange: Pick<Exchange, 'decide'>,
  request: EvaluationRequest,
): Promise<Decision> => traceOf(await exchange.decide(request, { explain: true }))
