// Binding conditions (docs/decisions.md, "Bindings") as the exchange runs them: parsed and type-checked, then
// evaluated over the verified claims under the run-time guard (condition-guard.ts), which charges
// every node from the cost table (condition-charges.ts) and stops at the cap. The static bound
// (condition-cost.ts) is checked where a condition is registered (condition.ts, the admin
// function and the CLI); the exchange path does without it (docs/decisions.md, "Bundle size").
import { Environment } from '@marcbachmann/cel-js'
import type { CelNode } from './condition-charges.js'
import { createMeter, guardPlan, installGuard, type Meter, runGuarded } from './condition-guard.js'
import type { WorkloadClaims } from './model.js'

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

export interface ParsedCondition {
  readonly source: string
  readonly ast: CelNode
  readonly evaluate: (context: { claims: ReadonlyMap<string, unknown> }) => unknown
}

/**
 * Parses and type-checks `source` with one declared variable, `claims` (a map); the result
 * must be a bool (or dyn, checked again at run time).
 */
export const parseCondition = (source: string): ParsedCondition | ConditionProblem => {
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
  return { source, ast: evaluator.ast as unknown as CelNode, evaluate: (context) => evaluator(context) }
}

/** Installs the guard on a parsed condition; refuses one it cannot guard. */
export const guardCondition = (parsed: ParsedCondition): CompiledCondition | ConditionProblem => {
  const plan = guardPlan(parsed.ast)
  if ('position' in plan) return plan
  try {
    installGuard(parsed.ast, plan)
  } catch {
    // The guard reads what the library's type check leaves on each node (package.json pins the
    // version); a node without it is refused rather than evaluated unguarded.
    return { position: 0, message: 'cannot be guarded by this version of the broker' }
  }
  const { source, ast, evaluate } = parsed
  return { source, ast, run: (claims, meter) => runGuarded(meter, () => evaluate({ claims })) }
}

/** A stored condition, ready to evaluate under the guard (no static bound: see the header). */
export const compileForEvaluation = (source: string): CompiledCondition | ConditionProblem => {
  const parsed = parseCondition(source)
  return 'position' in parsed ? parsed : guardCondition(parsed)
}

/** Compiled conditions by source text; bounded, since bindings come and go with the registry cache. */
const compiled = new Map<string, CompiledCondition | ConditionProblem>()
const MAX_COMPILED = 1000

const compiledFor = (source: string): CompiledCondition | ConditionProblem => {
  let entry = compiled.get(source)
  if (!entry) {
    entry = compileForEvaluation(source)
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
 * of another type, an expression that does not compile or that the guard cannot run, any
 * runtime error (a missing key, a type mismatch, an overflow) and the guard stopping it at its
 * cap are no match, with a detail for the audit log and `explain`.
 */
export const evaluateCondition = (source: string, claims: WorkloadClaims): ConditionOutcome => {
  const condition = compiledFor(source)
  if ('position' in condition) return { matched: false, detail: 'invalid_expression' }
  return evaluateCompiled(condition, claims)
}
