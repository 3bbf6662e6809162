// Schemas of everything a caller sends: admin documents and credential requests. Unknown
// fields are refused, and every message names the field it is about.
import * as z from 'zod'
import { compileCondition, describeConditionProblem, MAX_CONDITION_LENGTH } from './condition.js'
import { MAX_SESSION_SECONDS, MIN_SESSION_SECONDS } from './credentials-request.js'
import { parseJsonPointer } from './json-pointer.js'
import { SIGNING_ALGORITHMS } from './model.js'
import { ID_PATTERN, PROFILE_PATTERN, ROLE_ARN_PATTERN } from './patterns.js'
import { MAX_SESSION_TAGS, parseTemplate, TAG_KEY_PATTERN } from './templates.js'

// The credentials requests are written with zod/mini (credentials-request.ts) and parseInput
// takes either API (parse-input.ts); both stay reachable from here.
export {
  credentialsBodySchema,
  credentialsQuerySchema,
  MAX_SESSION_SECONDS,
  MIN_SESSION_SECONDS,
} from './credentials-request.js'
export { parseInput } from './parse-input.js'

const text = (max: number) => z.string().min(1).max(max)
const id = z
  .string()
  .regex(ID_PATTERN, 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit')

/** Accepted as read (GET → edit → PUT); the server sets them. `version` is the write precondition. */
const serverFields = {
  version: z.number().int().min(1).optional(),
  createdAt: z.string().max(64).optional(),
  updatedAt: z.string().max(64).optional(),
  updatedBy: z.string().max(2048).optional(),
}

const templateText = (max: number) =>
  z
    .string()
    .max(max)
    .superRefine((value, ctx) => {
      const parsed = parseTemplate(value)
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: `invalid template: ${parsed}` })
    })

const isHttpUrl = (value: string): boolean => {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:'
  } catch {
    return false
  }
}

export const issuerDocumentSchema = z
  .strictObject({
    issuerId: id.optional(),
    issuer: text(1024).refine(isHttpUrl, 'must be an http(s) URL, exactly as the tokens carry it in "iss"'),
    audiences: z.array(text(256)).min(1).max(20),
    jwks: z.unknown().optional(),
    jwksUri: text(2048)
      .refine(isHttpUrl, 'must be an https URL (http only to loopback, in local mode, when allowed)')
      .optional(),
    discovery: z.literal(true, 'must be true when present (it means: find the keys by discovery)').optional(),
    algorithms: z
      .array(z.enum(SIGNING_ALGORITHMS))
      .min(1)
      .refine((list) => new Set(list).size === list.length, 'must not repeat an algorithm')
      .default(['RS256', 'ES256']),
    maxTokenLifetimeSeconds: z
      .number()
      .int()
      .min(60)
      .max(366 * 86400)
      .default(86400),
    clockSkewSeconds: z.number().int().min(0).max(300).default(60),
    mode: z.enum(['broker', 'passthrough']).default('broker'),
    enabled: z.boolean().default(true),
    description: z.string().max(1024).optional(),
    ...serverFields,
  })
  .superRefine((doc, ctx) => {
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
  })

const claimRules = z.record(z.string(), z.array(text(1024)).min(1).max(100)).superRefine((rules, ctx) => {
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
})

const sessionTags = z.record(z.string(), templateText(512)).superRefine((tags, ctx) => {
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
})

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

export const bindingDocumentSchema = z
  .strictObject({
    bindingId: id.optional(),
    issuerId: id.optional(),
    roleArn: z
      .string()
      .regex(ROLE_ARN_PATTERN, 'must be an IAM role ARN like arn:aws:iam::111122223333:role/name'),
    profile: z.string().regex(PROFILE_PATTERN, 'must be 1-64 letters, digits, ".", "_" or "-"').optional(),
    subjects: z.array(text(1024)).min(1).max(100).optional(),
    claims: claimRules.optional(),
    condition: z.string().min(1).max(MAX_CONDITION_LENGTH).optional(),
    allowAnyWorkload: z.boolean().optional(),
    sessionName: templateText(256).optional(),
    sessionTags: sessionTags.optional(),
    transitiveTagKeys: z.array(text(128)).max(MAX_SESSION_TAGS).optional(),
    durationSeconds: z.number().int().min(MIN_SESSION_SECONDS).max(MAX_SESSION_SECONDS).default(3600),
    enabled: z.boolean().default(true),
    description: z.string().max(1024).optional(),
    ...serverFields,
  })
  .superRefine((doc, ctx) => {
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
    for (const key of doc.transitiveTagKeys ?? []) {
      if (!doc.sessionTags || !Object.hasOwn(doc.sessionTags, key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['transitiveTagKeys'],
          message: `"${key}" is not a key of sessionTags`,
        })
      }
    }
  })

export const explainBodySchema = z.strictObject({ token: z.string(), role: text(2048).optional() })
