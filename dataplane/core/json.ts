// Reading untrusted JSON (a pod as the API server sent it) without trusting its shape, and
// writing JSON Patch `add` operations (RFC 6902) with JSON Pointer escaping (RFC 6901). Only own
// members are read, so keys such as `__proto__` or `constructor` are plain data here.

export type JsonRecord = Record<string, unknown>

/** The only operation the webhook emits: it adds, never replaces, removes or moves. */
export interface JsonPatchAdd {
  op: 'add'
  path: string
  value: unknown
}

export const isRecord = (value: unknown): value is JsonRecord =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

export const member = (record: JsonRecord, key: string): unknown =>
  Object.hasOwn(record, key) ? record[key] : undefined

export const stringMember = (record: JsonRecord, key: string): string | undefined => {
  const value = member(record, key)
  return typeof value === 'string' ? value : undefined
}

/** `~` → `~0` first, then `/` → `~1` (RFC 6901 §3). */
export const escapePointerToken = (token: string): string => token.replaceAll('~', '~0').replaceAll('/', '~1')

export const pointer = (...tokens: readonly (string | number)[]): string =>
  tokens.map((token) => `/${escapePointerToken(String(token))}`).join('')

export const add = (path: string, value: unknown): JsonPatchAdd => ({ op: 'add', path, value })

/**
 * Adds `items` to the array at `path` of `parent[key]`: the whole array when the member is
 * absent, else one `…/-` append per item, so an existing array is never replaced.
 */
export const appendAll = (
  parent: JsonRecord,
  key: string,
  path: readonly (string | number)[],
  items: readonly unknown[],
): JsonPatchAdd[] => {
  if (items.length === 0) return []
  if (!Object.hasOwn(parent, key)) return [add(pointer(...path, key), [...items])]
  return items.map((item) => add(pointer(...path, key, '-'), item))
}
