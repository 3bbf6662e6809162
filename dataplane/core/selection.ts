// Whether a pod is wired and with which settings: the precedence of docs/decisions.md
// ("Webhook"). Each setting is resolved on its own, from the first source that gives a usable
// value: Pod annotation, then ServiceAccount annotation, then the first matching rule, then the
// webhook's default. An unusable annotation counts as absent (with a warning), so the next
// source decides.
import {
  asksForWiring,
  type Reading,
  readProfiles,
  readRole,
  readTokenExpiration,
  type Where,
} from './annotations.js'
import { firstMatchingRule, type WebhookRule } from './rules.js'

export type SelectedBy = 'pod' | 'service-account' | 'rule' | 'namespace'

export interface WiringSources {
  namespace: string
  serviceAccountName: string
  podLabels: ReadonlyMap<string, string>
  podAnnotations: ReadonlyMap<string, string>
  /** Undefined when the ServiceAccount is not known (not in the view, and not found by a GET). */
  serviceAccountAnnotations: ReadonlyMap<string, string> | undefined
  rules: readonly WebhookRule[]
  namespaceInjection: boolean
  defaultTokenExpirationSeconds: number
}

export type WiringDecision =
  | { selected: false; warnings: string[] }
  | {
      selected: true
      selectedBy: SelectedBy
      ruleIndex: number | undefined
      role: string | undefined
      profiles: boolean
      tokenExpirationSeconds: number
      warnings: string[]
    }

const first = <T>(readings: readonly (Reading<T> | undefined)[]): T | undefined => {
  for (const reading of readings) if (reading?.kind === 'set') return reading.value
  return undefined
}

const ruleReading = <T>(value: T | undefined): Reading<T> | undefined =>
  value === undefined ? undefined : { kind: 'set', value }

export const decideWiring = (sources: WiringSources): WiringDecision => {
  const warnings: string[] = []
  const layers: [Where, ReadonlyMap<string, string>][] = [['Pod', sources.podAnnotations]]
  if (sources.serviceAccountAnnotations) layers.push(['ServiceAccount', sources.serviceAccountAnnotations])
  // Every annotation is read (and warned about) even when the pod turns out not to be wired:
  // a bad `profiles: "yes"` is exactly why a pod may not be.
  const read = layers.map(([where, annotations]) => ({
    role: readRole(annotations, where, warnings),
    profiles: readProfiles(annotations, where, warnings),
    tokenExpiration: readTokenExpiration(annotations, where, warnings),
  }))
  const [pod, serviceAccount] = read
  const matched = firstMatchingRule(sources.rules, {
    namespace: sources.namespace,
    serviceAccount: sources.serviceAccountName,
    labels: sources.podLabels,
  })

  let selectedBy: SelectedBy | undefined
  if (asksForWiring(sources.podAnnotations)) selectedBy = 'pod'
  else if (sources.serviceAccountAnnotations && asksForWiring(sources.serviceAccountAnnotations))
    selectedBy = 'service-account'
  else if (matched) selectedBy = 'rule'
  else if (sources.namespaceInjection) selectedBy = 'namespace'
  if (selectedBy === undefined) return { selected: false, warnings }

  const rule = matched?.rule
  return {
    selected: true,
    selectedBy,
    ruleIndex: matched?.index,
    role: first([pod?.role, serviceAccount?.role, ruleReading(rule?.role)]),
    profiles: first([pod?.profiles, serviceAccount?.profiles, ruleReading(rule?.profiles)]) ?? false,
    tokenExpirationSeconds:
      first([pod?.tokenExpiration, serviceAccount?.tokenExpiration, ruleReading(rule?.tokenExpiration)]) ??
      sources.defaultTokenExpirationSeconds,
    warnings,
  }
}
