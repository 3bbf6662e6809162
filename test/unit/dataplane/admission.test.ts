// AdmissionReview v1 in and out (research webhook-anchors.md §7 row 1): what is malformed (the
// server answers 400), what the answer echoes, when it carries a patch.
import { describe, expect, it } from 'vitest'
import {
  type AdmissionReview,
  admissionResponse,
  type JsonPatchAdd,
  parseAdmissionReview,
  planPodMutation,
  podMutationInput,
  serviceAccountToLookUp,
} from '../../../dataplane/core/index.js'
import { container, podOf, ROLE_SA, SETTINGS } from './fixtures.js'

const POD = podOf({ containers: [container('app')] })

const reviewBody = (request: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    requestKind: { group: '', version: 'v1', kind: 'Pod' },
    name: '',
    namespace: 'team-a',
    operation: 'CREATE',
    userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: [] },
    object: POD,
    oldObject: null,
    dryRun: false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    ...request,
  },
  ...top,
})

const parsed = (body: unknown): AdmissionReview => {
  const result = parseAdmissionReview(body)
  if (!result.ok) throw new Error(result.message)
  return result.review
}

describe('parseAdmissionReview', () => {
  it('reads a v1 review as the API server sends it, and its JSON text the same', () => {
    const body = reviewBody()
    const review = parsed(body)
    expect(review.request).toEqual({
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      subResource: '',
      namespace: 'team-a',
      name: '',
      operation: 'CREATE',
      dryRun: false,
      object: POD,
    })
    expect(parsed(JSON.stringify(body))).toEqual(review)
  })

  it.each([
    ['text that is not JSON', '{"apiVersion":', 'the body is not JSON'],
    ['an array', [], 'the body is not a JSON object'],
    ['null', null, 'the body is not a JSON object'],
    [
      'a v1beta1 review',
      reviewBody({}, { apiVersion: 'admission.k8s.io/v1beta1' }),
      'apiVersion must be admission.k8s.io/v1 (admissionReviewVersions: [v1])',
    ],
    [
      'no apiVersion',
      { kind: 'AdmissionReview', request: {} },
      'apiVersion must be admission.k8s.io/v1 (admissionReviewVersions: [v1])',
    ],
    ['another kind', reviewBody({}, { kind: 'ConversionReview' }), 'kind must be AdmissionReview'],
    ['request null', reviewBody({}, { request: null }), 'request must be an object'],
    [
      'no request',
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' },
      'request must be an object',
    ],
    ['no uid', reviewBody({ uid: undefined }), 'request.uid must be a non-empty string'],
    ['an empty uid', reviewBody({ uid: '' }), 'request.uid must be a non-empty string'],
    ['a numeric uid', reviewBody({ uid: 7 }), 'request.uid must be a non-empty string'],
    ['a 10 KB uid', reviewBody({ uid: 'u'.repeat(10_000) }), 'request.uid must be a non-empty string'],
    ['no operation', reviewBody({ operation: undefined }), 'request.operation must be a string'],
    [
      'a kind without version',
      reviewBody({ kind: { kind: 'Pod' } }),
      'request.kind must be {group, version, kind}',
    ],
    [
      'a numeric namespace',
      reviewBody({ namespace: 5 }),
      'request.namespace, name and subResource must be strings',
    ],
    ['dryRun "true"', reviewBody({ dryRun: 'true' }), 'request.dryRun must be a boolean'],
  ])('refuses %s as malformed (400), without echoing the body', (_name, body, message) => {
    expect(parseAdmissionReview(body)).toEqual({ ok: false, message })
  })

  it('takes a missing namespace, name, subResource and dryRun as empty and false', () => {
    const review = parsed(
      reviewBody({ namespace: undefined, name: undefined, dryRun: undefined, kind: undefined }),
    )
    expect(review.request).toMatchObject({
      namespace: '',
      name: '',
      subResource: '',
      dryRun: false,
      kind: undefined,
    })
  })
})

