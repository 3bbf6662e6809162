// AdmissionReview `admission.k8s.io/v1` in and out. Anything that is not a v1 review with a
// request and a uid is malformed (the server answers HTTP 400); everything else is answered
// `allowed: true`, with a patch only when there is one. The answer echoes apiVersion and kind:
// the API server refuses an answer without them (the public pod-identity webhook's #225).
import { isRecord, type JsonPatchAdd, type JsonRecord, member, stringMember } from './json.js'
import type { GroupVersionKind, PodMutationInput, PodMutationResult } from './mutation.js'
import { INJECT_LABEL, MIRROR_POD_ANNOTATION, OPT_OUT_VALUE, SYSTEM_NAMESPACES } from './names.js'
import type { WebhookSettings } from './settings.js'

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1'
export const ADMISSION_KIND = 'AdmissionReview'

export interface AdmissionRequest {
  uid: string
  kind: GroupVersionKind | undefined
  subResource: string
  /** '' for cluster-scoped objects. */
  namespace: string
  /** Often '' for pods made by controllers (only generateName is set). */
  name: string
  operation: string
  dryRun: boolean
  object: unknown
}

export interface AdmissionReview {
  apiVersion: typeof ADMISSION_API_VERSION
  kind: typeof ADMISSION_KIND
  request: AdmissionRequest
}

export type ParsedReview = { ok: true; review: AdmissionReview } | { ok: false; message: string }

export interface AdmissionAnswer {
  apiVersion: typeof ADMISSION_API_VERSION
  kind: typeof ADMISSION_KIND
  response: {
    uid: string
    allowed: true
    patchType?: 'JSONPatch'
    /** Base64 of the JSON Patch document. */
    patch?: string
    warnings?: string[]
    auditAnnotations?: Record<string, string>
  }
}

const MAX_UID_LENGTH = 256
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

const malformed = (message: string): ParsedReview => ({ ok: false, message })

const optionalString = (record: JsonRecord, key: string): string | false => {
  const value = member(record, key)
  if (value === undefined || value === null) return ''
  return typeof value === 'string' ? value : false
}

const groupVersionKind = (value: unknown): GroupVersionKind | undefined | false => {
  if (value === undefined || value === null) return undefined
  if (!isRecord(value)) return false
  const group = stringMember(value, 'group') ?? ''
  const version = stringMember(value, 'version')
  const kind = stringMember(value, 'kind')
  return version === undefined || kind === undefined ? false : { group, version, kind }
}

/** `body` is the parsed JSON (or its text). Never throws; messages never echo the body. */
export const parseAdmissionReview = (body: unknown): ParsedReview => {
  let document = body
  if (typeof body === 'string') {
    try {
      document = JSON.parse(body)
    } catch {
      return malformed('the body is not JSON')
    }
  }
  if (!isRecord(document)) return malformed('the body is not a JSON object')
  if (member(document, 'apiVersion') !== ADMISSION_API_VERSION)
    return malformed(`apiVersion must be ${ADMISSION_API_VERSION} (admissionReviewVersions: [v1])`)
  if (member(document, 'kind') !== ADMISSION_KIND) return malformed(`kind must be ${ADMISSION_KIND}`)
  const request = member(document, 'request')
  if (!isRecord(request)) return malformed('request must be an object')
  const uid = member(request, 'uid')
  if (typeof uid !== 'string' || uid === '' || uid.length > MAX_UID_LENGTH)
    return malformed('request.uid must be a non-empty string')
  const operation = member(request, 'operation')
  if (typeof operation !== 'string') return malformed('request.operation must be a string')
  const kind = groupVersionKind(member(request, 'kind'))
  if (kind === false) return malformed('request.kind must be {group, version, kind}')
  const namespace = optionalString(request, 'namespace')
  const name = optionalString(request, 'name')
  const subResource = optionalString(request, 'subResource')
  if (namespace === false || name === false || subResource === false)
    return malformed('request.namespace, name and subResource must be strings')
  const dryRun = member(request, 'dryRun') ?? false
  if (typeof dryRun !== 'boolean') return malformed('request.dryRun must be a boolean')
  return {
    ok: true,
    review: {
      apiVersion: ADMISSION_API_VERSION,
      kind: ADMISSION_KIND,
      request: {
        uid,
        kind,
        subResource,
        namespace,
        name,
        operation,
        dryRun,
        object: member(request, 'object'),
      },
    },
  }
}

