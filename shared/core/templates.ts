// `{/json/pointer}` templates for session names and session tags, and the sanitizing that
// keeps whatever the claims hold inside STS's limits.
import { type JsonPointer, parseJsonPointer, resolveJsonPointer } from './json-pointer.js'

type Part = { literal: string } | { pointer: JsonPointer }
export type Template = readonly Part[]

const PLACEHOLDER = /\{([^{}]*)\}/g

/** Parses a template; returns a message saying what is wrong instead when it is not one. */
export const parseTemplate = (text: string): Template | string => {
  const parts: Part[] = []
  let last = 0
  for (const match of text.matchAll(PLACEHOLDER)) {
    const literal = text.slice(last, match.index)
    if (/[{}]/.test(literal)) return `unbalanced brace at position ${last + literal.search(/[{}]/)}`
    if (literal) parts.push({ literal })
    const raw = match[1] ?? ''
    const pointer = raw.startsWith('/') ? parseJsonPointer(raw) : undefined
    if (!pointer) return `"{${raw}}" at position ${match.index} is not a JSON Pointer placeholder like {/sub}`
    parts.push({ pointer })
    last = match.index + match[0].length
  }
  const tail = text.slice(last)
  if (/[{}]/.test(tail)) return `unbalanced brace at position ${last + tail.search(/[{}]/)}`
  if (tail) parts.push({ literal: tail })
  return parts
}

const scalarText = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : typeof value === 'number' || typeof value === 'boolean'
      ? String(value)
      : ''

/** Renders a parsed template; a placeholder that points at nothing or at a non-scalar renders as ''. */
export const renderTemplate = (template: Template, claims: unknown): string =>
  template
    .map((part) => ('literal' in part ? part.literal : scalarText(resolveJsonPointer(claims, part.pointer))))
    .join('')

const SESSION_NAME_DISALLOWED = /[^\w+=,.@-]/g
export const SESSION_NAME_MAX = 64
export const FALLBACK_SESSION_NAME = 'irsa-broker'

/** STS RoleSessionName: `[\w+=,.@-]{2,64}`; anything else becomes `-`. */
export const sanitizeSessionName = (raw: string): string => {
  const name = raw.replace(SESSION_NAME_DISALLOWED, '-').slice(0, SESSION_NAME_MAX)
  if (name.length === 0) return FALLBACK_SESSION_NAME
  return name.length < 2 ? name.padEnd(2, '-') : name
}

export const TAG_KEY_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u
const TAG_VALUE_DISALLOWED = /[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu
export const TAG_VALUE_MAX = 256
export const MAX_SESSION_TAGS = 50

/** STS tag value: at most 256 characters of letters, spaces, digits and `_.:/=+-@`. */
export const sanitizeTagValue = (raw: string): string => {
  const value = raw.replace(TAG_VALUE_DISALLOWED, '-')
  // A string of at most TAG_VALUE_MAX UTF-16 units has at most that many characters.
  return value.length <= TAG_VALUE_MAX ? value : Array.from(value).slice(0, TAG_VALUE_MAX).join('')
}
