// STUB — dropped when webhook-server rebases onto webhook-core's dataplane/core/ (issue 11).
// Only the signatures of the shared shape in the brief, with the least behaviour the program
// around them needs to run: no competing mutation implementation lives here.

import { parse as parseYaml } from 'yaml'

export type JsonPatchAdd = { op: 'add'; path: string; value: unknown }

export type WebhookRule = Readonly<Record<string, unknown>>

export interface WebhookSettings {
  brokerUrl: string
  audience: string
  tokenExpirationSeconds: number
  region?: string | undefined
  agentImage: string
  ownNamespace: string
}

export interface PodMutationInput {
  pod: unknown
  namespace: string
  operation: string
  dryRun: boolean
  serviceAccount: { name: string; annotations: Record<string, string> } | undefined
  namespaceInjection: boolean
  rules: readonly WebhookRule[]
}

export interface PodMutationResult {
  patch: JsonPatchAdd[]
  warnings: string[]
  outcome: 'mutated' | 'unchanged' | 'not-selected' | 'skipped'
  reason: string
  role?: string
  profiles: boolean
}

export interface AdmissionReview {
  apiVersion: string
  kind: string
  request: {
    uid: string
    namespace: string
    operation: string
    dryRun: boolean
    object: unknown
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

export const parseAdmissionReview = (
  text: unknown,
): { ok: true; review: AdmissionReview } | { ok: false; message: string } => {
  let body = text
  if (typeof text === 'string') {
    try {
      body = JSON.parse(text)
    } catch {
      return { ok: false, message: 'the body is not JSON' }
    }
  }
  if (!isObject(body) || body.kind !== 'AdmissionReview' || typeof body.apiVersion !== 'string')
    return { ok: false, message: 'not an AdmissionReview' }
  const request = body.request
  if (!isObject(request) || typeof request.uid !== 'string' || request.uid === '')
    return { ok: false, message: 'request.uid is missing' }
  return {
    ok: true,
    review: {
      apiVersion: body.apiVersion,
      kind: body.kind,
      request: {
        uid: request.uid,
        namespace: typeof request.namespace === 'string' ? request.namespace : '',
        operation: typeof request.operation === 'string' ? request.operation : '',
        dryRun: request.dryRun === true,
        object: request.object,
      },
    },
  }
}

export const admissionResponse = (review: AdmissionReview, result: PodMutationResult) => ({
  apiVersion: review.apiVersion,
  kind: review.kind,
  response: {
    uid: review.request.uid,
    allowed: true,
    ...(result.patch.length > 0
      ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(result.patch)).toString('base64') }
      : {}),
    ...(result.warnings.length > 0 ? { warnings: result.warnings } : {}),
  },
})

/** The stub wires nothing; it only says whether the ServiceAccount asked for a role. */
export const planPodMutation = (input: PodMutationInput, _settings: WebhookSettings): PodMutationResult => {
  const role = input.serviceAccount?.annotations['irsa-broker.io/role']
  return role === undefined
    ? { patch: [], warnings: [], outcome: 'not-selected', reason: 'stub', profiles: false }
    : { patch: [], warnings: [], outcome: 'unchanged', reason: 'stub', role, profiles: false }
}

export const parseWebhookRules = (
  text: string,
): { ok: true; rules: WebhookRule[] } | { ok: false; message: string } => {
  let document: unknown
  try {
    document = parseYaml(text)
  } catch {
    return { ok: false, message: 'the rules file is not YAML or JSON' }
  }
  if (document === null || document === undefined) return { ok: true, rules: [] }
  if (!isObject(document) || !Array.isArray(document.rules))
    return { ok: false, message: 'rules: expected a list' }
  return { ok: true, rules: document.rules }
}

/** The ServiceAccount to look up, or undefined when the review will not be wired anyway. */
export const serviceAccountToLookUp = (
  review: AdmissionReview,
  _settings: Pick<WebhookSettings, 'ownNamespace'>,
): { namespace: string; name: string } | undefined => {
  const pod = review.request.object
  if (review.request.operation !== 'CREATE' || !isObject(pod) || review.request.namespace === '')
    return undefined
  const spec = pod.spec
  const name = isObject(spec) && typeof spec.serviceAccountName === 'string' ? spec.serviceAccountName : ''
  return { namespace: review.request.namespace, name: name || 'default' }
}

export const podMutationInput = (
  review: AdmissionReview,
  context: Pick<PodMutationInput, 'serviceAccount' | 'namespaceInjection' | 'rules'>,
): PodMutationInput => ({
  pod: review.request.object,
  namespace: review.request.namespace,
  operation: review.request.operation,
  dryRun: review.request.dryRun,
  ...context,
})

export const MAX_WARNING_LENGTH = 120

export const parseWebhookSettings = (
  input: unknown,
): { ok: true; settings: WebhookSettings } | { ok: false; message: string } => {
  const settings = input as WebhookSettings
  if (typeof settings.brokerUrl !== 'string' || !/^https:\/\/|^http:\/\/127\./.test(settings.brokerUrl))
    return { ok: false, message: 'brokerUrl: must be an https URL (plain http only to loopback)' }
  if (settings.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(settings.region))
    return { ok: false, message: 'region: must be an AWS region like eu-west-1' }
  return {
    ok: true,
    settings: Object.freeze({ ...settings, brokerUrl: settings.brokerUrl.replace(/\/+$/, '') }),
  }
}

export const MIN_TOKEN_EXPIRATION_SECONDS = 600
export const MAX_TOKEN_EXPIRATION_SECONDS = 86_400
export const DEFAULT_TOKEN_EXPIRATION_SECONDS = 3600
export const DEFAULT_AUDIENCE = 'irsa-broker'
