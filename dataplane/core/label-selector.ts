// Kubernetes label selectors (metav1.LabelSelector) over a pod's labels, with the API's
// semantics: every matchLabels pair and every expression must hold; an empty selector matches
// every pod; NotIn and DoesNotExist hold for a pod without the key.
import * as z from 'zod/mini'

export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'

export interface LabelSelectorRequirement {
  key: string
  operator: LabelSelectorOperator
  values?: readonly string[] | undefined
}

export interface LabelSelector {
  matchLabels?: Readonly<Record<string, string>> | undefined
  matchExpressions?: readonly LabelSelectorRequirement[] | undefined
}

// A label key is an optional DNS-subdomain prefix and `/`, then a name of at most 63
// characters; values are at most 63. Loose on purpose: a selector names labels, it does not
// define them, and the API server has already checked the pods' labels.
const labelValue = z.string().check(z.regex(/^[A-Za-z0-9._-]{0,63}$/, 'is not a label value'))

const LABEL_KEY = /^([a-z0-9.-]{1,253}\/)?[A-Za-z0-9._-]{1,63}$/

export const labelSelectorSchema = z.strictObject({
  matchLabels: z.optional(
    z.record(z.string(), labelValue).check(
      z.superRefine((labels, ctx) => {
        const keys = Object.keys(labels)
        if (keys.length > 100) ctx.addIssue({ code: 'custom', message: 'at most 100 labels' })
        for (const key of keys)
          if (!LABEL_KEY.test(key))
            ctx.addIssue({ code: 'custom', path: [key], message: 'is not a label key' })
      }),
    ),
  ),
  matchExpressions: z.optional(
    z
      .array(
        z
          .strictObject({
            key: z.string().check(z.regex(LABEL_KEY, 'is not a label key')),
            operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
            values: z.optional(z.array(labelValue).check(z.maxLength(100))),
          })
          .check(
            z.superRefine((requirement, ctx) => {
              const count = requirement.values?.length ?? 0
              const needsValues = requirement.operator === 'In' || requirement.operator === 'NotIn'
              if (needsValues && count === 0)
                ctx.addIssue({
                  code: 'custom',
                  path: ['values'],
                  message: `must not be empty for ${requirement.operator}`,
                })
              if (!needsValues && count > 0)
                ctx.addIssue({
                  code: 'custom',
                  path: ['values'],
                  message: `must be empty for ${requirement.operator}`,
                })
            }),
          ),
      )
      .check(z.maxLength(100)),
  ),
})

const holds = (requirement: LabelSelectorRequirement, labels: ReadonlyMap<string, string>): boolean => {
  const value = labels.get(requirement.key)
  switch (requirement.operator) {
    case 'In':
      return value !== undefined && (requirement.values ?? []).includes(value)
    case 'NotIn':
      return value === undefined || !(requirement.values ?? []).includes(value)
    case 'Exists':
      return value !== undefined
    case 'DoesNotExist':
      return value === undefined
  }
}

export const matchesLabelSelector = (selector: LabelSelector, labels: ReadonlyMap<string, string>): boolean =>
  Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels.get(key) === value) &&
  (selector.matchExpressions ?? []).every((requirement) => holds(requirement, labels))
