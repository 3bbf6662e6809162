// The run-time wall behind the static bound (issue 12): while a condition runs, each node it
// evaluates and each value it builds is charged to a meter, and the size of a string, bytes or
// list is checked before the library allocates it. Were the static bound ever wrong, evaluation
// stops at the cap (no match, `guard:cost` or `guard:size`) instead of growing until V8 aborts.
// It charges from condition-charges.ts alone: the exchange path does not carry the static model
// (condition-cost.ts), and trusts the cap, not the registration, to stop a condition.
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator'
import {
  type CelEvaluate,
  type CelEvaluator,
  type CelNode,
  childrenOf,
  entryCount,
  FUNCTIONS,
  ITERATION_COST,
  isCollection,
  MAX_CONDITION_COST,
  MAX_CONDITION_VALUE_SIZE,
  MAX_INT,
  MIN_INT,
  OPERATORS,
  textLength,
} from './condition-charges.js'

export type GuardReason = 'cost' | 'size'

export interface Meter {
  /** Cost units charged so far. */
  cost: number
  readonly limit: number
  /** Why the guard stopped the evaluation, once it did. */
  tripped?: GuardReason
  /** Sees every node's value as it is produced (the property tests measure with it). */
  readonly observe?: (node: CelNode, value: unknown) => void
}

export const createMeter = (
  options: { limit?: number; observe?: (node: CelNode, value: unknown) => void } = {},
): Meter => ({
  cost: 0,
  limit: options.limit ?? MAX_CONDITION_COST,
  ...(options.observe ? { observe: options.observe } : {}),
})

/** An error the guard raises for the condition, with a code like the library's own. */
export class ConditionEvaluationError extends Error {
  constructor(
    readonly code: 'numeric_overflow' | 'invalid_logical_operand' | 'invalid_map_key' | 'invalid_index_type',
    message: string,
  ) {
    super(message)
    this.name = 'ConditionEvaluationError'
  }
}

/** Thrown through every frame once the guard trips; one instance, so a trip costs no allocation. */
class GuardTrip extends Error {
  constructor() {
    super('the condition guard stopped the evaluation')
    this.name = 'GuardTrip'
  }
}
const TRIP = new GuardTrip()

/** The meter of the evaluation running now (evaluation is synchronous: one at a time). */
let current: Meter | undefined

/** Runs `evaluate` with `meter` charged for every guarded node it reaches. */
export const runGuarded = <T>(meter: Meter, evaluate: () => T): T => {
  const outer = current
  current = meter
  try {
    return evaluate()
  } finally {
    current = outer
  }
}

const meter = (): Meter => {
  if (current === undefined) throw new Error('a guarded condition was evaluated outside runGuarded')
  return current
}

const trip = (m: Meter, reason: GuardReason): never => {
  m.tripped ??= reason
  throw TRIP
}

const enter = (): Meter => {
  const m = meter()
  if (!(++m.cost <= m.limit)) trip(m, 'cost')
  return m
}

const charge = (m: Meter, units: number): void => {
  m.cost += units
  if (!(m.cost <= m.limit)) trip(m, 'cost')
}

const checkSize = (m: Meter, size: number): void => {
  if (!(size <= MAX_CONDITION_VALUE_SIZE)) trip(m, 'size')
}

// CEL's ranges: years 0001-9999, durations of protobuf's ±10 000 years.
const MIN_TIME = -62_135_596_800_000
const MAX_TIME = 253_402_300_799_999
const MAX_DURATION_SECONDS = 315_576_000_000n

const overflow = (what: string) => new ConditionEvaluationError('numeric_overflow', `${what} out of range`)

/** CEL errors on overflow; the library lets some results leave the 64-bit range (int(1e300), -(-2⁶³)). */
const checkValue = (m: Meter, value: unknown): void => {
  switch (typeof value) {
    case 'bigint':
      if (value > MAX_INT || value < MIN_INT) throw overflow('integer')
      return
    case 'string':
      checkSize(m, value.length)
      return
    case 'object':
      if (value === null) return
      if (Array.isArray(value) || value instanceof Uint8Array) checkSize(m, value.length)
      else if (value instanceof Map) checkSize(m, value.size)
      else if (value instanceof Date) {
        const time = value.getTime()
        if (!(time >= MIN_TIME && time <= MAX_TIME)) throw overflow('timestamp')
      } else if (value instanceof Duration) {
        if (value.seconds > MAX_DURATION_SECONDS || value.seconds < -MAX_DURATION_SECONDS)
          throw overflow('duration')
      }
  }
}

const settle = (m: Meter, node: CelNode, value: unknown): unknown => {
  checkValue(m, value)
  m.observe?.(node, value)
  return value
}

/** A key a map can hold: CEL's string, int, uint and bool (the library would stringify a list). */
const isKey = (value: unknown): boolean =>
  typeof value === 'string' ||
  typeof value === 'bigint' ||
  typeof value === 'boolean' ||
  value instanceof UnsignedInt

