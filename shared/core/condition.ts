// CEL conditions of bindings (docs/decisions.md, "Bindings") where they are registered (the admin
// documents, the CLI's local checks): compiled, type-checked and bounded (condition-cost.ts: the
// size of every value and the work of one evaluation, over any claims a token can carry), then
// guarded as the exchange runs them (condition-run.ts). The exchange path imports condition-run.ts
// alone, so the credentials Lambda carries the guard and its cost table, not the static model.
import { boundCondition, type ConditionBound } from './condition-cost.js'
import {
  type CompiledCondition,
  type ConditionProblem,
  guardCondition,
  MAX_CONDITION_LENGTH,
  parseCondition,
} from './condition-run.js'

export { MAX_CONDITION_COST, MAX_CONDITION_VALUE_SIZE } from './condition-charges.js'
export type { CompiledCondition, ConditionProblem }
export { MAX_CONDITION_LENGTH }

export interface BoundedCondition extends CompiledCondition {
  readonly bound: ConditionBound
}

/**
 * Parses and type-checks `source` (condition-run.ts) and refuses what it cannot bound: a
 * function the cost model does not know, a value over MAX_CONDITION_VALUE_SIZE, a cost over
 * MAX_CONDITION_COST. `enforceBound: false` keeps the guard and skips the limits: only for the
 * tests that show the guard holds on its own.
 */
export const compileCondition = (
  source: string,
  options: { enforceBound?: boolean } = {},
): BoundedCondition | ConditionProblem => {
  const parsed = parseCondition(source)
  if ('position' in parsed) return parsed
  const bound = boundCondition(parsed.ast, source, { enforce: options.enforceBound !== false })
  if ('position' in bound) return bound
  const guarded = guardCondition(parsed)
  if ('position' in guarded) return guarded
  return { ...guarded, bound }
}

/** Describes a problem the way admin errors name it: offset, then line and column for people. */
export const describeConditionProblem = (source: string, problem: ConditionProblem): string => {
  const before = source.slice(0, problem.position).split('\n')
  const line = before.length
  const column = (before[before.length - 1]?.length ?? 0) + 1
  return `invalid CEL at position ${problem.position} (line ${line}, column ${column}): ${problem.message}`
}
