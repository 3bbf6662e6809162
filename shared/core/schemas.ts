// Schemas of everything a caller sends: admin documents and credential requests. Unknown
// fields are refused, and every message names the field it is about. Written with zod/mini, the
// tree-shakable form of zod (same checks, same messages as its full API, which cost the admin
// bundle about 60 KB more: docs/decisions.md, "Bundle size").
import { en } from 'zod/locales'
import * as z from 'zod/mini'
import { MAX_SUB_LENGTH } from './claim-checks.js'
import { compileCondition, describeConditionProblem, MAX_CONDITION_LENGTH } from './condition.js'
import { MAX_SESSION_SECONDS, MIN_SESSION_SECONDS } from './credentials-request.js'
import { parseJsonPointer } from './json-pointer.js'
import { KEY_SYNC_AUDIENCE, SIGNING_ALGORITHMS } from './model.js'
import { ID_PATTERN, PROFILE_PATTERN, ROLE_ARN_PATTERN } from './patterns.js'
import { MAX_SESSION_TAGS, parseTemplate, TAG_KEY_PATTERN } from './templates.js'

// zod/mini leaves the messages to a locale; these are the English ones (the full API sets them
// on import). parseInput (parse-input.ts) reads the message of the first issue.
z.config(en())

// The credentials requests are checked without zod (credentials-request.ts) and parseInput
// takes any Standard Schema (parse-input.ts); both stay reachable from here.
export {
  credentialsBodySchema,
  credentialsQuerySchema,
  MAX_SESSION_SECONDS,
  MIN_SESSION_SECONDS,
} from './credentials-request.js'
export { parseInput } from './parse-input.js'

const text = (max: number) => z.string().check(z.minLength(1), z.maxLength(max))
const id = z
  .string()
  .check(
    z.regex(ID_PATTERN, 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit'),
  )
/** z.number() with z.int(), as the full API's z.number().int().min(min).max(max). */
const integer = (min: number, max: number) => z.number().check(z.int(), z.minimum(min), z.maximum(max))

/** Accepted as read (GET → edit → PUT); the server sets them. `version` is the write precondition. */
const serverFields = {
  version: z.optional(z.number().check(z.int(), z.minimum(1))),
  createdAt: z.optional(z.string().check(z.maxLength(64))),
  updatedAt: z.optional(z.string().check(z.maxLength(64))),
  updatedBy: z.optional(z.string().check(z.maxLength(2048))),
}

const templateText = (max: number) =>
  z.string().check(
    z.maxLength(max),
    z.superRefine((value, ctx) => {
      const parsed = parseTemplate(value)
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: `invalid template: ${parsed}` })
    }),
  )

const isHttpUrl = (value: string): boolean => {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:'
  } catch {
    return false
  }
}

/** Names JavaScript objects reserve: `__proto__` is dropped when an object is built from the
 * member, `constructor` and `prototype` shadow what code reads of every object. */
const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype'])

interface Unstorable {
  path: (string | number)[]
  message: string
}

/**
 * The first member of a JSON document that would not be stored as sent (docs/decisions.md,
 * "Admin documents round-trip"): a `__proto__` member anywhere (building an object from it sets
 * a prototype or nothing, and the member is gone), a reserved name as a key of a record-shaped
 * field (`recordFields`, whose keys are data: tag keys, claim pointers), and a number JSON cannot
 * hold (`1e400` parses as Infinity and would be stored as null).
 */
const unstorable = (document: unknown, recordFields: ReadonlySet<string>): Unstorable | undefined => {
  const pending: [unknown, (string | number)[]][] = [[document, []]]
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [value, path] = next
    if (typeof value === 'number' && !Number.isFinite(value)) {
      return { path, message: 'is a number JSON cannot hold (it would be stored as null)' }
    }
    if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index--) pending.push([value[index], [...path, index]])
    } else if (typeof value === 'object' && value !== null) {
      const record = path.length === 1 && recordFields.has(String(path[0]))
      const keys = Object.keys(value)
      for (const key of keys) {
        if (key === '__proto__' || (record && RESERVED_NAMES.has(key))) {
          return {
            path: [...path, key],
            message: `is a name JavaScript objects reserve (${[...RESERVED_NAMES].join(', ')}): it would not be stored as sent`,
          }
        }
      }
      for (let index = keys.length - 1; index >= 0; index--) {
        const key = keys[index] as string
        pending.push([(value as Record<string, unknown>)[key], [...path, key]])
      }
    }
  }
  return undefined
}

/** Checks the document as sent, before a schema builds objects from it (and loses what cannot be held). */
const storedAsSent = (
  recordFields: readonly string[],
  more?: (document: unknown) => Unstorable | undefined,
) => {
  const records = new Set(recordFields)
  return z.unknown().check(
    z.superRefine((document, ctx) => {
      const problem = unstorable(document, records) ?? more?.(document)
      if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message })
    }),
  )
}