/** The parts of a mutation result the answer carries. */
export type AnswerableResult = Pick<PodMutationResult, 'patch' | 'warnings'> &
  Partial<Pick<PodMutationResult, 'outcome' | 'role' | 'profiles'>>

const encodePatch = (patch: readonly JsonPatchAdd[]): string =>
  Buffer.from(JSON.stringify(patch), 'utf8').toString('base64')

/** The AdmissionReview answer: always allowed; a patch (and patchType) only when non-empty. */
export const admissionResponse = (review: AdmissionReview, result: AnswerableResult): AdmissionAnswer => {
  const mutated = result.patch.length > 0
  // The API server prefixes each key with the webhook's name in the audit log.
  const auditAnnotations: Record<string, string> = {}
  if (mutated && result.role !== undefined) auditAnnotations.role = result.role
  if (mutated && result.profiles) auditAnnotations.profiles = 'true'
  return {
    apiVersion: review.apiVersion,
    kind: review.kind,
    response: {
      uid: review.request.uid,
      allowed: true,
      ...(mutated ? { patchType: 'JSONPatch' as const, patch: encodePatch(result.patch) } : {}),
      ...(result.warnings.length > 0 ? { warnings: [...result.warnings] } : {}),
      ...(Object.keys(auditAnnotations).length > 0 ? { auditAnnotations } : {}),
    },
  }
}

/** The pod's namespace: `request.namespace`, else the pod's own (objects often arrive without it). */
const namespaceOf = (request: AdmissionRequest): string => {
  if (request.namespace) return request.namespace
  const metadata = isRecord(request.object) ? member(request.object, 'metadata') : undefined
  return (isRecord(metadata) && stringMember(metadata, 'namespace')) || ''
}

const isPodCreate = (request: AdmissionRequest): boolean =>
  request.operation === 'CREATE' &&
  request.subResource === '' &&
  (request.kind === undefined ||
    (request.kind.group === '' && request.kind.version === 'v1' && request.kind.kind === 'Pod'))

/**
 * The ServiceAccount the server should look up before planning, or undefined when the request
 * will not be wired whatever the ServiceAccount says (not a pod CREATE, a system or the webhook's
 * own namespace, a pod that opted out): no lookup, no API call for those.
 */
export const serviceAccountToLookUp = (
  review: AdmissionReview,
  settings: Pick<WebhookSettings, 'ownNamespace'>,
): { namespace: string; name: string } | undefined => {
  const { request } = review
  if (!isPodCreate(request) || !isRecord(request.object)) return undefined
  const namespace = namespaceOf(request)
  if (namespace === '' || SYSTEM_NAMESPACES.includes(namespace) || namespace === settings.ownNamespace)
    return undefined
  const metadata = member(request.object, 'metadata')
  const labels = isRecord(metadata) ? member(metadata, 'labels') : undefined
  if (isRecord(labels) && stringMember(labels, INJECT_LABEL) === OPT_OUT_VALUE) return undefined
  const annotations = isRecord(metadata) ? member(metadata, 'annotations') : undefined
  if (isRecord(annotations) && Object.hasOwn(annotations, MIRROR_POD_ANNOTATION)) return undefined
  const spec = member(request.object, 'spec')
  const name = (isRecord(spec) && stringMember(spec, 'serviceAccountName')) || 'default'
  // Mutating webhooks run before the API server validates the object: a name that could not be
  // a ServiceAccount's is not looked up (the pod is planned as one whose ServiceAccount is unknown).
  return DNS_SUBDOMAIN.test(name) && DNS_LABEL.test(namespace) ? { namespace, name } : undefined
}

/** The mutation input for a review, with what the server found and the path it was called on. */
export const podMutationInput = (
  review: AdmissionReview,
  context: Pick<PodMutationInput, 'serviceAccount' | 'namespaceInjection' | 'rules'>,
): PodMutationInput => ({
  pod: review.request.object,
  namespace: namespaceOf(review.request),
  operation: review.request.operation,
  dryRun: review.request.dryRun,
  kind: review.request.kind,
  subResource: review.request.subResource,
  ...context,
})
