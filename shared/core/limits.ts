// Bounds on the shape of a token's JSON (header and claims). The token's byte limit already
// caps the total; these keep every walk over the claims (JSON Pointers, CEL conditions,
// templates) cheap and predictable whatever an issuer put in them.

/** Nesting of objects and arrays; Kubernetes tokens nest 3 deep. */
export const MAX_CLAIMS_DEPTH = 32
/** Elements of any array, members of any object. */
export const MAX_CLAIM_COLLECTION_SIZE = 1000
/**
 * Bytes of a token's claims JSON: the token is at most 16 KiB (verify.ts `MAX_TOKEN_BYTES`), so
 * its base64url payload segment decodes to at most 12 KiB. No string in the claims is longer
 * (in UTF-16 units), and no claims value weighs more (condition-cost.ts counts 1 per value plus
 * its characters: never more than the JSON text that wrote it). CEL's cost bound rests on this.
 */
export const MAX_CLAIMS_JSON_BYTES = 12 * 1024
/** Entries of an `aud` array. */
export const MAX_AUDIENCES = 50

export type ShapeProblem = 'claims_too_deep' | 'claims_collection_too_large' | 'claims_too_many_audiences'

/** The first bound `value` breaks, or undefined. Stops at the first problem, so it never walks far. */
export const checkJsonShape = (value: unknown): ShapeProblem | undefined => {
  const walk = (node: unknown, depth: number): ShapeProblem | undefined => {
    if (typeof node !== 'object' || node === null) return undefined
    if (depth > MAX_CLAIMS_DEPTH) return 'claims_too_deep'
    const children = Array.isArray(node) ? node : Object.values(node)
    if (children.length > MAX_CLAIM_COLLECTION_SIZE) return 'claims_collection_too_large'
    for (const child of children) {
      const problem = walk(child, depth + 1)
      if (problem) return problem
    }
    return undefined
  }
  const problem = walk(value, 1)
  if (problem) return problem
  const aud = (value as { aud?: unknown } | null)?.aud
  if (Array.isArray(aud) && aud.length > MAX_AUDIENCES) return 'claims_too_many_audiences'
  return undefined
}