/** The broker stores a key set as {"keys": [...]}: any other member would be dropped. */
const keySetMembers = (document: unknown): Unstorable | undefined => {
  const jwks = (document as { jwks?: unknown } | null)?.jwks
  if (typeof jwks !== 'object' || jwks === null || Array.isArray(jwks)) return undefined
  const extra = Object.keys(jwks).find((key) => key !== 'keys')
  return extra === undefined
    ? undefined
    : { path: ['jwks', extra], message: 'is not a known field (a key set is stored as {"keys": [...]})' }
}

const issuerObject = z
  .strictObject({
    issuerId: z.optional(id),
    issuer: text(1024).check(
      z.refine(isHttpUrl, 'must be an http(s) URL, exactly as the tokens carry it in "iss"'),
    ),
    audiences: z.array(text(256)).check(z.minLength(1), z.maxLength(20)),
    jwks: z.optional(z.unknown()),
    jwksUri: z.optional(
      text(2048).check(
        z.refine(isHttpUrl, 'must be an https URL (http only to loopback, in local mode, when allowed)'),
      ),
    ),
    discovery: z.optional(
      z.literal(true, 'must be true when present (it means: find the keys by discovery)'),
    ),
    algorithms: z._default(
      z.array(z.enum(SIGNING_ALGORITHMS)).check(
        z.minLength(1),
        z.refine((list) => new Set(list).size === list.length, 'must not repeat an algorithm'),
      ),
      ['RS256', 'ES256'],
    ),
    maxTokenLifetimeSeconds: z._default(integer(60, 366 * 86400), 86400),
    clockSkewSeconds: z._default(integer(0, 300), 60),
    mode: z._default(z.enum(['broker', 'passthrough']), 'broker'),
    enabled: z._default(z.boolean(), true),
    description: z.optional(z.string().check(z.maxLength(1024))),
    // Key push (docs/api.md, "Key push"): the exact `sub` of the token allowed to replace the inline keys.
    keySync: z.optional(z.strictObject({ subject: text(MAX_SUB_LENGTH) })),
    ...serverFields,
    keysPushedAt: z.optional(z.string().check(z.maxLength(64))),
    // Server-managed too: set by the revocation routes, kept by a PUT of the issuer (admin.ts).
    revocations: z.optional(z.array(z.unknown())),
  })
  .check(
    z.superRefine((doc, ctx) => {
      // Exactly one key source: inline keys, a JWKS URL, or discovery from the issuer URL.
      const sources = (['jwks', 'jwksUri', 'discovery'] as const).filter((field) => doc[field] !== undefined)
      if (sources.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['jwks'],
          message:
            'is required, or "jwksUri" or "discovery": true (the issuer\'s public keys, {"keys": [...]})',
        })
      } else if (sources.length > 1) {
        ctx.addIssue({
          code: 'custom',
          path: [sources[1] ?? 'jwks'],
          message: `give exactly one of "jwks", "jwksUri" and "discovery", not ${sources.map((f) => `"${f}"`).join(' and ')}`,
        })
      }
      // The key-sync audience is the push's alone: a token of it must never be a workload's.
      const reserved = doc.audiences.indexOf(KEY_SYNC_AUDIENCE)
      if (reserved >= 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['audiences', reserved],
          message: `"${KEY_SYNC_AUDIENCE}" is the audience of key push tokens (keySync), never of workloads`,
        })
      }
      // Remote keys are fetched from the issuer; only inline keys can be pushed.
      if (doc.keySync !== undefined && doc.jwks === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['keySync'],
          message:
            'needs inline "jwks": the keys of an issuer registered by "jwksUri" or "discovery" are fetched, not pushed',
        })
      }
    }),
  )

export const issuerDocumentSchema = z.pipe(storedAsSent([], keySetMembers), issuerObject)

const claimRules = z.record(z.string(), z.array(text(1024)).check(z.minLength(1), z.maxLength(100))).check(
  z.superRefine((rules, ctx) => {
    const keys = Object.keys(rules)
    if (keys.length > 20) ctx.addIssue({ code: 'custom', message: 'at most 20 claim rules' })
    for (const key of keys) {
      if (key === '' || !parseJsonPointer(key)) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'keys must be JSON Pointers like "/kubernetes.io/namespace"',
        })
      }
    }
  }),
)

const sessionTags = z.record(z.string(), templateText(512)).check(
  z.superRefine((tags, ctx) => {
    const keys = Object.keys(tags)
    if (keys.length > MAX_SESSION_TAGS)
      ctx.addIssue({ code: 'custom', message: `at most ${MAX_SESSION_TAGS} tags` })
    const lower = new Set<string>()
    for (const key of keys) {
      if (!TAG_KEY_PATTERN.test(key)) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'tag keys are 1-128 letters, digits, spaces or _.:/=+-@',
        })
      }
      // STS treats tag keys case-insensitively; two keys differing only in case would collide.
      if (lower.has(key.toLowerCase()))
        ctx.addIssue({ code: 'custom', path: [key], message: 'duplicates another key (case-insensitive)' })
      lower.add(key.toLowerCase())
    }
  }),
)

