// CEL conditions of bindings (DESIGN §3): compiled, type-checked and bounded at registration
// (condition-cost.ts: the size of every value and the work of one evaluation, over any claims a
// token can carry), evaluated over the verified claims under a guard (condition-guard.ts).
import { Environment } from '@marcbachmann/cel-js'
import {
  boundCondition,
  type CelNode,
  type ConditionBound,
  MAX_CONDITION_COST,
  MAX_CONDITION_VALUE_SIZE,
} from './condition-cost.js'
import { createMeter, installGuard, type Meter, runGuarded } from './condition-guard.js'
import type { WorkloadClaims } from './model.js'

export { MAX_CONDITION_COST, MAX_CONDITION_VALUE_SIZE }

export const MAX_CONDITION_LENGTH = 2048

/** The library's own parse-time limits: no deeper or larger expression is ever built. */
const PARSE_LIMITS = {
  maxAstNodes: 256,
  maxDepth: 32,
  maxListElements: 100,
  maxMapEntries: 100,
  maxCallArguments: 8,
}

const environment = new Environment({ limits: PARSE_LIMITS }).registerVariable('claims', 'map')

export interface ConditionProblem {
  /** Zero-based offset in the expression where the problem starts. */
  position: number
  message: string
}

export interface CompiledCondition {
  readonly source: string
  readonly ast: CelNode
  readonly bound: ConditionBound
  /** Evaluates over claims as celClaims gives them, charging `meter`. */
  run(claims: ReadonlyMap<string, unknown>, meter: Meter): unknown
}

export type ConditionOutcome = { matched: true } | { matched: false; detail: string }

interface CelErrorShape {
  range?: { start: number }
  summary?: string
  message?: string
}

const problemOf = (error: unknown): ConditionProblem => {
  const shape = (error ?? {}) as CelErrorShape
  return {
    position: shape.range?.start ?? 0,
    message: shape.summary ?? String(shape.message ?? 'invalid expression').split('\n')[0] ?? '',
  }
}

/**
 * Parses and type-checks `source` with one declared variable, `claims` (a map); the result
 * must be a bool (or dyn, checked again at run time). Refuses what it cannot bound: a function
 * the cost model does not know, a value over MAX_CONDITION_VALUE_SIZE, a cost over
 * MAX_CONDITION_COST. `enforceBound: false` keeps the guard and skips the limits: only for the
 * tests that show the guard holds on its own.
 */
export const compileCondition = (
  source: string,
  options: { enforceBound?: boolean } = {},
): CompiledCondition | ConditionProblem => {
  if (source.length > MAX_CONDITION_LENGTH) {
    return { position: MAX_CONDITION_LENGTH, message: `longer than ${MAX_CONDITION_LENGTH} characters` }
  }
  let evaluator: ReturnType<typeof environment.parse>
  try {
    evaluator = environment.parse(source)
  } catch (error) {
    return problemOf(error)
  }
  const checked = evaluator.check()
  if (!checked.valid) return problemOf(checked.error)
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    return { position: 0, message: `must evaluate to a bool, not ${checked.type}` }
  }
  const ast = evaluator.ast as unknown as CelNode
  const bound = boundCondition(ast, source, { enforce: options.enforceBound !== false })
  if ('position' in bound) return bound
  try {
    installGuard(ast, bound)
  } catch {
    // The guard reads what the library's type check leaves on each node (package.json pins the
    // version); a node without it is refused rather than evaluated unguarded.
    return { position: 0, message: 'cannot be guarded by this version of the broker' }
  }
  return {
    source,
    ast,
    bound,
    run: (claims, meter) => runGuarded(meter, () => evaluator({ claims })),
  }
}

/** Describes a problem the way admin errors name it: offset, then line and column for people. */
export const describeConditionProblem = (source: string, problem: ConditionProblem): string => {
  const before = source.slice(0, problem.position).split('\n')
  const line = before.length
  const column = (before[before.length - 1]?.length ?? 0) + 1
  return `invalid CEL at position ${problem.position} (line ${line}, column ${column}): ${problem.message}`
}

/** Compiled conditions by source text; bounded, since bindings come and go with the registry cache. */
const compiled = new Map<string, CompiledCondition | ConditionProblem>()
const MAX_COMPILED = 1000

const compiledFor = (source: string): CompiledCondition | ConditionProblem => {
  let entry = compiled.get(source)
  if (!entry) {
    entry = compileCondition(source)
    if (compiled.size >= MAX_COMPILED) compiled.clear()
    compiled.set(source, entry)
  }
  return entry
}

const toCelValue = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(toCelValue)
  if (typeof value !== 'object' || value === null) return value
  const map = new Map<string, unknown>()
  for (const key of Object.keys(value)) map.set(key, toCelValue((value as Record<string, unknown>)[key]))
  return map
}

const converted = new WeakMap<object, ReadonlyMap<string, unknown>>()

/**
 * The claims as CEL sees them: objects become Maps. A JSON object of many members is a
 * dictionary for V8, which lists its keys (0.3 µs each) every time the library asks for a map's
 * size or first entry; a Map answers at once. Own members only, `__proto__` a key like any other.
 * Converted once per claims object, however many bindings look at it.
 */
export const celClaims = (claims: WorkloadClaims): ReadonlyMap<string, unknown> => {
  let map = converted.get(claims)
  if (!map) {
    map = toCelValue(claims) as ReadonlyMap<string, unknown>
    converted.set(claims, map)
  }
  return map
}

/** Evaluates a compiled condition over claims; see evaluateCondition. */
export const evaluateCompiled = (
  condition: CompiledCondition,
  claims: WorkloadClaims,
  meter: Meter = createMeter(),
): ConditionOutcome => {
  let value: unknown
  try {
    value = condition.run(celClaims(claims), meter)
  } catch (error) {
    if (meter.tripped) return { matched: false, detail: `guard:${meter.tripped}` }
    const code = (error as { code?: unknown } | null)?.code
    return { matched: false, detail: `error:${typeof code === 'string' ? code : 'evaluation_failed'}` }
  }
  if (meter.tripped) return { matched: false, detail: `guard:${meter.tripped}` }
  if (value === true) return { matched: true }
  return { matched: false, detail: value === false ? 'false' : 'not_bool' }
}

/**
 * Evaluates a binding's condition over verified claims. Only `true` matches: `false`, a value
 * of another type, an expression that no longer compiles or bounds, any runtime error (a
 * missing key, a type mismatch, an overflow) and the guard stopping it are no match, with a
 * detail for the audit log and `explain`.
 */
export const evaluateCondition = (source: string, claims: WorkloadClaims): ConditionOutcome => {
  const condition = compiledFor(source)
  if ('position' in condition) return { matched: false, detail: 'invalid_expression' }
  return evaluateCompiled(condition, claims)
}
