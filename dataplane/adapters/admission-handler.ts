// One AdmissionReview, from the request body to the answer body: parse (a malformed review is
// a 400), look the pod's ServiceAccount up in the view (bounded by the request's deadline),
// hand everything to the core's planPodMutation, answer with admissionResponse; one log line
// and one metric per review. No HTTP here, so property tests drive it directly.
import {
  admissionResponse,
  MAX_WARNING_LENGTH,
  type PodMutationResult,
  parseAdmissionReview,
  planPodMutation,
  podMutationInput,
  serviceAccountToLookUp,
  type WebhookRule,
  type WebhookSettings,
} from '../core/index.js'
import type { ServiceAccountLookup, ServiceAccountView } from './serviceaccount-view.js'
import { WebhookRequestError } from './webhook-errors.js'
import type { RouteLabel } from './webhook-metrics.js'

export interface AdmissionLog {
  info(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

export interface AdmissionHandlerOptions {
  settings: WebhookSettings
  /** The ServiceAccount view (only `lookup` is used here). */
  serviceAccounts: Pick<ServiceAccountView, 'lookup'>
  /** The rules in force now (the rules file is reloaded under the handler). */
  rules: () => readonly WebhookRule[]
  log: AdmissionLog
  mutation?: (outcome: string, route: RouteLabel) => void
  /** At most this long for the ServiceAccount lookup; default 2,000 ms. */
  lookupTimeoutMs?: number
}

export type AdmissionHandler = (
  body: string,
  route: { namespaceInjection: boolean; label: RouteLabel },
  deadline: number,
) => Promise<string>

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The pod's name, or its generateName prefix (controllers create pods without a name). */
const podName = (pod: unknown): string | undefined => {
  const metadata = isObject(pod) ? pod.metadata : undefined
  if (!isObject(metadata)) return undefined
  if (typeof metadata.name === 'string' && metadata.name !== '') return metadata.name
  if (typeof metadata.generateName === 'string' && metadata.generateName !== '') return metadata.generateName
  return undefined
}

/** A field for the log: a string from the caller, cut short (a log line is not a place for a pod). */
const short = (value: string | undefined) => (value === undefined ? undefined : value.slice(0, 253))

/** kubectl shows it; at most MAX_WARNING_LENGTH characters like the core's own. */
const unavailableWarning = (namespace: string, name: string) => {
  const warning = `ServiceAccount ${namespace}/${name} unreadable (Kubernetes API): its annotations were not applied`
  return warning.length <= MAX_WARNING_LENGTH
    ? warning
    : `ServiceAccount ${name} unreadable (Kubernetes API): its annotations were not applied`.slice(
        0,
        MAX_WARNING_LENGTH,
      )
}

export const createAdmissionHandler = (options: AdmissionHandlerOptions): AdmissionHandler => {
  const lookupTimeoutMs = options.lookupTimeoutMs ?? 2_000
  const { log } = options

  return async (body, route, deadline) => {
    const started = performance.now()
    const parsed = parseAdmissionReview(body)
    if (!parsed.ok) throw new WebhookRequestError('MalformedAdmissionReview', parsed.message)
    const { review } = parsed
    const request = review.request
    const pod = request.object

    // Only a pod the core may wire is looked up (not an UPDATE, kube-system, an opted-out pod…).
    const wanted = serviceAccountToLookUp(review, options.settings)
    let lookup: ServiceAccountLookup | undefined
    if (wanted) {
      const timeoutMs = Math.min(lookupTimeoutMs, deadline - Date.now())
      lookup =
        timeoutMs > 0
          ? await options.serviceAccounts.lookup(wanted.namespace, wanted.name, { timeoutMs })
          : { status: 'unavailable', detail: 'no time left for the lookup' }
    }

    let result: PodMutationResult
    try {
      result = planPodMutation(
        podMutationInput(review, {
          serviceAccount:
            wanted && lookup?.status === 'found'
              ? { name: wanted.name, annotations: { ...lookup.annotations } }
              : undefined,
          namespaceInjection: route.namespaceInjection,
          rules: options.rules(),
        }),
        options.settings,
      )
    } catch (error) {
      // planPodMutation never throws by contract; if it did, that is our bug, not the caller's:
      // a 500 lets the webhook's failurePolicy decide, and the detail goes to the log only.
      log.error('mutation failed', { uid: short(request.uid), namespace: short(request.namespace), error })
      throw new WebhookRequestError('InternalError', 'the mutation failed')
    }
    if (wanted && lookup?.status === 'unavailable')
      result = {
        ...result,
        warnings: [...result.warnings, unavailableWarning(wanted.namespace, wanted.name)],
      }

    const answer = JSON.stringify(admissionResponse(review, result))
    options.mutation?.(result.outcome, route.label)
    log.info('admission review', {
      uid: short(request.uid),
      namespace: short(wanted?.namespace ?? request.namespace),
      pod: short(podName(pod)),
      serviceAccount: short(wanted?.name),
      serviceAccountSource:
        lookup === undefined ? undefined : lookup.status === 'found' ? lookup.source : lookup.status,
      ...(lookup?.status === 'unavailable' ? { serviceAccountError: lookup.detail } : {}),
      operation: short(request.operation),
      dryRun: request.dryRun,
      route: route.label,
      outcome: result.outcome,
      reason: result.reason,
      role: result.role,
      profiles: result.profiles,
      selectedBy: result.selectedBy,
      ruleIndex: result.ruleIndex,
      patchOperations: result.patch.length,
      warnings: result.warnings.length,
      durationMs: Math.round((performance.now() - started) * 100) / 100,
    })
    return answer
  }
}
