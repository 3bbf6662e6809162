// Session name and session tags for one workload under one binding, rendered from the
// binding's `{/json/pointer}` templates and kept inside STS's limits.
import type { Binding, WorkloadClaims } from './model.js'
import { parseTemplate, renderTemplate, sanitizeSessionName, sanitizeTagValue } from './templates.js'

export interface SessionTags {
  principalTags: Record<string, string>
  transitiveTagKeys: string[]
}

const render = (text: string, claims: WorkloadClaims): string => {
  const template = parseTemplate(text)
  // Templates are checked at registration; a stored one that no longer parses renders as nothing.
  return typeof template === 'string' ? '' : renderTemplate(template, claims)
}

/** Without a template the session is named after `sub` (e.g. `system-serviceaccount-ml-trainer`). */
export const sessionNameFor = (binding: Binding, claims: WorkloadClaims): string =>
  sanitizeSessionName(binding.sessionName === undefined ? claims.sub : render(binding.sessionName, claims))

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
