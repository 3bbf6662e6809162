// Which of an issuer's bindings admit a verified workload, and which one a request selects.
// All rules of a binding must hold (subjects, claims, then the CEL condition); each rule's list
// is any-of; `*` globs as in IAM.
import { evaluateCondition } from './condition-run.js'
import { AccessDeniedError, InvalidParameterError } from './errors.js'
import { matchAnyGlob } from './glob.js'
import { parseJsonPointer, resolveJsonPointer } from './json-pointer.js'
import type { Binding, WorkloadClaims } from './model.js'
import { byCodeUnits } from './order.js'

export interface BindingEvaluation {
  binding: Binding
  matched: boolean
  /** The first rule that did not hold: `disabled`, `subjects`, `claims:<pointer>`, `condition`. */
  failedRule?: string
  /** For a failed `condition`: `false`, `not_bool`, `invalid_expression` or `error:<CEL error code>`. */
  detail?: string
}

/** A claim value matches when it is a scalar that matches, or an array with an element that does. */
const claimMatches = (value: unknown, patterns: readonly string[]): boolean => {
  if (typeof value === 'string') return matchAnyGlob(patterns, value)
  if (typeof value === 'number' || typeof value === 'boolean') return matchAnyGlob(patterns, String(value))
  if (Array.isArray(value))
    return value.some((element) => !Array.isArray(element) && claimMatches(element, patterns))
  return false
}

export const evaluateBinding = (binding: Binding, claims: WorkloadClaims): BindingEvaluation => {
  if (!binding.enabled) return { binding, matched: false, failedRule: 'disabled' }
  if (binding.subjects && !matchAnyGlob(binding.subjects, claims.sub)) {
    return { binding, matched: false, failedRule: 'subjects' }
  }
  for (const [pointerText, patterns] of Object.entries(binding.claims ?? {})) {
    const pointer = parseJsonPointer(pointerText)
    if (!pointer || !claimMatches(resolveJsonPointer(claims, pointer), patterns)) {
      return { binding, matched: false, failedRule: `claims:${pointerText}` }
    }
  }
  if (binding.condition !== undefined) {
    const outcome = evaluateCondition(binding.condition, claims)
    if (!outcome.matched) return { binding, matched: false, failedRule: 'condition', detail: outcome.detail }
  }
  return { binding, matched: true }
}

/** Bindings by id, in the order of order.ts. */
export const byBindingId = (a: Binding, b: Binding): number => byCodeUnits(a.bindingId, b.bindingId)

export const evaluateBindings = (bindings: readonly Binding[], claims: WorkloadClaims): BindingEvaluation[] =>
  [...bindings].sort(byBindingId).map((binding) => evaluateBinding(binding, claims))

export const matchingBindings = (evaluations: readonly BindingEvaluation[]): Binding[] =>
  evaluations.filter((e) => e.matched).map((e) => e.binding)

/** Why no binding was selected: a closed set, each with the error the caller gets. */
export type SelectionFailure =
  | { reason: 'no_binding_matches'; error: AccessDeniedError }
  | { reason: 'role_ambiguous'; error: InvalidParameterError }
  | { reason: 'role_not_allowed'; error: AccessDeniedError }

export type Selection = { ok: true; binding: Binding } | ({ ok: false } & SelectionFailure)

/**
 * Picks the binding a request asks for: by profile or role ARN; or, with no `role`, the only
 * matching binding. Several bindings for the same role resolve to the first by bindingId.
 */
export const selectBinding = (matches: readonly Binding[], role: string | undefined): Selection => {
  if (role === undefined) {
    const [first] = matches
    if (!first)
      return {
        ok: false,
        reason: 'no_binding_matches',
        error: new AccessDeniedError('no_binding_matches', 'No enabled binding allows this workload.'),
      }
    const profiles = [...new Set(matches.map((b) => b.profile))].sort()
    if (profiles.length === 1) return { ok: true, binding: first }
    return {
      ok: false,
      reason: 'role_ambiguous',
      error: new InvalidParameterError(
        'role',
        `several roles are allowed; choose one of: ${profiles.join(', ')}`,
        'role_ambiguous',
      ),
    }
  }
  const selected = matches.find((b) => b.profile === role || b.roleArn === role)
  if (!selected)
    return { ok: false, reason: 'role_not_allowed', error: new AccessDeniedError('role_not_allowed') }
  return { ok: true, binding: selected }
}
