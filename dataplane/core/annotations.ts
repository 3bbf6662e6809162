// Reading the webhook's annotations. A value that makes no sense is not an error: the pod is
// admitted without that setting and the answer carries a warning (kubectl shows it), at most
// 120 characters that never echo more than a bounded, printable part of the value.
import { ANNOTATIONS, MAX_TOKEN_EXPIRATION_SECONDS, MIN_TOKEN_EXPIRATION_SECONDS } from './names.js'
import { isRoleName } from './rules.js'

export const MAX_WARNING_LENGTH = 120
const MAX_SHOWN_LENGTH = 24
/** Names read from one containers list; more are ignored (a pod has far fewer containers). */
const MAX_LISTED_NAMES = 1000

/** `"value"`, cut to 24 characters, with anything outside printable ASCII as `?`. */
export const shown = (value: string): string => {
  const printable = value.slice(0, MAX_SHOWN_LENGTH + 1).replace(/[^\x20-\x7e]/g, '?')
  return JSON.stringify(
    printable.length > MAX_SHOWN_LENGTH ? `${printable.slice(0, MAX_SHOWN_LENGTH)}...` : printable,
  )
}

export const warning = (text: string): string =>
  text.length <= MAX_WARNING_LENGTH ? text : `${text.slice(0, MAX_WARNING_LENGTH - 3)}...`

export type Where = 'Pod' | 'ServiceAccount'

/** What one source says about one setting: nothing, something unusable (warned), or a value. */
export type Reading<T> = { kind: 'absent' } | { kind: 'invalid' } | { kind: 'set'; value: T }

/** A value, or the problem with it ("is not …"), from the trimmed annotation value. */
type Parse<T> = (value: string) => { value: T } | { problem: string }

const reader =
  <T>(key: string, parse: Parse<T>) =>
  (annotations: ReadonlyMap<string, string>, where: Where, warnings: string[]): Reading<T> => {
    const value = annotations.get(key)
    if (value === undefined) return { kind: 'absent' }
    const parsed = parse(value.trim())
    if ('value' in parsed) return { kind: 'set', value: parsed.value }
    warnings.push(warning(`${where} ${key} ${shown(value)} ${parsed.problem}; ignored`))
    return { kind: 'invalid' }
  }

export const readRole = reader(ANNOTATIONS.role, (role) =>
  isRoleName(role) ? { value: role } : { problem: 'is not a profile name or role ARN' },
)

export const readProfiles = reader(ANNOTATIONS.profiles, (text) => {
  const normalized = text.toLowerCase()
  return normalized === 'true' || normalized === 'false'
    ? { value: normalized === 'true' }
    : { problem: 'is not "true" or "false"' }
})

export const readTokenExpiration = reader(ANNOTATIONS.tokenExpiration, (digits) => {
  const seconds = /^\d{1,9}$/.test(digits) ? Number(digits) : Number.NaN
  if (Number.isNaN(seconds)) return { problem: 'is not a whole number of seconds' }
  if (seconds < MIN_TOKEN_EXPIRATION_SECONDS) return { problem: `is below ${MIN_TOKEN_EXPIRATION_SECONDS}` }
  if (seconds > MAX_TOKEN_EXPIRATION_SECONDS) return { problem: `is above ${MAX_TOKEN_EXPIRATION_SECONDS}` }
  return { value: seconds }
})

/** A ServiceAccount or Pod asks for wiring with a role annotation (any value) or `profiles: "true"`. */
export const asksForWiring = (annotations: ReadonlyMap<string, string>): boolean =>
  annotations.has(ANNOTATIONS.role) || annotations.get(ANNOTATIONS.profiles)?.trim().toLowerCase() === 'true'

/** A comma-separated list of container names, spaces trimmed, empty entries dropped. */
export const readNameList = (
  annotations: ReadonlyMap<string, string>,
  key: string,
): Set<string> | undefined => {
  const value = annotations.get(key)
  if (value === undefined) return undefined
  const names = new Set<string>()
  for (const part of value.split(',', MAX_LISTED_NAMES)) {
    const name = part.trim()
    if (name !== '') names.add(name)
  }
  return names
}

/** One warning per list naming containers the pod does not have. */
export const unknownNamesWarning = (
  key: string,
  listed: ReadonlySet<string> | undefined,
  known: ReadonlySet<string>,
): string | undefined => {
  const unknown = [...(listed ?? [])].filter((name) => !known.has(name))
  const first = unknown[0]
  if (first === undefined) return undefined
  const more = unknown.length > 1 ? ` and ${unknown.length - 1} more` : ''
  return warning(`Pod ${key} names no container of this pod: ${shown(first)}${more}`)
}
