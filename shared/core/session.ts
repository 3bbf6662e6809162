// Session name and session tags for one workload under one binding, rendered from the
// binding's `{/json/pointer}` templates and kept inside STS's limits.
import type { Binding, WorkloadClaims } from './model.js'
import { parseTemplate, renderTemplate, sanitizeSessionName, sanitizeTagValue } from './templates.js'

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
