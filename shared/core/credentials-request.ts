// What GET and POST /v1/credentials accept besides the token: the query string and the
// credential_process body. Two optional fields, checked here by hand rather than with zod:
// zod (even zod/mini, with its core and English messages) was about 19 KB of the credentials
// function's bundle, the one every workload's SDK waits on at a cold start, and kept it above
// the 400 KB of issue 7 (docs/decisions.md, "Bundle size"). The admin documents keep zod
// (schemas.ts). These are Standard Schemas, as zod's are, so parseInput (parse-input.ts) takes
// both; the rules, and the message of every refusal, are zod's own: the unit tests compare
// these with zod/mini schemas of the same rules (test/unit/core/credentials-request.test.ts).
import type { InputIssue, InputSchema } from './parse-input.js'

/** STS AssumeRoleWithWebIdentity's limits on DurationSeconds. */
export const MIN_SESSION_SECONDS = 900
export const MAX_SESSION_SECONDS = 43200

/** A value's type as zod's English messages name it ("received …"). */
const typeName = (value: unknown): string => {
  if (typeof value === 'number') return Number.isFinite(value) ? 'number' : String(value)
  if (typeof value !== 'object') return typeof value
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  const prototype = Object.getPrototypeOf(value)
  return prototype !== Object.prototype && 'constructor' in value && value.constructor
    ? (value.constructor as { name: string }).name
    : 'object'
}

const invalidType = (expected: string, value: unknown) =>
  `Invalid input: expected ${expected}, received ${typeName(value)}`

/** The first problem with one field's value (present, maybe `undefined`), or nothing. */
type FieldCheck = (value: unknown) => string | undefined

/** z.optional(z.string().check(z.minLength(1), z.maxLength(max))) */
const optionalText =
  (max: number): FieldCheck =>
  (value) => {
    if (value === undefined) return undefined
    if (typeof value !== 'string') return invalidType('string', value)
    if (value.length < 1) return 'Too small: expected string to have >=1 characters'
    if (value.length > max) return `Too big: expected string to have <=${max} characters`
    return undefined
  }

/** z.optional(z.number().check(z.int(), z.minimum(min), z.maximum(max))) */
const optionalInteger =
  (min: number, max: number): FieldCheck =>
  (value) => {
    if (value === undefined) return undefined
    if (typeof value !== 'number' || !Number.isFinite(value)) return invalidType('number', value)
    if (!Number.isInteger(value)) return invalidType('int', value)
    if (value > Number.MAX_SAFE_INTEGER) return `Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`
    if (value < Number.MIN_SAFE_INTEGER) return `Too small: expected int to be >=${Number.MIN_SAFE_INTEGER}`
    if (value < min) return `Too small: expected number to be >=${min}`
    if (value > max) return `Too big: expected number to be <=${max}`
    return undefined
  }

/**
 * z.strictObject(fields), as zod checks it: an object (not an array), each field in the order
 * declared, then the first key that is not a field. The output holds the fields present.
 */
const strictObject = <T>(fields: Record<keyof T & string, FieldCheck>): InputSchema<T> => {
  const validate = (value: unknown): { value: T } | { issues: InputIssue[] } => {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return { issues: [{ message: invalidType('object', value), path: [] }] }
    const input = value as Record<string, unknown>
    const output: Record<string, unknown> = {}
    for (const [key, check] of Object.entries<FieldCheck>(fields)) {
      const message = check(input[key])
      if (message) return { issues: [{ message, path: [key] }] }
      if (key in input) output[key] = input[key]
    }
    for (const key in input)
      if (!Object.hasOwn(fields, key)) return { issues: [{ message: 'is not a known field', path: [key] }] }
    return { value: output as T }
  }
  return { '~standard': { version: 1, vendor: 'irsa-broker', validate } }
}

/** GET /v1/credentials: `?role=` (a binding's profile or role ARN). */
export const credentialsQuerySchema = strictObject<{ role?: string }>({ role: optionalText(2048) })

/** POST /v1/credentials: the credential_process body. */
export const credentialsBodySchema = strictObject<{ role?: string; durationSeconds?: number }>({
  role: optionalText(2048),
  durationSeconds: optionalInteger(MIN_SESSION_SECONDS, MAX_SESSION_SECONDS),
})
