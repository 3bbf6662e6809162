// CEL conditions of bindings (DESIGN §3): compiled and type-checked at registration, evaluated
// over the verified claims at request time with a cost bounded before the first evaluation.
import { type ASTNode, Environment, type ParseResult } from '@marcbachmann/cel-js'
import { MAX_CLAIM_COLLECTION_SIZE } from './limits.js'
import type { WorkloadClaims } from './model.js'

export const MAX_CONDITION_LENGTH = 2048
/**
 * Upper bound of the evaluation steps a condition may need, counted statically (see
 * `estimateCost`). A step costs tens of nanoseconds, so the bound is a few milliseconds.
 */
export const MAX_CONDITION_COST = 50_000

/** The library's own parse-time limits: no deeper or larger expression is ever built. */
const PARSE_LIMITS = {
  maxAstNodes: 256,
  maxDepth: 32,
  maxListElements: 100,
  maxMapEntries: 100,
  maxCallArguments: 8,
}

/** Macros that run their body once per element (or key) of their receiver. */
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter'])
/**
 * `matches` runs a JavaScript RegExp (backtracking, not RE2) over a claim an issuer chose: a
 * pattern like `(a+)+$` would take exponential time. Globs in claim rules cover the need.
 */
const FORBIDDEN_FUNCTIONS = new Set(['matches'])

const environment = new Environment({ limits: PARSE_LIMITS }).registerVariable('claims', 'map')

type Evaluator = ParseResult

export interface ConditionProblem {
  /** Zero-based offset in the expression where the problem starts. */
  position: number
  message: string
}

export type ConditionOutcome = { matched: true } | { matched: false; detail: string }

const isNode = (value: unknown): value is ASTNode =>
  typeof value === 'object' && value !== null && 'op' in value && 'args' in value

const childrenOf = (node: ASTNode): ASTNode[] => {
  const args: unknown = node.args
  if (!Array.isArray(args)) return isNode(args) ? [args] : []
  return args.flat().filter(isNode)
}

const rcallParts = (node: ASTNode) => {
  const [name, receiver, args] = node.args as [string, ASTNode, ASTNode[]]
  return { name, receiver, args }
}

/**
 * How many elements the list or map `node` evaluates to, at most. Claims hold no collection
 * over MAX_CLAIM_COLLECTION_SIZE (verify.ts refuses such tokens), literals are counted, and
 * concatenation adds up; anything else is assumed to be a claim-sized collection.
 */
const sizeBound = (node: ASTNode, scope: ReadonlyMap<string, number>): number => {
  switch (node.op) {
    case 'list':
    case 'map':
      return (node.args as unknown[]).length
    case 'id':
      return scope.get(node.args as string) ?? MAX_CLAIM_COLLECTION_SIZE
    case '+': {
      const [left, right] = node.args as [ASTNode, ASTNode]
      return sizeBound(left, scope) + sizeBound(right, scope)
    }
    case '?:': {
      const [, then, otherwise] = node.args as [ASTNode, ASTNode, ASTNode]
      return Math.max(sizeBound(then, scope), sizeBound(otherwise, scope))
    }
    case 'rcall': {
      const { name, receiver, args } = rcallParts(node)
      if (name === 'map' || name === 'filter') return sizeBound(receiver, scope)
      if (name === 'bind' && receiver.op === 'id' && receiver.args === 'cel') {
        const [variable, value, body] = args
        if (variable?.op === 'id' && value && body) {
          const inner = new Map(scope).set(variable.args as string, sizeBound(value, scope))
          return sizeBound(body, inner)
        }
      }
      return MAX_CLAIM_COLLECTION_SIZE
    }
    default:
      return MAX_CLAIM_COLLECTION_SIZE
  }
}

