// Kubernetes label selectors (metav1.LabelSelector) evaluated as the API server does, to check
// which namespaces and pods the shipped webhook entries select: matchLabels and matchExpressions
// are ANDed; NotIn and DoesNotExist match an object without the key; an empty selector matches all.
// https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#resources-that-support-set-based-requirements

export interface LabelSelector {
  matchLabels?: Record<string, string>
  matchExpressions?: {
    key: string
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'
    values?: string[]
  }[]
}

export const selects = (selector: LabelSelector | undefined, labels: Record<string, string>): boolean => {
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {}))
    if (labels[key] !== value) return false
  for (const { key, operator, values = [] } of selector?.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key)
    const ok =
      operator === 'In'
        ? has && values.includes(labels[key] as string)
        : operator === 'NotIn'
          ? !has || !values.includes(labels[key] as string)
          : operator === 'Exists'
            ? has
            : operator === 'DoesNotExist'
              ? !has
              : (() => {
                  throw new Error(`unknown label selector operator ${operator}`)
                })()
    if (!ok) return false
  }
  return true
}
