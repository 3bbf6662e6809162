// Turns a schema's verdict on untrusted input into the broker's answer: the first problem
// becomes a 400 naming its field. Any Standard Schema (standardschema.dev) goes: zod's (the
// admin documents, schemas.ts) and the hand-written ones of the credentials requests
// (credentials-request.ts), so this module imports no validation library and the credentials
// function's bundle holds none. zod's English messages are set where zod is used (schemas.ts).
import { InternalError, InvalidParameterError } from './errors.js'

/** One problem, as a Standard Schema reports it; zod adds `code` (and `keys` for unknown keys). */
export interface InputIssue {
  readonly message: string
  readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined
}

/** The part of the Standard Schema interface (v1) parseInput uses; zod's schemas have it. */
export interface InputSchema<Output = unknown> {
  readonly '~standard': {
    readonly version: 1
    readonly vendor: string
    readonly validate: (
      value: unknown,
    ) =>
      | { readonly value: Output; readonly issues?: undefined }
      | { readonly issues: readonly InputIssue[] }
      | Promise<unknown>
    readonly types?: { readonly input: unknown; readonly output: Output } | undefined
  }
}

/** What a schema gives back when the input is valid (zod: after defaults and transforms). */
export type InputOutput<S extends InputSchema> = NonNullable<S['~standard']['types']>['output']

const fieldOf = (path: readonly unknown[], prefix: string): string =>
  [
    prefix,
    ...path.map((segment) => {
      const part =
        typeof segment === 'object' && segment !== null ? (segment as { key: unknown }).key : segment
      return typeof part === 'number' ? `[${part}]` : String(part)
    }),
  ]
    .filter(Boolean)
    .join('.')
    .replace(/\.\[/g, '[')

/** Parses `value` with `schema`; the first problem becomes a 400 naming its field. */
export const parseInput = <S extends InputSchema>(schema: S, value: unknown, prefix = ''): InputOutput<S> => {
  const result = schema['~standard'].validate(value)
  if (result instanceof Promise) {
    // No schema of the broker checks asynchronously, but zod answers with a promise when one of
    // its checks throws (where its safeParse threw): a bug, so a 500. The promise rejects with
    // that error again; it is settled here, never left as an unhandled rejection.
    result.catch(() => undefined)
    throw new InternalError('input_check_failed', {
      cause: new Error('a check of the schema threw or did not finish synchronously'),
    })
  }
  if (!result.issues) return result.value as InputOutput<S>
  const issue = result.issues[0]
  if (!issue) throw new InvalidParameterError(prefix, 'is invalid')
  const path = issue.path ?? []
  // zod reports unknown keys of a strict object as one issue at the object; name the first key.
  const { code, keys } = issue as { code?: unknown; keys?: unknown }
  if (code === 'unrecognized_keys' && Array.isArray(keys))
    throw new InvalidParameterError(fieldOf([...path, keys[0] ?? ''], prefix), 'is not a known field')
  throw new InvalidParameterError(fieldOf(path, prefix), issue.message)
}
