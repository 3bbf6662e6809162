// Session name and session tags for one workload under one binding, rendered from the
// binding's `{/json/pointer}` templates and kept inside STS's limits.
import type { Binding, WorkloadClaims } from './model.js'
import { parseTemplate, renderTemplate, sanitizeTagValue } from './templates.js'
import { fitName, workloadName } from './workload-identity.js'

export interface SessionTags {
  principalTags: Record<string, string>
  transitiveTagKeys: string[]
}

/**
 * Parsed templates by their text: the same few binding templates render on every request, and
 * parsing them (JSON Pointers included) cost more than rendering. Bounded: past the limit the
 * memo starts over, so any number of distinct templates costs at most this many entries.
 */
const MAX_PARSED_TEMPLATES = 1024
const parsed = new Map<string, ReturnType<typeof parseTemplate>>()

const parsedTemplate = (text: string): ReturnType<typeof parseTemplate> => {
  let template = parsed.get(text)
  if (template === undefined) {
    if (parsed.size >= MAX_PARSED_TEMPLATES) parsed.clear()
    template = parseTemplate(text)
    parsed.set(text, template)
  }
  return template
}

const render = (text: string, claims: WorkloadClaims): string => {
  const template = parsedTemplate(text)
  // Templates are checked at registration; a stored one that no longer parses renders as nothing.
  return typeof template === 'string' ? '' : renderTemplate(template, claims)
}

/**
 * A template's value made a valid STS name (workload-identity.ts, `fitName`); without a template,
 * or when it renders empty, the workload's own name (`workloadName`: `onprem-a.ml.trainer`).
 */
const nameFrom = (template: string | undefined, binding: Binding, claims: WorkloadClaims): string => {
  const rendered = template === undefined ? '' : render(template, claims)
  return rendered === '' ? workloadName(binding.issuerId, claims.sub) : fitName(rendered)
}

/** The session name: the binding's template, else the workload's name (never shared by two workloads). */
export const sessionNameFor = (binding: Binding, claims: WorkloadClaims): string =>
  nameFrom(binding.sessionName, binding, claims)

/**
 * The source identity (docs/decisions.md, "Source identity, session names and revocation
 * policies"): the same rule with the binding's `sourceIdentity` template.
 */
export const sourceIdentityFor = (binding: Binding, claims: WorkloadClaims): string =>
  nameFrom(binding.sourceIdentity, binding, claims)

/** Tags whose template renders empty are left out; transitive keys keep only tags that remain. */
export const sessionTagsFor = (binding: Binding, claims: WorkloadClaims): SessionTags => {
  const principalTags: Record<string, string> = {}
  for (const [key, text] of Object.entries(binding.sessionTags ?? {})) {
    const value = sanitizeTagValue(render(text, claims))
    if (value !== '') principalTags[key] = value
  }
  const transitiveTagKeys = (binding.transitiveTagKeys ?? []).filter((key) =>
    Object.hasOwn(principalTags, key),
  )
  return { principalTags, transitiveTagKeys }
}
