// The credentials requests are checked by hand (shared/core/credentials-request.ts keeps zod out
// of the credentials bundle), yet must answer exactly as the zod/mini schemas they replaced:
// same values accepted, same output, and for every refusal the same field and message.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { en } from 'zod/locales'
import * as z from 'zod/mini'
import {
  credentialsBodySchema,
  credentialsQuerySchema,
  MAX_SESSION_SECONDS,
  MIN_SESSION_SECONDS,
} from '../../../shared/core/credentials-request.js'
import { InvalidParameterError } from '../../../shared/core/errors.js'
import { type InputSchema, parseInput } from '../../../shared/core/parse-input.js'

z.config(en())

/** The zod/mini schemas these requests were written with before (the reference). */
const text = (max: number) => z.string().check(z.minLength(1), z.maxLength(max))
const zodQuery = z.strictObject({ role: z.optional(text(2048)) })
const zodBody = z.strictObject({
  role: z.optional(text(2048)),
  durationSeconds: z.optional(
    z.number().check(z.int(), z.minimum(MIN_SESSION_SECONDS), z.maximum(MAX_SESSION_SECONDS)),
  ),
})

/** What parseInput makes of `value`: the output, or the refusal's field and message. */
const outcome = (schema: InputSchema, value: unknown, prefix?: string) => {
  try {
    return { value: parseInput(schema, value, prefix) }
  } catch (error) {
    if (!(error instanceof InvalidParameterError)) throw error
    return { field: error.field, message: error.message }
  }
}

const anyValue = fc.oneof(
  fc.string({ maxLength: 4 }),
  fc.constantFrom('', 'x'.repeat(2047), 'x'.repeat(2048), 'x'.repeat(2049), 'ml-reader'),
  fc.integer(),
  fc.constantFrom(
    0,
    -0,
    899,
    900,
    900.5,
    3600,
    43200,
    43201,
    Number.MAX_SAFE_INTEGER + 1,
    Number.MIN_SAFE_INTEGER - 1,
    1e300,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
  ),
  fc.double(),
  fc.boolean(),
  fc.constantFrom(null, undefined, [], {}, ['x'], { role: 'x' }, new Date(0)),
)

const anyKey = fc.constantFrom(
  'role',
  'durationSeconds',
  'debug',
  'token',
  '',
  '0',
  'constructor',
  'toString',
)

const anyRequest = fc.oneof(
  { weight: 5, arbitrary: fc.dictionary(anyKey, anyValue, { maxKeys: 4 }) },
  { weight: 1, arbitrary: anyValue },
)

describe('credentials requests (hand-written) answer as their zod/mini schemas did', () => {
  it.each([
    ['body', credentialsBodySchema, zodBody],
    ['query', credentialsQuerySchema, zodQuery],
  ] as const)('the %s: same output or same field and message, for any value', (_, schema, reference) => {
    fc.assert(
      fc.property(anyRequest, fc.constantFrom('', 'body'), (value, prefix) => {
        expect(outcome(schema, value, prefix)).toStrictEqual(outcome(reference, value, prefix))
      }),
      { numRuns: 2000 },
    )
  })

  it.each([
    [{ durationSeconds: 1.5 }, 'durationSeconds: Invalid input: expected int, received number'],
    [{ durationSeconds: '900' }, 'durationSeconds: Invalid input: expected number, received string'],
    [{ durationSeconds: 899 }, 'durationSeconds: Too small: expected number to be >=900'],
    [{ durationSeconds: 43201 }, 'durationSeconds: Too big: expected number to be <=43200'],
    [{ role: '' }, 'role: Too small: expected string to have >=1 characters'],
    [{ role: null }, 'role: Invalid input: expected string, received null'],
    [{ role: 'x', extra: 1, other: 2 }, 'extra: is not a known field'],
    [{ extra: 1, role: 5 }, 'role: Invalid input: expected string, received number'],
    [['x'], 'Invalid input: expected object, received array'],
  ])('refuses the body %j with "%s"', (body, message) => {
    expect(outcome(credentialsBodySchema, body)).toMatchObject({ message })
  })

  it('keeps exactly the fields given', () => {
    expect(outcome(credentialsBodySchema, { durationSeconds: 900 })).toStrictEqual({
      value: { durationSeconds: 900 },
    })
    expect(outcome(credentialsQuerySchema, {})).toStrictEqual({ value: {} })
  })
})
