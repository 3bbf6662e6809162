// RFC 6901 JSON Pointers over verified claims. Only own properties and array indices are
// reachable, so a pointer can never read a prototype member such as `/constructor`.

export type JsonPointer = readonly string[]

const ESCAPE = /~(?![01])/

/** Parses a pointer like `/kubernetes.io/namespace`; returns undefined when it is not a valid pointer. */
export const parseJsonPointer = (pointer: string): JsonPointer | undefined => {
  if (pointer === '') return []
  if (!pointer.startsWith('/')) return undefined
  const tokens = pointer.slice(1).split('/')
  if (tokens.some((token) => ESCAPE.test(token))) return undefined
  return tokens.map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'))
}

const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/

export const resolveJsonPointer = (document: unknown, pointer: JsonPointer): unknown => {
  let current: unknown = document
  for (const token of pointer) {
    if (Array.isArray(current)) {
      if (!ARRAY_INDEX.test(token)) return undefined
      const index = Number(token)
      if (index >= current.length) return undefined
      current = current[index]
    } else if (typeof current === 'object' && current !== null && Object.hasOwn(current, token)) {
      current = (current as Record<string, unknown>)[token]
    } else {
      return undefined
    }
  }
  return current
}
