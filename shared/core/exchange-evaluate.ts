// The decision of the credential exchange, before anything is issued: read the token, find the
// issuers sharing its `iss`, verify it, evaluate the verifying issuer's bindings, select one. The
// answer is a value (allowed, or denied with a reason from a closed set) carrying what each step
// found, from which the trace (exchange-trace.ts) and the audit line (exchange-audit.ts) are made.
import {
  type BindingEvaluation,
  byBindingId,
  evaluateBindings,
  matchingBindings,
  type SelectionFailure,
  selectBinding,
} from './bindings.js'
import { AccessDeniedError, type BrokerError, InternalError, isBrokerError } from './errors.js'
import type { Binding, Issuer, WorkloadClaims } from './model.js'
import type { Clock, RegistryReader } from './ports.js'
import { revocationOf } from './revocations.js'
import type { RenderedSession, SessionMemo } from './session-memo.js'
import type {
  PresentedToken,
  VerificationAttempt,
  VerificationResult,
  WorkloadTokenVerifier,
} from './verify.js'

/**
 * Why an evaluation denied, by the step that decided. The error the caller gets (and its
 * `reason`, which the audit line and the trace show) comes with it.
 */
export type DenyReason =
  /** The token was refused before any registry read: missing, too large, malformed, no `iss`. */
  | 'token_unreadable'
  /** The issuers with the token's `iss` could not be read (a dependency failed). */
  | 'issuer_lookup_failed'
  /** No candidate verified the token, or the one that did refused its claims. */
  | 'token_not_verified'
  /** The verifying issuer's bindings could not be read. */
  | 'binding_lookup_failed'
  /** A revocation of the issuer covers this token (issued before its notBefore): revocations.ts. */
  | 'revoked'
  | SelectionFailure['reason']

/**
 * Denials of a token known to be valid, for which no role was selected: a roles request answers
 * them with the roles that matched (none, or several) instead of an error. Exhaustive, so a new
 * reason has to say whether it is listable.
 */
const LISTABLE: Readonly<Record<DenyReason, boolean>> = {
  token_unreadable: false,
  issuer_lookup_failed: false,
  token_not_verified: false,
  binding_lookup_failed: false,
  revoked: false,
  no_binding_matches: true,
  role_ambiguous: true,
  role_not_allowed: false,
}

export const isListable = (reason: DenyReason): boolean => LISTABLE[reason]

/** What the evaluation found out, step by step, up to the step that decided. */
export interface Findings {
  /** The token's unverified `iss`, cut to what a log line shows. */
  iss?: string
  /** Every registered issuer with that `iss`, enabled or not, by issuerId. */
  issuersSharingIss?: string[]
  /** What each candidate did with the token, up to the one that decided. */
  attempts: readonly VerificationAttempt[]
  /** The issuer whose key verified the token, and the claims it verified. */
  issuer?: Issuer
  claims?: WorkloadClaims
  /** Each binding of that issuer, in bindingId order, with the rule that failed. */
  bindings: readonly BindingEvaluation[]
  matches: readonly Binding[]
}

export interface Denied extends Findings {
  decision: 'deny'
  reason: DenyReason
  error: BrokerError
}

export interface Allowed extends Findings {
  decision: 'allow'
  issuer: Issuer
  claims: WorkloadClaims
  selected: Binding
  session: RenderedSession
  /** What the request asked for, never more than the binding allows. */
  durationSeconds: number
}

export type Evaluation = Denied | Allowed

export interface EvaluationRequest {
  token: unknown
  role?: string | undefined
  durationSeconds?: number | undefined
}

export interface EvaluatorDeps {
  registry: RegistryReader
  verifier: WorkloadTokenVerifier
  clock: Clock
  sessions: SessionMemo
}

const MAX_LOGGED_ISS = 256

const NOTHING_FOUND: Findings = Object.freeze({ attempts: [], bindings: [], matches: [] })