/** Evaluates in the library's order (last argument first), so the same error surfaces first. */
const evaluateAll = (ev: CelEvaluator, nodes: readonly CelNode[], ctx: unknown): unknown[] => {
  const values = new Array<unknown>(nodes.length)
  for (let index = nodes.length - 1; index >= 0; index--) values[index] = ev.run(nodes[index] as CelNode, ctx)
  return values
}

/** How many elements a comprehension visits: a list's elements, a map's keys, bytes' indices. */
const iterations = (range: unknown): number =>
  range instanceof Uint8Array ? range.length : entryCount(range)

/** What the library would have run for this node. */
const originalOf = (node: CelNode): ((ev: CelEvaluator, ctx: unknown) => unknown) => {
  const { alternate, macro } = node.meta
  if (alternate) return (ev, ctx) => alternate.evaluate(ev, alternate, ctx)
  if (macro) return (ev, ctx) => macro.evaluate(ev, macro, ctx)
  const evaluate = node.meta.evaluate
  return (ev, ctx) => evaluate.call(node, ev, node, ctx)
}

const handleOf = (node: CelNode): ((...args: unknown[]) => unknown) => {
  const handle = node.handle
  if (typeof handle !== 'function') throw new Error(`the type check left no handler on a ${node.op} node`)
  return handle
}

/**
 * Errors end the evaluation: CEL lets `exists` and `all` carry on past one, but the library
 * builds each as an Error quoting the source (microseconds each), so a thousand of them would
 * cost more than the whole budget. No match is the answer either way once an error is raised.
 */
function strictTryEval(this: CelEvaluator, node: CelNode, ctx: unknown): unknown {
  return this.run(node, ctx)
}

/**
 * A value's type for choosing an overload, without the library's walk down the first element of
 * every list and map (up to the claims' 32 levels, on every call): lists are list<dyn>, maps
 * map<dyn, dyn>, as CEL types a dyn value.
 */
function shallowType(this: CelEvaluator, value: unknown): unknown {
  return this.debugType(value)
}

const makeStrict = (ev: CelEvaluator): void => {
  if (ev.tryEval === strictTryEval) return
  ev.tryEval = strictTryEval
  ev.debugTypeDeep = shallowType
}

const wrapperOf = (node: CelNode, plan: GuardPlan): CelEvaluate => {
  const original = originalOf(node)
  const { op, meta } = node
  if (op === 'rcall' && meta.alternate?.op === 'comprehension') {
    const comprehension = meta.alternate
    const args = comprehension.args as { iterable: CelNode }
    const handle = handleOf(comprehension)
    return (ev, _node, ctx) => {
      const m = enter()
      const range = ev.run(args.iterable, ctx)
      charge(m, ITERATION_COST * iterations(range))
      return settle(m, node, handle(range, args, ev, ctx))
    }
  }
  if ((op === 'call' || op === 'rcall') && !meta.alternate && !meta.macro) {
    const [name, first, rest] = node.args as [string, CelNode | CelNode[], CelNode[] | undefined]
    const method = op === 'rcall'
    const argNodes = method
      ? (node.receiverWithArgs ?? [first as CelNode, ...(rest ?? [])])
      : (first as CelNode[])
    const key = method ? `.${name}/${argNodes.length - 1}` : `${name}/${argNodes.length}`
    const model = FUNCTIONS.get(key)
    const handle = handleOf(node)
    return (ev, _node, ctx) => {
      const m = enter()
      const values = evaluateAll(ev, argNodes, ctx)
      if (model === undefined || 'refused' in model) return trip(m, 'cost')
      charge(m, model.charge(values))
      if (model.builds) checkSize(m, model.builds(values))
      checkConversion(key, values[0])
      return settle(m, node, method ? handle(values, ev, node) : handle(values, node, ev))
    }
  }
  if (op === '||' || op === '&&') {
    const [leftNode, rightNode] = node.args as [CelNode, CelNode]
    const decides = op === '||'
    return (ev, _node, ctx) => {
      const m = enter()
      const left = ev.run(leftNode, ctx)
      if (typeof left !== 'boolean') throw logicalOperand(op)
      if (left === decides) return settle(m, node, left)
      const right = ev.run(rightNode, ctx)
      if (typeof right !== 'boolean') throw logicalOperand(op)
      return settle(m, node, right)
    }
  }
  const model = OPERATORS.get(op)
  if (model) {
    const { left: leftNode, right: rightNode } = node
    if (!leftNode || !rightNode) throw new Error(`the type check left no operands on a ${op} node`)
    const handle = handleOf(node)
    const keyed = op === '[]' || op === 'in'
    return (ev, _node, ctx) => {
      const m = enter()
      const left = ev.run(leftNode, ctx)
      const right = ev.run(rightNode, ctx)
      if (keyed) checkKey(op, left, right)
      charge(m, model.charge(left, right, m.limit - m.cost + 1))
      if (model.builds) checkSize(m, model.builds(left, right))
      return settle(m, node, handle(left, right, node, ev))
    }
  }
  if (op === 'list' || op === 'map') {
    const entries = (node.args as unknown[]).length
    return (ev, _node, ctx) => {
      const m = enter()
      charge(m, entries)
      return settle(m, node, original(ev, ctx))
    }
  }
  if (plan.mapKeys.has(node)) {
    return (ev, _node, ctx) => {
      const m = enter()
      const key = original(ev, ctx)
      if (!isKey(key))
        throw new ConditionEvaluationError('invalid_map_key', 'a map key must be a string, int, uint or bool')
      charge(m, textLength(key))
      return settle(m, node, key)
    }
  }
  if (op === 'value') {
    // A literal is checked when the guard is installed (its int range too: guardPlan).
    return (ev, _node, ctx) => {
      const m = enter()
      const value = original(ev, ctx)
      m.observe?.(node, value)
      return value
    }
  }
  return (ev, _node, ctx) => settle(enter(), node, original(ev, ctx))
}

