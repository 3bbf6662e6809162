// The optional rules file (a ConfigMap key): an ordered list of rules, the first whose
// namespaces, ServiceAccounts and pod selector all match a pod wires it, with its role, profiles
// and token lifetime unless an annotation says otherwise (precedence: docs/decisions.md,
// "Webhook"). YAML or JSON; unknown fields are refused and every message names its field.
import { parse } from 'yaml'
import { en } from 'zod/locales'
import * as z from 'zod/mini'
import { InvalidParameterError } from '../../shared/core/errors.js'
import { matchAnyGlob } from '../../shared/core/glob.js'
import { parseInput } from '../../shared/core/parse-input.js'
import { PROFILE_PATTERN, ROLE_ARN_PATTERN } from '../../shared/core/patterns.js'
import { type LabelSelector, labelSelectorSchema, matchesLabelSelector } from './label-selector.js'
import { MAX_TOKEN_EXPIRATION_SECONDS, MIN_TOKEN_EXPIRATION_SECONDS } from './names.js'

z.config(en())

export interface WebhookRule {
  /** `*` globs over the pod's namespace; required, so that a catch-all is always written out. */
  namespaces: readonly string[]
  /** `*` globs over the pod's ServiceAccount name; absent = every ServiceAccount. */
  serviceAccounts?: readonly string[] | undefined
  podSelector?: LabelSelector | undefined
  /** A binding's profile or a role ARN: the default role (`?role=`). */
  role?: string | undefined
  profiles?: boolean | undefined
  tokenExpiration?: number | undefined
}

/** A ConfigMap holds at most 1 MiB. */
export const MAX_RULES_TEXT_LENGTH = 1024 * 1024
export const MAX_RULES = 1000

export const isRoleName = (value: string): boolean =>
  PROFILE_PATTERN.test(value) || ROLE_ARN_PATTERN.test(value)

const globs = (pattern: RegExp, what: string) =>
  z
    .array(z.string().check(z.regex(pattern, `must be a ${what} or a * glob of one`)))
    .check(z.minLength(1), z.maxLength(100))

const ruleSchema = z.strictObject({
  namespaces: globs(/^[a-z0-9*][a-z0-9*-]{0,62}$/, 'namespace name'),
  serviceAccounts: z.optional(globs(/^[a-z0-9*][a-z0-9*.-]{0,252}$/, 'ServiceAccount name')),
  podSelector: z.optional(labelSelectorSchema),
  role: z.optional(
    z
      .string()
      .check(
        z.refine(isRoleName, 'must be a binding profile (letters, digits, ".", "_", "-") or an IAM role ARN'),
      ),
  ),
  profiles: z.optional(z.boolean()),
  tokenExpiration: z.optional(
    z
      .number()
      .check(z.int(), z.minimum(MIN_TOKEN_EXPIRATION_SECONDS), z.maximum(MAX_TOKEN_EXPIRATION_SECONDS)),
  ),
})

const rulesFileSchema = z.strictObject({
  rules: z.array(ruleSchema).check(z.maxLength(MAX_RULES)),
})

export type ParsedRules = { ok: true; rules: WebhookRule[] } | { ok: false; message: string }

/** Parses the rules file; an empty file is no rules. Never throws. */
export const parseWebhookRules = (text: string): ParsedRules => {
  if (text.length > MAX_RULES_TEXT_LENGTH)
    return { ok: false, message: `the rules file is over ${MAX_RULES_TEXT_LENGTH} characters` }
  let document: unknown
  try {
    // JSON is YAML. Aliases are bounded (a "billion laughs" file is refused), keys are unique.
    document = parse(text, { maxAliasCount: 100, uniqueKeys: true })
  } catch (error) {
    const position = (error as { linePos?: [{ line: number; col: number }] }).linePos?.[0]
    return {
      ok: false,
      message: `the rules file is not YAML or JSON${position ? ` (line ${position.line}, column ${position.col})` : ''}`,
    }
  }
  if (document === null || document === undefined) return { ok: true, rules: [] }
  try {
    const parsed = parseInput(rulesFileSchema, document)
    return { ok: true, rules: parsed.rules }
  } catch (error) {
    if (error instanceof InvalidParameterError) return { ok: false, message: error.message }
    throw error
  }
}

export interface RuleSubject {
  namespace: string
  serviceAccount: string
  labels: ReadonlyMap<string, string>
}

/** The first rule matching the pod, with its position (for logs), or undefined. */
export const firstMatchingRule = (
  rules: readonly WebhookRule[],
  subject: RuleSubject,
): { rule: WebhookRule; index: number } | undefined => {
  for (const [index, rule] of rules.entries()) {
    if (
      matchAnyGlob(rule.namespaces, subject.namespace) &&
      (rule.serviceAccounts === undefined || matchAnyGlob(rule.serviceAccounts, subject.serviceAccount)) &&
      (rule.podSelector === undefined || matchesLabelSelector(rule.podSelector, subject.labels))
    )
      return { rule, index }
  }
  return undefined
}
