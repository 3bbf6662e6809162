// Shared by the webhook core's tests: settings, pod builders, and `wire`, which plans a mutation
// and holds every patch to the generic property (test/support/pod-patch.ts): only additions,
// idempotent, and a schema-valid pod stays schema-valid.
import { expect } from 'vitest'
import {
  type PodMutationInput,
  type PodMutationResult,
  parseWebhookSettings,
  planPodMutation,
  type WebhookSettings,
} from '../../../dataplane/core/index.js'
import { applyAdditions, podSchemaProblem } from '../../support/pod-patch.js'

export const settingsOf = (input: Record<string, unknown> = {}): WebhookSettings => {
  const parsed = parseWebhookSettings({
    brokerUrl: 'https://broker.example.com',
    agentImage: 'registry.example.com/irsa-broker-agent:1.0.0',
    ownNamespace: 'irsa-broker',
    ...input,
  })
  if (!parsed.ok) throw new Error(parsed.message)
  return parsed.settings
}

export const SETTINGS = settingsOf()

export type Json = Record<string, unknown>

export const container = (name: string, extra: Json = {}): Json => ({
  name,
  image: `registry.example.com/${name}:1`,
  ...extra,
})

/** A pod as a ReplicaSet controller creates it: generateName, no name, namespace left to the request. */
export const podOf = (spec: Json, metadata: Json = { generateName: 'app-7d9f8-' }): Json => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata,
  spec: { serviceAccountName: 'app', ...spec },
})

export const ROLE_SA = { name: 'app', annotations: { 'irsa-broker.io/role': 'ml-reader' } }

export const inputOf = (pod: unknown, overrides: Partial<PodMutationInput> = {}): PodMutationInput => ({
  pod,
  namespace: 'team-a',
  operation: 'CREATE',
  dryRun: false,
  serviceAccount: ROLE_SA,
  namespaceInjection: false,
  rules: [],
  ...overrides,
})

export interface Wired {
  result: PodMutationResult
  patched: Json
}

/** Plans, applies, and checks the generic property; a second call on the result adds nothing. */
export const wire = (
  pod: unknown,
  overrides: Partial<PodMutationInput> = {},
  settings: WebhookSettings = SETTINGS,
): Wired => {
  const result = planPodMutation(inputOf(pod, overrides), settings)
  for (const warning of result.warnings) expect(warning.length).toBeLessThanOrEqual(120)
  expect(result.patch.length === 0).toBe(result.outcome !== 'mutated')
  const patched = applyAdditions(pod, result.patch) as Json
  const again = planPodMutation(inputOf(patched, overrides), settings)
  expect(again.patch, 'a second call on the patched pod').toEqual([])
  if (result.outcome === 'mutated') expect(again.outcome).toBe('unchanged')
  if (podSchemaProblem(pod) === undefined) expect(podSchemaProblem(patched)).toBeUndefined()
  return { result, patched }
}

type Containers = 'containers' | 'initContainers'

const containerAt = (pod: Json, list: Containers, index: number): Json =>
  ((pod.spec as Json)[list] as Json[])[index] as Json

/** A container's env as name → value (valueFrom entries as `valueFrom`). */
export const envOf = (pod: Json, list: Containers, index: number): Record<string, string> =>
  Object.fromEntries(
    ((containerAt(pod, list, index).env as Json[] | undefined) ?? []).map((entry) => [
      entry.name as string,
      typeof entry.value === 'string' ? entry.value : 'valueFrom',
    ]),
  )

export const mountsOf = (pod: Json, list: Containers, index: number): Json[] =>
  (containerAt(pod, list, index).volumeMounts as Json[] | undefined) ?? []

export const volumesOf = (pod: Json): Json[] => ((pod.spec as Json).volumes as Json[] | undefined) ?? []

/** The projected part of our token volume; fails the test when there is none. */
export const tokenProjectionOf = (pod: Json): Json => {
  const volume = volumesOf(pod).find((v) => v.name === 'irsa-broker-token')
  expect(volume, 'the irsa-broker-token volume').toBeDefined()
  return (volume as Json).projected as Json
}

export const tokenExpirationOf = (pod: Json): unknown =>
  (((tokenProjectionOf(pod).sources as Json[])[0] as Json).serviceAccountToken as Json).expirationSeconds

export const initContainerNames = (pod: Json): string[] =>
  (((pod.spec as Json).initContainers as Json[] | undefined) ?? []).map((c) => c.name as string)

export const TOKEN_MOUNT = {
  name: 'irsa-broker-token',
  mountPath: '/var/run/secrets/irsa-broker/serviceaccount',
  readOnly: true,
}
export const PROFILES_MOUNT = {
  name: 'irsa-broker-profiles',
  mountPath: '/var/run/irsa-broker',
  readOnly: true,
}

export const CREDENTIALS_FOR = (role?: string) => ({
  AWS_CONTAINER_CREDENTIALS_FULL_URI: `https://broker.example.com/v1/credentials${role ? `?role=${encodeURIComponent(role)}` : ''}`,
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '/var/run/secrets/irsa-broker/serviceaccount/token',
})
