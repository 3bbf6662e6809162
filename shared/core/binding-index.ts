// Where a binding is found from a token (docs/decisions.md, "Binding index"): a binding whose
// subjects are all exact (no `*`) can match only a token whose `sub` is one of them, so it is
// listed under each of those subjects; every other binding (a subject glob, or no subjects: claims
// or condition only, any workload) is a pattern binding, listed under its issuer's one pattern
// partition. A token's candidates are the bindings under its `sub` and the pattern bindings: a
// superset of those that can match, each then evaluated whole.
import type { Binding } from './model.js'

export const subjectIndexPk = (issuerId: string, subject: string) => `SUBJECT#${issuerId}#${subject}`
export const patternIndexPk = (issuerId: string) => `PATTERNS#${issuerId}`

/** The binding's exact subjects, or undefined when it is a pattern binding. */
export const exactSubjectsOf = (binding: Pick<Binding, 'subjects'>): string[] | undefined =>
  binding.subjects &&
  binding.subjects.length > 0 &&
  binding.subjects.every((subject) => !subject.includes('*'))
    ? [...new Set(binding.subjects)]
    : undefined

/** The index partitions that list the binding. */
export const indexEntriesOf = (binding: Pick<Binding, 'issuerId' | 'subjects'>): string[] =>
  exactSubjectsOf(binding)?.map((subject) => subjectIndexPk(binding.issuerId, subject)) ?? [
    patternIndexPk(binding.issuerId),
  ]