const logicalOperand = (op: string) =>
  new ConditionEvaluationError('invalid_logical_operand', `the operands of ${op} must be bools`)

/** A list or map as a key would be turned into a string as long as its contents. */
const checkKey = (op: string, left: unknown, right: unknown): void => {
  if (op === '[]' && typeof right === 'object' && right !== null && !(right instanceof UnsignedInt)) {
    throw new ConditionEvaluationError('invalid_index_type', 'an index must be a string, int, uint or bool')
  }
  if (op === 'in' && isCollection(right) && !Array.isArray(right) && !isKey(left) && left !== null) {
    throw new ConditionEvaluationError('invalid_map_key', 'a map key must be a string, int, uint or bool')
  }
}

/** CEL errors where the library would truncate silently: int(1e300), uint(-0.5). */
const checkConversion = (key: string, value: unknown): void => {
  if (typeof value !== 'number') return
  if (
    key === 'int/1' &&
    !(Number.isFinite(value) && Math.trunc(value) >= -(2 ** 63) && Math.trunc(value) < 2 ** 63)
  )
    throw overflow('int() of a double')
  if (key === 'uint/1' && !(Number.isFinite(value) && value >= 0 && value < 2 ** 64))
    throw overflow('uint() of a double')
}

export interface GuardPlan {
  /** Every node the guard wraps: the nodes the static bound bounds (a test holds them the same). */
  readonly nodes: readonly CelNode[]
  /** Nodes that hold a map literal's keys (the guard checks their type). */
  readonly mapKeys: ReadonlySet<CelNode>
}

export interface GuardProblem {
  position: number
  message: string
}

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter'])

/**
 * The nodes of a type-checked condition the guard wraps: every node of the parsed tree but the
 * names a macro binds (a comprehension's variable, cel.bind's `cel` and variable). Refuses what
 * the guard cannot charge — a macro it does not know, an int literal outside 64 bits (but
 * -9223372036854775808) — which the static bound refuses too, so only a condition stored
 * without registration meets this.
 */
export const guardPlan = (root: CelNode): GuardPlan | GuardProblem => {
  const nodes: CelNode[] = []
  const mapKeys = new Set<CelNode>()
  const unknownMacro = (node: CelNode, name: string): GuardProblem => ({
    position: node.start,
    message: `"${name}" is not a macro conditions may use`,
  })
  const walk = (node: CelNode, negated = false): GuardProblem | undefined => {
    nodes.push(node)
    const { op, meta } = node
    let children = childrenOf(node)
    if (op === 'value') {
      const value = node.args
      if (
        typeof value === 'bigint' &&
        (value > MAX_INT || value < MIN_INT) &&
        !(negated && value === MAX_INT + 1n)
      )
        return { position: node.start, message: `the integer ${value} is outside the 64-bit range` }
    } else if (op === 'call' && (meta.alternate || meta.macro)) {
      const [name] = node.args as [string]
      if (name !== 'has' || meta.alternate) return unknownMacro(node, name)
    } else if (op === 'rcall' && (meta.alternate || meta.macro)) {
      const [name, , argNodes] = node.args as [string, CelNode, CelNode[]]
      if (COMPREHENSIONS.has(name) && meta.alternate?.op === 'comprehension')
        children = children.filter((child) => child !== argNodes[0])
      else if (name === 'bind' && meta.macro && argNodes.length === 3) children = argNodes.slice(1)
      else return unknownMacro(node, name)
    } else if (op === 'map') {
      for (const [key] of node.args as [CelNode, CelNode][]) mapKeys.add(key)
    }
    for (const child of children) {
      const problem = walk(child, op === '-_')
      if (problem) return problem
    }
    return undefined
  }
  return walk(root) ?? { nodes, mapKeys }
}

/**
 * Replaces the evaluation of every node of `plan` with a guarded one. Once per compiled
 * condition; the nodes are the library's own, so its evaluation reaches the guard everywhere.
 */
export const installGuard = (root: CelNode, plan: GuardPlan): void => {
  for (const node of plan.nodes) node.evaluate = wrapperOf(node, plan)
  const evaluateRoot = root.evaluate
  root.evaluate = (ev, node, ctx) => {
    makeStrict(ev)
    return evaluateRoot(ev, node, ctx)
  }
}

/** Whether `error` is the guard stopping an evaluation (then the meter says why). */
export const isGuardTrip = (error: unknown): boolean => error === TRIP
