// The generic property every webhook patch must have, checked with code nobody here wrote:
// fast-json-patch applies it (RFC 6902, each operation validated against the document), and
// kubernetes-models' Pod schema (the Kubernetes OpenAPI document, compiled with ajv) judges the
// result. Nothing is removed or changed: the patched pod minus exactly the added values, taken
// out in reverse order, deep-equals the original; no `add` lands on a member that existed.
import jsonpatch from 'fast-json-patch'
import { Pod } from 'kubernetes-models/v1/Pod'
import { expect } from 'vitest'
import type { JsonPatchAdd } from '../../dataplane/core/index.js'

const clone = <T>(value: T): T => structuredClone(value)

const unescapeToken = (token: string) => token.replaceAll('~1', '/').replaceAll('~0', '~')

const parentAndKey = (document: unknown, path: string): { parent: unknown; key: string } => {
  const tokens = path.split('/').slice(1).map(unescapeToken)
  const key = tokens.pop() ?? ''
  const parentPointer = tokens
    .map((token) => `/${token.replaceAll('~', '~0').replaceAll('/', '~1')}`)
    .join('')
  return {
    parent: parentPointer === '' ? document : jsonpatch.getValueByPointer(document, parentPointer),
    key,
  }
}

/**
 * Applies `patch` to a copy of `original` one operation at a time and returns the result, after
 * checking that every operation is an `add` that creates (a new member, or an array element
 * appended or inserted) and that taking the added values out again gives back the original.
 */
export const applyAdditions = (original: unknown, patch: readonly JsonPatchAdd[]): unknown => {
  let document = clone(original)
  const concrete: string[] = []
  for (const operation of patch) {
    expect(operation.op).toBe('add')
    const { parent, key } = parentAndKey(document, operation.path)
    if (Array.isArray(parent)) {
      const index = key === '-' ? parent.length : Number(key)
      expect(Number.isInteger(index) && index >= 0 && index <= parent.length, operation.path).toBe(true)
      concrete.push(`${operation.path.slice(0, operation.path.lastIndexOf('/'))}/${index}`)
    } else {
      expect(typeof parent === 'object' && parent !== null, `parent of ${operation.path}`).toBe(true)
      expect(Object.hasOwn(parent as object, key), `${operation.path} replaces an existing member`).toBe(
        false,
      )
      concrete.push(operation.path)
    }
    // validateOperation: fast-json-patch refuses a path whose parent does not exist, an index
    // past the end, a missing value; the prototype guard stays on.
    document = jsonpatch.applyOperation(document, operation, true, true, true).newDocument
  }
  const stripped = clone(document)
  for (const path of [...concrete].reverse())
    jsonpatch.applyOperation(stripped, { op: 'remove', path }, true, true)
  expect(stripped, 'the patched pod minus the added values').toEqual(original)
  return document
}

/** The Kubernetes schema's verdict: undefined when valid, else ajv's message. */
export const podSchemaProblem = (pod: unknown): string | undefined => {
  try {
    new Pod(clone(pod) as ConstructorParameters<typeof Pod>[0]).validate()
    return undefined
  } catch (error) {
    return (error as Error).message
  }
}
