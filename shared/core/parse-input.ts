// Turns a schema's verdict on untrusted input into the broker's answer: the first problem
// becomes a 400 naming its field. Any zod schema goes, built with the full API (the admin
// documents, schemas.ts) or with zod/mini (the credentials requests, credentials-request.ts,
// which keeps the cold-start bundle of the credentials function small).
import { en } from 'zod/locales'
import { type $ZodType, config, type output, safeParse } from 'zod/v4/core'
import { InvalidParameterError } from './errors.js'

// The English messages, whichever API built the schema (the full one sets them on import,
// zod/mini does not), so a caller reads the same message from every function.
config(en())

const fieldOf = (path: readonly PropertyKey[], prefix: string): string =>
  [prefix, ...path.map((part) => (typeof part === 'number' ? `[${part}]` : String(part)))]
    .filter(Boolean)
    .join('.')
    .replace(/\.\[/g, '[')

/** Parses `value` with `schema`; the first problem becomes a 400 naming its field. */
export const parseInput = <S extends $ZodType>(schema: S, value: unknown, prefix = ''): output<S> => {
  const result = safeParse(schema, value)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  if (!issue) throw new InvalidParameterError(prefix, 'is invalid')
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys: string[] }).keys
    throw new InvalidParameterError(fieldOf([...issue.path, keys[0] ?? ''], prefix), 'is not a known field')
  }
  throw new InvalidParameterError(fieldOf(issue.path, prefix), issue.message)
}