export const asBrokerError = (error: unknown): BrokerError =>
  isBrokerError(error) ? error : new InternalError('unexpected_error', { cause: error })

const denied = (reason: DenyReason, error: unknown, findings: Findings): Denied => ({
  ...findings,
  decision: 'deny',
  reason,
  error: asBrokerError(error),
})

/**
 * The bindings to evaluate for a token with subject `sub`: by index on the request path (those
 * naming `sub` and the pattern bindings, shared/core/binding-index.ts), every one for `explain`,
 * whose trace shows why each other binding does not match. In bindingId order either way.
 */
const candidatesOf = async (
  registry: RegistryReader,
  issuerId: string,
  sub: string,
  explain: boolean,
): Promise<Binding[]> => {
  if (explain) return registry.listBindings(issuerId)
  const [exact, patterns] = await Promise.all([
    registry.bindingsForSubject(issuerId, sub),
    registry.patternBindings(issuerId),
  ])
  const byId = new Map<string, Binding>()
  for (const binding of [...exact, ...patterns]) byId.set(binding.bindingId, binding)
  return [...byId.values()].sort(byBindingId)
}

/** The evaluation of a request: `explain` reads and verifies afresh and lists every claim check. */
export const createEvaluator =
  (deps: EvaluatorDeps) =>
  async (request: EvaluationRequest, explain = false): Promise<Evaluation> => {
    let presented: PresentedToken
    try {
      presented = deps.verifier.read(request.token, { explain })
    } catch (error) {
      return denied('token_unreadable', error, NOTHING_FOUND)
    }
    const iss = presented.iss.slice(0, MAX_LOGGED_ISS)
    let candidates: Issuer[]
    try {
      candidates = await deps.registry.findIssuersByIss(presented.iss)
    } catch (error) {
      return denied('issuer_lookup_failed', error, { ...NOTHING_FOUND, iss })
    }
    const issuersSharingIss = candidates.map((issuer) => issuer.issuerId).sort()
    let result: VerificationResult
    try {
      result = await deps.verifier.verify(presented, candidates, deps.clock.now(), { explain })
    } catch (error) {
      return denied('token_not_verified', error, { ...NOTHING_FOUND, iss, issuersSharingIss })
    }
    const { attempts } = result
    if (!result.ok)
      return denied('token_not_verified', result.error, {
        ...NOTHING_FOUND,
        iss,
        issuersSharingIss,
        attempts,
      })
    const { issuer, claims } = result
    const verified = { iss, issuersSharingIss, attempts, issuer, claims }
    let bindings: BindingEvaluation[]
    try {
      bindings = evaluateBindings(
        await candidatesOf(deps.registry, issuer.issuerId, claims.sub, explain),
        claims,
      )
    } catch (error) {
      return denied('binding_lookup_failed', error, { ...NOTHING_FOUND, ...verified })
    }
    const matching = matchingBindings(bindings)
    // Before a binding is chosen (and so before any cached credential): a binding whose
    // revocation covers this token does not count; when it was the one that would have been
    // chosen, the answer says `revoked` rather than that nothing matched.
    const matches = matching.filter((binding) => !revocationOf(issuer.revocations, claims, binding.bindingId))
    const selection = selectBinding(matches, request.role)
    if (!selection.ok)
      return matches.length < matching.length &&
        (matches.length === 0 || selectBinding(matching, request.role).ok)
        ? denied('revoked', new AccessDeniedError('revoked'), { ...verified, bindings, matches })
        : denied(selection.reason, selection.error, { ...verified, bindings, matches })
    const selected = selection.binding
    return {
      decision: 'allow',
      ...verified,
      bindings,
      matches,
      selected,
      session: deps.sessions.sessionOf(selected, claims),
      durationSeconds: Math.min(
        request.durationSeconds ?? selected.durationSeconds,
        selected.durationSeconds,
      ),
    }
  }
