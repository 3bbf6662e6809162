// What GET and POST /v1/credentials accept besides the token: the query string and the
// credential_process body. Written with zod/mini, the tree-shakable form of zod, because the
// credentials function answers the SDKs of a whole Deployment at once when it starts cold:
// the full API would add about 75 KB and 10 ms to that function's module init (BENCHMARKS.md,
// "Cold start and memory"). Same rules and messages as the rest of schemas.ts (parse-input.ts).
import * as z from 'zod/mini'

/** STS AssumeRoleWithWebIdentity's limits on DurationSeconds. */
export const MIN_SESSION_SECONDS = 900
export const MAX_SESSION_SECONDS = 43200

const text = (max: number) => z.string().check(z.minLength(1), z.maxLength(max))

export const credentialsQuerySchema = z.strictObject({ role: z.optional(text(2048)) })

export const credentialsBodySchema = z.strictObject({
  role: z.optional(text(2048)),
  durationSeconds: z.optional(
    z.number().check(z.int(), z.minimum(MIN_SESSION_SECONDS), z.maximum(MAX_SESSION_SECONDS)),
  ),
})