describe('admissionResponse', () => {
  const review = parsed(reviewBody())
  const patch: JsonPatchAdd[] = [{ op: 'add', path: '/metadata/annotations', value: { a: 'é' } }]

  it('echoes apiVersion and kind, copies the uid, and carries the patch as base64 JSON with patchType', () => {
    const answer = admissionResponse(review, { patch, warnings: [] })
    expect(answer).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
      },
    })
    expect(JSON.parse(Buffer.from(answer.response.patch ?? '', 'base64').toString('utf8'))).toEqual(patch)
  })

  it('has neither patch nor patchType when there is nothing to add, and carries warnings', () => {
    const answer = admissionResponse(review, { patch: [], warnings: ['w'] })
    expect(answer.response).toEqual({ uid: review.request.uid, allowed: true, warnings: ['w'] })
  })

  it('names the role and profiles in auditAnnotations when the pod was wired', () => {
    const answer = admissionResponse(review, {
      patch,
      warnings: [],
      role: 'ml-reader',
      profiles: true,
      outcome: 'mutated',
    })
    expect(answer.response.auditAnnotations).toEqual({ role: 'ml-reader', profiles: 'true' })
    expect(
      admissionResponse(review, { patch: [], warnings: [], role: 'ml-reader' }).response.auditAnnotations,
    ).toBeUndefined()
  })

  it('answers a dry run exactly as the real request', () => {
    const real = parsed(reviewBody())
    const dry = parsed(reviewBody({ dryRun: true }))
    const answer = (r: AdmissionReview) =>
      admissionResponse(
        r,
        planPodMutation(
          podMutationInput(r, { serviceAccount: ROLE_SA, namespaceInjection: false, rules: [] }),
          SETTINGS,
        ),
      )
    expect(answer(dry)).toEqual(answer(real))
    expect(answer(real).response.patchType).toBe('JSONPatch')
  })

  it.each([
    ['an UPDATE', { operation: 'UPDATE', oldObject: POD }],
    ['a non-Pod object', { kind: { group: '', version: 'v1', kind: 'ConfigMap' }, object: { data: {} } }],
  ])('allows %s with no patch', (_name, request) => {
    const r = parsed(reviewBody(request))
    const result = planPodMutation(
      podMutationInput(r, { serviceAccount: ROLE_SA, namespaceInjection: true, rules: [] }),
      SETTINGS,
    )
    expect(admissionResponse(r, result).response).toEqual({ uid: r.request.uid, allowed: true })
  })
})

describe('podMutationInput', () => {
  it('takes the namespace from the request, else from the pod, and passes kind and subResource', () => {
    const withPodNamespace = { ...POD, metadata: { namespace: 'team-b' } }
    const input = podMutationInput(parsed(reviewBody({ namespace: '', object: withPodNamespace })), {
      serviceAccount: undefined,
      namespaceInjection: true,
      rules: [],
    })
    expect(input).toMatchObject({
      namespace: 'team-b',
      operation: 'CREATE',
      dryRun: false,
      subResource: '',
      namespaceInjection: true,
    })
  })
})

describe('serviceAccountToLookUp', () => {
  const lookup = (request: Record<string, unknown>) =>
    serviceAccountToLookUp(parsed(reviewBody(request)), SETTINGS)

  it("names the pod's ServiceAccount in the request namespace", () => {
    expect(lookup({})).toEqual({ namespace: 'team-a', name: 'app' })
  })

  it('names "default" for a pod without serviceAccountName', () => {
    expect(lookup({ object: { spec: { containers: [] } } })).toEqual({ namespace: 'team-a', name: 'default' })
  })

  it.each([
    ['an UPDATE', { operation: 'UPDATE' }],
    ['a subresource', { subResource: 'ephemeralcontainers' }],
    ['another kind', { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }],
    ['kube-system', { namespace: 'kube-system' }],
    ['the webhook namespace', { namespace: 'irsa-broker' }],
    [
      'an opted-out pod',
      { object: { metadata: { labels: { 'irsa-broker.io/inject': 'false' } }, spec: {} } },
    ],
    [
      'a mirror pod',
      { object: { metadata: { annotations: { 'kubernetes.io/config.mirror': 'x' } }, spec: {} } },
    ],
    [
      'a ServiceAccount name that cannot be one',
      { object: { spec: { serviceAccountName: '../../secrets' } } },
    ],
    ['a namespace that cannot be one', { namespace: 'Team_A' }],
    ['an object that is not a pod', { object: 'x' }],
  ])('names none for %s (no lookup)', (_name, request) => {
    expect(lookup(request)).toBeUndefined()
  })
})