/** Evaluation steps `node` may need at most: one per node, times the receiver size inside comprehensions. */
export const estimateCost = (node: ASTNode, scope: ReadonlyMap<string, number> = new Map()): number => {
  if (node.op === 'rcall') {
    const { name, receiver, args } = rcallParts(node)
    if (COMPREHENSIONS.has(name) && args.length >= 2 && args[0]?.op === 'id') {
      // The loop variable is an element, which may itself be a claim-sized collection.
      const inner = new Map(scope).set(args[0].args as string, MAX_CLAIM_COLLECTION_SIZE)
      const body = args.slice(1).reduce((sum, arg) => sum + estimateCost(arg, inner), 0)
      return 1 + estimateCost(receiver, scope) + sizeBound(receiver, scope) * body
    }
    if (name === 'bind' && receiver.op === 'id' && receiver.args === 'cel') {
      const [variable, value, body] = args
      if (variable?.op === 'id' && value && body) {
        const inner = new Map(scope).set(variable.args as string, sizeBound(value, scope))
        return 1 + estimateCost(value, scope) + estimateCost(body, inner)
      }
    }
  }
  return childrenOf(node).reduce((sum, child) => sum + estimateCost(child, scope), 1)
}

const callName = (node: ASTNode): string | undefined =>
  node.op === 'call' || node.op === 'rcall' ? node.args[0] : undefined

const forbiddenCall = (node: ASTNode): ASTNode | undefined => {
  if (FORBIDDEN_FUNCTIONS.has(callName(node) ?? '')) return node
  for (const child of childrenOf(node)) {
    const found = forbiddenCall(child)
    if (found) return found
  }
  return undefined
}

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
 * must be a bool (or dyn, checked again at run time). Refuses what could run unbounded.
 */
export const compileCondition = (source: string): Evaluator | ConditionProblem => {
  if (source.length > MAX_CONDITION_LENGTH) {
    return { position: MAX_CONDITION_LENGTH, message: `longer than ${MAX_CONDITION_LENGTH} characters` }
  }
  let evaluator: Evaluator
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
  const forbidden = forbiddenCall(evaluator.ast)
  if (forbidden) {
    const name = callName(forbidden) ?? ''
    return {
      position: Math.max(forbidden.range.start, source.indexOf(name, forbidden.range.start)),
      message: `"${name}" is not allowed (regular expressions could run unbounded)`,
    }
  }
  const cost = estimateCost(evaluator.ast)
  if (cost > MAX_CONDITION_COST) {
    return {
      position: 0,
      message: `may need ${cost} evaluation steps, more than ${MAX_CONDITION_COST} (avoid nesting comprehensions over claims)`,
    }
  }
  return evaluator
}

/** Describes a problem the way admin errors name it: offset, then line and column for people. */
export const describeConditionProblem = (source: string, problem: ConditionProblem): string => {
  const before = source.slice(0, problem.position).split('\n')
  const line = before.length
  const column = (before[before.length - 1]?.length ?? 0) + 1
  return `invalid CEL at position ${problem.position} (line ${line}, column ${column}): ${problem.message}`
}

/** Compiled conditions by source text; bounded, since bindings come and go with the registry cache. */
const compiled = new Map<string, Evaluator | ConditionProblem>()
const MAX_COMPILED = 1000

const compiledFor = (source: string): Evaluator | ConditionProblem => {
  let entry = compiled.get(source)
  if (!entry) {
    entry = compileCondition(source)
    if (compiled.size >= MAX_COMPILED) compiled.clear()
    compiled.set(source, entry)
  }
  return entry
}

/**
 * Evaluates a binding's condition over verified claims. Only `true` matches: `false`, a value
 * of another type, an expression that no longer compiles and any runtime error (a missing key,
 * a type mismatch) are no match, with a detail for the audit log and `explain`.
 */
export const evaluateCondition = (source: string, claims: WorkloadClaims): ConditionOutcome => {
  const evaluator = compiledFor(source)
  if (!('ast' in evaluator)) return { matched: false, detail: 'invalid_expression' }
  let value: unknown
  try {
    value = evaluator({ claims })
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code
    return { matched: false, detail: `error:${typeof code === 'string' ? code : 'evaluation_failed'}` }
  }
  if (value === true) return { matched: true }
  return { matched: false, detail: value === false ? 'false' : 'not_bool' }
}