const isCatchAll = (pattern: string) => /^\*+$/.test(pattern)

/**
 * True when no rule narrows the workloads: every list (any-of) holds a pattern of only `*`.
 * A claim rule of `*` still requires the claim, but every token of a Kubernetes issuer has it.
 * A condition is deliberately not looked at: whether it narrows is only known at run time.
 */
const matchesAnyWorkload = (
  subjects: string[] | undefined,
  claims: Record<string, string[]> | undefined,
): boolean =>
  (subjects === undefined || subjects.some(isCatchAll)) &&
  Object.values(claims ?? {}).every((patterns) => patterns.some(isCatchAll))

const bindingObject = z
  .strictObject({
    bindingId: z.optional(id),
    issuerId: z.optional(id),
    roleArn: z
      .string()
      .check(z.regex(ROLE_ARN_PATTERN, 'must be an IAM role ARN like arn:aws:iam::111122223333:role/name')),
    profile: z.optional(
      z.string().check(z.regex(PROFILE_PATTERN, 'must be 1-64 letters, digits, ".", "_" or "-"')),
    ),
    subjects: z.optional(z.array(text(1024)).check(z.minLength(1), z.maxLength(100))),
    claims: z.optional(claimRules),
    condition: z.optional(text(MAX_CONDITION_LENGTH)),
    allowAnyWorkload: z.optional(z.boolean()),
    sessionName: z.optional(templateText(256)),
    sourceIdentity: z.optional(templateText(256)),
    sessionTags: z.optional(sessionTags),
    transitiveTagKeys: z.optional(z.array(text(128)).check(z.maxLength(MAX_SESSION_TAGS))),
    durationSeconds: z._default(integer(MIN_SESSION_SECONDS, MAX_SESSION_SECONDS), 3600),
    enabled: z._default(z.boolean(), true),
    description: z.optional(z.string().check(z.maxLength(1024))),
    ...serverFields,
  })
  .check(
    z.superRefine((doc, ctx) => {
      if (doc.condition !== undefined) {
        const compiled = compileCondition(doc.condition)
        if ('position' in compiled)
          ctx.addIssue({
            code: 'custom',
            path: ['condition'],
            message: describeConditionProblem(doc.condition, compiled),
          })
      }
      const hasClaims = doc.claims !== undefined && Object.keys(doc.claims).length > 0
      const hasCondition = doc.condition !== undefined
      if (!doc.subjects && !hasClaims && !hasCondition) {
        ctx.addIssue({
          code: 'custom',
          path: ['subjects'],
          message: 'a binding needs "subjects", "claims" or a "condition"',
        })
      } else if (matchesAnyWorkload(doc.subjects, doc.claims) && doc.allowAnyWorkload !== true) {
        // A condition does not count as narrowing: it is only known at run time, and `true`,
        // `claims.sub != ''` or a typo'd comparison narrows nothing.
        ctx.addIssue({
          code: 'custom',
          path: [doc.subjects || !hasClaims ? 'subjects' : 'claims'],
          message: hasCondition
            ? 'matches every workload of the issuer whatever the condition says (a condition may not narrow at all); set "allowAnyWorkload": true to mean it'
            : 'matches every workload of the issuer; set "allowAnyWorkload": true to mean it',
        })
      }
      const transitive = new Set<string>()
      for (const key of doc.transitiveTagKeys ?? []) {
        if (transitive.has(key)) {
          ctx.addIssue({ code: 'custom', path: ['transitiveTagKeys'], message: `lists "${key}" twice` })
        }
        transitive.add(key)
        if (!doc.sessionTags || !Object.hasOwn(doc.sessionTags, key)) {
          ctx.addIssue({
            code: 'custom',
            path: ['transitiveTagKeys'],
            message: `"${key}" is not a key of sessionTags`,
          })
        }
      }
    }),
  )

export const bindingDocumentSchema = z.pipe(storedAsSent(['sessionTags', 'claims']), bindingObject)

export const explainBodySchema = z.strictObject({ token: z.string(), role: z.optional(text(2048)) })

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/

/**
 * `POST …/revocations` (docs/api.md, "Revocation document"): the scope (the whole issuer, one
 * binding, and/or the workloads whose `sub` matches `subject`, exact or a `*` glob) and when it
 * takes effect.
 */
export const revocationDocumentSchema = z.strictObject({
  bindingId: z.optional(id),
  subject: z.optional(text(MAX_SUB_LENGTH)),
  notBefore: z.optional(
    z.string().check(
      z.maxLength(64),
      z.refine(
        (value) => ISO_TIME.test(value) && !Number.isNaN(Date.parse(value)),
        'must be an ISO 8601 time like 2026-12-04T18:40:00Z',
      ),
    ),
  ),
})
