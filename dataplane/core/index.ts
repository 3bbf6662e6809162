// The pure core of `irsa-broker webhook` (docs/decisions.md, "Webhook"): plain data in, plain data
// out; no HTTP, no Kubernetes client, no file system, no environment. The server
// (dataplane/adapters, dataplane/webhook/main.ts) does the I/O around it:
//
//   const parsed = parseWebhookSettings({ brokerUrl, audience, tokenExpirationSeconds, region,
//                                         agentImage, agentExecutable, ownNamespace })  // once, at start
//   const rules = parseWebhookRules(fileText)            // at start and on every change of the file
//   // per POST /mutate (namespaceInjection = false) or /mutate/namespace (true):
//   const review = parseAdmissionReview(body)            // { ok: false, message } → HTTP 400
//   const lookup = serviceAccountToLookUp(review.review, settings)   // undefined → no lookup
//   const serviceAccount = lookup && (await view.get(lookup.namespace, lookup.name))
//   const result = planPodMutation(
//     podMutationInput(review.review, { serviceAccount, namespaceInjection, rules }), settings)
//   respond(200, admissionResponse(review.review, result))
//   // result.outcome / result.reason: a fixed set, for metrics and logs; result.role for the log.
//
// planPodMutation never throws and answers only JSON Patch `add` operations; warnings are at
// most 120 characters each and at most 10. The precedence of the inputs is in
// docs/decisions.md ("Webhook").
export {
  ADMISSION_API_VERSION,
  ADMISSION_KIND,
  type AdmissionAnswer,
  type AdmissionRequest,
  type AdmissionReview,
  type AnswerableResult,
  admissionResponse,
  type ParsedReview,
  parseAdmissionReview,
  podMutationInput,
  serviceAccountToLookUp,
} from './admission.js'
export { MAX_WARNING_LENGTH } from './annotations.js'
export { escapePointerToken, type JsonPatchAdd } from './json.js'
export type { LabelSelector, LabelSelectorRequirement } from './label-selector.js'
export {
  configureContainer,
  fullUri,
  type GroupVersionKind,
  MAX_WARNINGS,
  type MutationOutcome,
  type MutationReason,
  type PodMutationInput,
  type PodMutationResult,
  planPodMutation,
} from './mutation.js'
export * from './names.js'
export { type ParsedRules, parseWebhookRules, type WebhookRule } from './rules.js'
export type { SelectedBy } from './selection.js'
export { type ParsedSettings, parseWebhookSettings, type WebhookSettings } from './settings.js'
