// The webhook's request → answer function (dataplane/adapters/admission-handler.ts) over
// generated input: whatever the body, the answer is a 200 AdmissionReview or a 400
// MalformedAdmissionReview — never another status, never an exception; whatever the pod inside
// a well-formed review, the answer is allowed, for that uid.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createAdmissionHandler } from '../../../dataplane/adapters/admission-handler.js'
import type { ServiceAccountLookup } from '../../../dataplane/adapters/serviceaccount-view.js'
import { WebhookRequestError } from '../../../dataplane/adapters/webhook-errors.js'
import { parseWebhookSettings } from '../../../dataplane/core/index.js'
import { podReview } from '../../support/webhook-client.js'

const parsed = parseWebhookSettings({
  brokerUrl: 'https://broker.example.com',
  audience: 'irsa-broker',
  tokenExpirationSeconds: 3600,
  agentImage: 'registry.example.com/irsa-broker/agent:0.1.0',
  ownNamespace: 'irsa-broker',
})
if (!parsed.ok) throw new Error(parsed.message)

/** The view's port: every ServiceAccount is annotated with a role, or the API is down. */
const lookups: ServiceAccountLookup[] = [
  {
    status: 'found',
    annotations: { 'irsa-broker.io/role': 'ml-reader', 'irsa-broker.io/profiles': 'true' },
    source: 'cache',
  },
  { status: 'not-found' },
  { status: 'unavailable', detail: 'connection refused' },
]

const handlerFor = (lookup: ServiceAccountLookup) =>
  createAdmissionHandler({
    settings: parsed.settings,
    serviceAccounts: { lookup: async () => lookup },
    rules: () => [],
    log: { info: () => {}, error: () => {} },
  })

const route = { namespaceInjection: true, label: 'mutate_namespace' as const }

/** 200 with the answer's body, or the status of the refusal; anything else thrown fails the property. */
const answer = async (handle: ReturnType<typeof handlerFor>, body: string) => {
  try {
    return { status: 200, body: JSON.parse(await handle(body, route, Date.now() + 4_000)) }
  } catch (error) {
    if (!(error instanceof WebhookRequestError)) throw error
    return { status: error.status, code: error.code }
  }
}

describe('admission handler over generated input', () => {
  it('answers any body with a 200 AdmissionReview or a 400 MalformedAdmissionReview', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc
            .jsonValue()
            .map((value) =>
              JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: value }),
            ),
        ),
        fc.constantFrom(...lookups),
        async (body, lookup) => {
          const result = await answer(handlerFor(lookup), body)
          expect(
            result.status === 200 || (result.status === 400 && result.code === 'MalformedAdmissionReview'),
          ).toBe(true)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('answers a well-formed review allowed, for its uid, whatever the pod object holds', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue(),
          fc.record({
            metadata: fc.oneof(
              fc.jsonValue(),
              fc.record({ annotations: fc.dictionary(fc.string(), fc.jsonValue()) }),
            ),
            spec: fc.oneof(
              fc.jsonValue(),
              fc.record({
                serviceAccountName: fc.oneof(fc.string(), fc.jsonValue()),
                containers: fc.oneof(
                  fc.jsonValue(),
                  fc.array(fc.record({ name: fc.jsonValue(), env: fc.jsonValue() })),
                ),
                initContainers: fc.jsonValue(),
                volumes: fc.jsonValue(),
              }),
            ),
          }),
        ),
        fc.uuid(),
        fc.boolean(),
        fc.constantFrom(...lookups),
        async (object, uid, dryRun, lookup) => {
          const review = podReview(object as Record<string, unknown>, { uid, dryRun })
          const result = await answer(handlerFor(lookup), JSON.stringify(review))
          expect(result.status).toBe(200)
          expect(result.body).toMatchObject({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: { uid, allowed: true },
          })
        },
      ),
      { numRuns: 500 },
    )
  })
})
