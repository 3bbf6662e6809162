// The static cost bound of binding conditions (issue 12): before a condition is accepted (the
// admin function, the CLI), an upper bound on the size of every value it builds and on the work
// of one evaluation, over any claims a token can carry. Each function's and operator's bound is
// here, its charge on actual values in condition-charges.ts under the same key: the run-time
// guard (condition-guard.ts) charges those while a condition runs, without this model, which
// the credentials Lambda does not carry. docs/decisions.md, "Bindings", says what is counted.
import {
  ARITHMETIC,
  CASE_MAPPINGS,
  type CelNode,
  childrenOf,
  EQUALITIES,
  ERROR_COST,
  each,
  FUNCTIONS,
  GETTER_COST,
  GETTERS,
  ITERATION_COST,
  MAX_CONDITION_COST,
  MAX_CONDITION_VALUE_SIZE,
  MAX_INT,
  MIN_INT,
  NUMBER_TEXT,
  OPERATORS,
  ORDERINGS,
  SEARCHES,
  SUBSTRINGS,
} from './condition-charges.js'
import { MAX_CLAIM_COLLECTION_SIZE, MAX_CLAIMS_JSON_BYTES } from './limits.js'

// ---------------------------------------------------------------------------------------------
// Bounds that may depend on the size of the element a comprehension is visiting: c + Σ k·x_v.
// Summed over the elements, Σ x_v is at most the weight of the list, not its length times its
// largest element: `claims.groups.exists(g, g.contains('ml'))` costs about one pass over the
// claims' characters, not 1000 times the longest string a claim may hold.

export interface LoopVariable {
  readonly name: string
  /** The weight of the heaviest element the variable may hold. */
  readonly max: number
}

export interface Lin {
  readonly c: number
  readonly t: ReadonlyMap<LoopVariable, number>
}

const NO_TERMS: ReadonlyMap<LoopVariable, number> = new Map()
const lin = (c: number): Lin => ({ c, t: NO_TERMS })
const ZERO = lin(0)
const ONE = lin(1)
/** 0 × ∞ is 0 here: a bound of nothing times anything is nothing (NaN would pass every check). */
const times = (a: number, b: number): number => (a === 0 || b === 0 ? 0 : a * b)

const combine = (a: Lin, b: Lin, f: (x: number, y: number) => number): Lin => {
  if (b.t.size === 0 && a.t.size === 0) return lin(f(a.c, b.c))
  const t = new Map(a.t)
  for (const [variable, k] of b.t) t.set(variable, f(t.get(variable) ?? 0, k))
  return { c: f(a.c, b.c), t }
}

const add = (...terms: Lin[]): Lin => terms.reduce((sum, term) => combine(sum, term, (x, y) => x + y), ZERO)
const scale = (x: Lin, k: number): Lin => {
  const t = new Map<LoopVariable, number>()
  for (const [variable, coefficient] of x.t) t.set(variable, times(coefficient, k))
  return { c: times(x.c, k), t }
}
const plus = (x: Lin, k: number): Lin => ({ c: x.c + k, t: x.t })

/** The bound with every variable at its largest. */
export const maxOf = (x: Lin): number => {
  let total = x.c
  for (const [variable, coefficient] of x.t) total += times(coefficient, variable.max)
  return total
}

/** a·b, kept linear: when both vary, one factor is taken at its largest. */
const mul = (a: Lin, b: Lin): Lin => {
  if (a.t.size === 0) return scale(b, a.c)
  if (b.t.size === 0) return scale(a, b.c)
  return maxOf(a) <= maxOf(b) ? scale(b, maxOf(a)) : scale(a, maxOf(b))
}
/** At least max(a, b), term by term (every term is non-negative). */
const upper = (a: Lin, b: Lin): Lin => combine(a, b, Math.max)
/** At least min(a, b): either one is. */
const lower = (a: Lin, b: Lin): Lin => (maxOf(a) <= maxOf(b) ? a : b)

const without = (x: Lin, variable: LoopVariable): Lin => {
  if (!x.t.has(variable)) return x
  const t = new Map(x.t)
  t.delete(variable)
  return { c: x.c, t }
}

/** The bound once `variable` is out of scope: at its largest. */
const release = (x: Lin, variable: LoopVariable): Lin => {
  const coefficient = x.t.get(variable)
  return coefficient === undefined ? x : plus(without(x, variable), times(coefficient, variable.max))
}

/**
 * Σ over the elements of perItem, where x_variable is each element's weight: at most `count`
 * times what does not depend on it, plus its coefficient times `total` (Σ of the weights).
 */
const sumOver = (perItem: Lin, variable: LoopVariable, count: Lin, total: Lin): Lin =>
  add(mul(count, without(perItem, variable)), scale(total, perItem.t.get(variable) ?? 0))

// ---------------------------------------------------------------------------------------------
// Shapes: what a value may be. Its weight is 1, plus its characters for a string or bytes, plus
// the weights of its elements (keys and values for a map). A value from the claims never weighs
// more than the claims' JSON text.

export interface Shape {
  /** Length of the value when it is a string (UTF-16 units); 0 when it cannot be one. */
  readonly chars: Lin
  /** Length when it is bytes. */
  readonly bytes: Lin
  /** Entries when it is a list or a map. */
  readonly items: Lin
  readonly weight: Lin
  /** Whether it may be a list or a map, even an empty one (equality then walks it). */
  readonly collection: boolean
  /** Any element: of a list, or a key or value of a map. */
  element(): Shape
}

const lazy = <T>(make: () => T): (() => T) => {
  let value: T | undefined
  return () => {
    value ??= make()
    return value
  }
}

const SCALAR: Shape = {
  chars: ZERO,
  bytes: ZERO,
  items: ZERO,
  weight: ONE,
  collection: false,
  element: () => SCALAR,
}

/** Anything in the claims of a verified token (limits.ts): the same bound at every level. */
const CLAIM_VALUE: Shape = {
  chars: lin(MAX_CLAIMS_JSON_BYTES),
  bytes: ZERO,
  items: lin(MAX_CLAIM_COLLECTION_SIZE),
  weight: lin(MAX_CLAIMS_JSON_BYTES),
  collection: true,
  element: () => CLAIM_VALUE,
}

/** The library's constants (`cel`, `google`, type names): small. */
const CONSTANT: Shape = {
  chars: lin(64),
  bytes: ZERO,
  items: lin(4),
  weight: lin(64),
  collection: true,
  element: () => CONSTANT,
}

const stringShape = (chars: Lin): Shape => ({ ...SCALAR, chars, weight: plus(chars, 1) })
const bytesShape = (bytes: Lin): Shape => ({ ...SCALAR, bytes, weight: plus(bytes, 1) })
/** Keys a comprehension over bytes visits: the indices, as strings ("0" … "99999"). */
const INDEX_KEY = stringShape(lin(6))

/**
 * A value that is `a` or `b` (bound by `upper`), or both together (`+` concatenating them, bound
 * by `add`): each size by `f`, its elements those of either.
 */
const combineShapes = (a: Shape, b: Shape, f: (x: Lin, y: Lin) => Lin): Shape => ({
  chars: f(a.chars, b.chars),
  bytes: f(a.bytes, b.bytes),
  items: f(a.items, b.items),
  weight: f(a.weight, b.weight),
  collection: a.collection || b.collection,
  element: lazy(() => join(a.element(), b.element())),
})

const join = (a: Shape, b: Shape): Shape => (a === b ? a : combineShapes(a, b, upper))

const joinAll = (shapes: readonly Shape[]): Shape => shapes.reduce(join)

const releaseShape = (shape: Shape, variable: LoopVariable): Shape =>
  shape === SCALAR || shape === CLAIM_VALUE || shape === CONSTANT
    ? shape
    : {
        chars: release(shape.chars, variable),
        bytes: release(shape.bytes, variable),
        items: release(shape.items, variable),
        weight: release(shape.weight, variable),
        collection: shape.collection,
        element: lazy(() => releaseShape(shape.element(), variable)),
      }

const canBe = (x: Lin): boolean => maxOf(x) > 0

/** A list or map written out in the condition: `items` entries, made of these values (a map's keys and values). */
const literalCollection = (items: number, members: readonly { shape: Shape }[]): Shape => ({
  ...SCALAR,
  items: lin(items),
  weight: plus(add(...members.map((m) => m.shape.weight)), 1),
  collection: true,
  element: lazy(() => (members.length === 0 ? SCALAR : joinAll(members.map((m) => m.shape)))),
})

// ---------------------------------------------------------------------------------------------
// Functions and operators: each one's cost and result from the shapes of its arguments. Their
// charges on actual values are in condition-charges.ts under the same keys (a test holds the key
// sets equal); the property test (test/unit/property/condition-cost.property.test.ts) checks
// that the charge never exceeds the bound.

export interface Bound {
  /** The result's shape. */
  shape: Shape
  /** Work beyond evaluating the arguments and the call node itself. */
  cost: Lin
}

/** A function's bound from its arguments' shapes; a method's receiver first. */
export type FunctionBound = (args: readonly Shape[]) => Bound

const arg = (args: readonly Shape[], index: number): Shape => args[index] ?? SCALAR
const scalar = (cost: Lin = ZERO): Bound => ({ shape: SCALAR, cost })
const readsText: FunctionBound = (args) => scalar(add(arg(args, 0).chars, arg(args, 0).bytes))
const free: FunctionBound = () => scalar()
const getter: FunctionBound = () => scalar(lin(GETTER_COST))
const search: FunctionBound = (args) => scalar(mul(plus(arg(args, 0).chars, 1), plus(arg(args, 1).chars, 1)))
const rewrites =
  (factor: number): FunctionBound =>
  (args) => {
    const chars = scale(arg(args, 0).chars, factor)
    return { shape: stringShape(chars), cost: chars }
  }
const sizeOf: FunctionBound = (args) => scalar(add(arg(args, 0).chars, arg(args, 0).items))

const split: FunctionBound = (args) => {
  const n = arg(args, 0).chars
  const cost = add(mul(plus(n, 1), plus(arg(args, 1).chars, 1)), scale(n, 3), lin(2))
  const shape: Shape = {
    ...SCALAR,
    items: plus(n, 1),
    weight: plus(scale(n, 2), 3),
    collection: true,
    element: () => stringShape(n),
  }
  return { shape, cost }
}

/** Σ characters of the elements ≤ the list's weight; a separator between each two. */
const joinBound = (list: Shape, separator: Lin): Bound => {
  const chars = add(list.weight, mul(list.items, separator))
  return { shape: stringShape(chars), cost: add(chars, list.items) }
}

/** The bound of every function FUNCTIONS (condition-charges.ts) does not refuse. */
export const FUNCTION_BOUNDS: ReadonlyMap<string, FunctionBound> = new Map<string, FunctionBound>([
  ['dyn/1', (args) => ({ shape: arg(args, 0), cost: ZERO })],
  ['type/1', free],
  ['bool/1', readsText],
  ['size/1', sizeOf],
  ['.size/0', sizeOf],
  [
    'bytes/1',
    (args) => {
      const built = scale(arg(args, 0).chars, 3)
      return { shape: bytesShape(add(built, arg(args, 0).bytes)), cost: built }
    },
  ],
  ['double/1', (args) => scalar(scale(arg(args, 0).chars, 4))],
  ['int/1', readsText],
  ['uint/1', readsText],
  [
    'string/1',
    (args) => {
      const chars = upper(lin(NUMBER_TEXT), add(arg(args, 0).chars, arg(args, 0).bytes))
      return { shape: stringShape(chars), cost: plus(arg(args, 0).bytes, NUMBER_TEXT) }
    },
  ],
  ['timestamp/1', readsText],
  [
    'duration/1',
    (args) => {
      const n = arg(args, 0).chars
      return scalar(add(mul(n, mul(n, n)), n))
    },
  ],
  ['.startsWith/1', (args) => scalar(lower(arg(args, 0).chars, arg(args, 1).chars))],
  ['.endsWith/1', (args) => scalar(lower(arg(args, 0).chars, arg(args, 1).chars))],
  ...each(SEARCHES, search),
  ...each(CASE_MAPPINGS, rewrites(3)),
  ...each(SUBSTRINGS, rewrites(1)),
  ['.split/1', split],
  ['.split/2', split],
  ['.join/0', (args) => joinBound(arg(args, 0), ZERO)],
  ['.join/1', (args) => joinBound(arg(args, 0), arg(args, 1).chars)],
  [
    '.hex/0',
    (args) => {
      const chars = scale(arg(args, 0).bytes, 2)
      return { shape: stringShape(chars), cost: chars }
    },
  ],
  [
    '.base64/0',
    (args) => {
      const chars = plus(scale(arg(args, 0).bytes, 4 / 3), 4)
      return { shape: stringShape(chars), cost: chars }
    },
  ],
  ['.string/0', (args) => ({ shape: stringShape(arg(args, 0).bytes), cost: arg(args, 0).bytes })],
  ['.at/1', free],
  ...GETTERS.map((name): [string, FunctionBound] => [`.${name}/0`, getter]),
])

/** An operator's bound from its operands' shapes. */
export type OperatorBound = (left: Shape, right: Shape) => Bound

const arithmetic: OperatorBound = () => scalar()
const ordering: OperatorBound = (left, right) => scalar(lower(left.chars, right.chars))
const equality: OperatorBound = (left, right) =>
  scalar(
    left.collection && right.collection
      ? add(left.weight, right.weight)
      : lower(add(left.chars, left.bytes), add(right.chars, right.bytes)),
  )

/** The bound of every operator OPERATORS (condition-charges.ts) charges. */
export const OPERATOR_BOUNDS: ReadonlyMap<string, OperatorBound> = new Map<string, OperatorBound>([
  [
    '+',
    (left, right) => {
      const built = add(left.chars, right.chars, left.bytes, right.bytes, left.items, right.items)
      return { shape: combineShapes(left, right, add), cost: built }
    },
  ],
  ...each(ARITHMETIC, arithmetic),
  ...each(ORDERINGS, ordering),
  ...each(EQUALITIES, equality),
  [
    'in',
    (left, right) =>
      scalar(
        add(
          right.weight,
          left.collection && right.element().collection ? mul(right.items, left.weight) : ZERO,
          left.chars,
          left.bytes,
        ),
      ),
  ],
  ['[]', (left, right) => ({ shape: left.element(), cost: add(right.chars, right.bytes) })],
])

// ---------------------------------------------------------------------------------------------
// The walk over a condition's AST.

export interface NodeBound {
  readonly chars: number
  readonly bytes: number
  readonly items: number
  readonly weight: number
  /** The node's own cost with its operands (once, for a node inside a comprehension). */
  readonly cost: number
}

export interface ConditionBound {
  /** Upper bound of one evaluation's cost, the error allowance included. */
  readonly cost: number
  /** Every node the guard wraps (condition-guard.ts walks to the same ones), with the largest value it may produce. */
  readonly nodes: ReadonlyMap<CelNode, NodeBound>
}

export interface BoundProblem {
  position: number
  message: string
}

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter'])
const MAP_KEY_TYPES = new Set(['string', 'int', 'uint', 'bool', 'dyn'])

interface Visited {
  shape: Shape
  cost: Lin
}

/** Ends the walk at the first thing that cannot be bounded. */
class BoundRefusal extends Error {
  constructor(readonly problem: BoundProblem) {
    super(problem.message)
    this.name = 'BoundRefusal'
  }
}

/**
 * Bounds one evaluation of a type-checked condition: the cost, and the size of the value each
 * node yields. Refuses what cannot be bounded — a function the model does not know, a value
 * over MAX_CONDITION_VALUE_SIZE, a cost over MAX_CONDITION_COST — naming where. With
 * `enforce: false` the limits are not applied (the guard's own tests).
 */
export const boundCondition = (
  root: CelNode,
  source: string,
  options: { enforce?: boolean } = {},
): ConditionBound | BoundProblem => {
  const enforce = options.enforce !== false
  const nodes = new Map<CelNode, NodeBound>()
  const exempt = new Set<CelNode>()
  const refuse = (position: number, message: string): never => {
    throw new BoundRefusal({ position, message })
  }
  const nameAt = (name: string, from: number) => Math.max(from, source.indexOf(name, from))

  const visit = (node: CelNode, scope: ReadonlyMap<string, Shape>): Visited => {
    const visited = visitOp(node, scope)
    const sizes = {
      chars: maxOf(visited.shape.chars),
      bytes: maxOf(visited.shape.bytes),
      items: maxOf(visited.shape.items),
      weight: maxOf(visited.shape.weight),
      cost: maxOf(visited.cost),
    }
    const largest = Math.max(sizes.chars, sizes.bytes, sizes.items)
    if (enforce && !(largest <= MAX_CONDITION_VALUE_SIZE)) {
      refuse(
        node.start,
        `may build a value of ${figure(largest)} characters or elements, more than ${MAX_CONDITION_VALUE_SIZE}`,
      )
    }
    nodes.set(node, sizes)
    return visited
  }

  const visitAll = (list: readonly CelNode[], scope: ReadonlyMap<string, Shape>) =>
    list.map((child) => visit(child, scope))

  const call = (key: string, name: string, position: number, args: Visited[]): Visited => {
    const charged = FUNCTIONS.get(key)
    const model = FUNCTION_BOUNDS.get(key)
    if (charged !== undefined && 'refused' in charged)
      return refuse(position, `"${name}" is not allowed: it ${charged.refused}`)
    if (charged === undefined || model === undefined)
      return refuse(position, `"${name}" is not a function conditions may use`)
    const bound = model(args.map((a) => a.shape))
    return { shape: bound.shape, cost: add(ONE, bound.cost, ...args.map((a) => a.cost)) }
  }

  const comprehension = (
    node: CelNode,
    name: string,
    receiverNode: CelNode,
    argNodes: readonly CelNode[],
    scope: ReadonlyMap<string, Shape>,
  ): Visited => {
    const [variableNode, ...bodyNodes] = argNodes
    if (node.meta.alternate?.op !== 'comprehension' || variableNode?.op !== 'id') {
      return refuse(node.start, `"${name}" is not a macro this version of the broker knows`)
    }
    const receiver = visit(receiverNode, scope)
    const range = receiver.shape
    // Bytes are visited by index ("0", "1", …); lists by element, maps by key.
    const count = add(range.items, range.bytes)
    const element = canBe(range.bytes) ? join(range.element(), INDEX_KEY) : range.element()
    const total = add(range.weight, scale(range.bytes, 7))
    const variable: LoopVariable = { name: variableNode.args as string, max: maxOf(element.weight) }
    const x: Lin = { c: 0, t: new Map([[variable, 1]]) }
    const current: Shape = {
      chars: canBe(element.chars) ? x : ZERO,
      bytes: canBe(element.bytes) ? x : ZERO,
      items: canBe(element.items) ? x : ZERO,
      weight: x,
      collection: element.collection,
      element: () => element.element(),
    }
    const bodies = visitAll(bodyNodes, new Map(scope).set(variable.name, current))
    const perItem = add(lin(ITERATION_COST), ...bodies.map((body) => body.cost))
    const cost = add(ONE, receiver.cost, sumOver(perItem, variable, count, total))
    const last = bodies[bodies.length - 1]
    if (name === 'map' && last) {
      const shape: Shape = {
        ...SCALAR,
        items: count,
        weight: plus(sumOver(last.shape.weight, variable, count, total), 1),
        collection: true,
        element: lazy(() => releaseShape(last.shape, variable)),
      }
      return { shape, cost }
    }
    if (name === 'filter') {
      return {
        shape: { ...SCALAR, items: count, weight: plus(total, 1), collection: true, element: () => element },
        cost,
      }
    }
    return { shape: SCALAR, cost }
  }

  const visitOp = (node: CelNode, scope: ReadonlyMap<string, Shape>): Visited => {
    switch (node.op) {
      case 'value':
        return { shape: literal(node), cost: ONE }
      case 'id':
        return { shape: scope.get(node.args as string) ?? CONSTANT, cost: ONE }
      case '.': {
        const [receiver] = node.args as [CelNode, string]
        const visited = visit(receiver, scope)
        return { shape: visited.shape.element(), cost: plus(visited.cost, 1) }
      }
      case 'call': {
        const [name, argNodes] = node.args as [string, CelNode[]]
        if (name === 'has' && argNodes.length === 1 && node.meta.macro) {
          const [field] = visitAll(argNodes, scope)
          return { shape: SCALAR, cost: plus(field?.cost ?? ZERO, 1) }
        }
        if (node.meta.alternate || node.meta.macro)
          return refuse(node.start, `"${name}" is not a macro conditions may use`)
        return call(`${name}/${argNodes.length}`, name, node.start, visitAll(argNodes, scope))
      }
      case 'rcall': {
        const [name, receiver, argNodes] = node.args as [string, CelNode, CelNode[]]
        const position = nameAt(name, receiver.end)
        if (
          COMPREHENSIONS.has(name) &&
          (argNodes.length === 2 || (name === 'map' && argNodes.length === 3))
        ) {
          return comprehension(node, name, receiver, argNodes, scope)
        }
        if (name === 'bind' && argNodes.length === 3) {
          const [variableNode, valueNode, bodyNode] = argNodes
          if (
            !node.meta.macro ||
            receiver.op !== 'id' ||
            receiver.args !== 'cel' ||
            variableNode?.op !== 'id'
          ) {
            return refuse(position, 'bind is written cel.bind(name, value, expression)')
          }
          const value = visit(valueNode as CelNode, scope)
          const body = visit(
            bodyNode as CelNode,
            new Map(scope).set(variableNode.args as string, value.shape),
          )
          return { shape: body.shape, cost: add(ONE, value.cost, body.cost) }
        }
        if (node.meta.alternate || node.meta.macro)
          return refuse(position, `"${name}" is not a macro conditions may use`)
        return call(`.${name}/${argNodes.length}`, name, position, visitAll([receiver, ...argNodes], scope))
      }
      case 'list': {
        const elements = visitAll(node.args as CelNode[], scope)
        const shape = literalCollection(elements.length, elements)
        return { shape, cost: add(lin(1 + elements.length), ...elements.map((e) => e.cost)) }
      }
      case 'map': {
        const entries = node.args as [CelNode, CelNode][]
        const visited = entries.map(([key, value]) => {
          const type = key.checkedType?.name
          if (type !== undefined && !MAP_KEY_TYPES.has(type)) {
            refuse(key.start, `a map key must be a string, int, uint or bool, not ${type}`)
          }
          return [visit(key, scope), visit(value, scope)] as const
        })
        const all = visited.flat()
        const shape = literalCollection(entries.length, all)
        const keyText = visited.map(([key]) => add(key.shape.chars, key.shape.bytes))
        return { shape, cost: add(lin(1 + entries.length), ...keyText, ...all.map((e) => e.cost)) }
      }
      case '?:': {
        const [condition, then, otherwise] = visitAll(node.args as CelNode[], scope) as [
          Visited,
          Visited,
          Visited,
        ]
        return {
          shape: join(then.shape, otherwise.shape),
          cost: add(ONE, condition.cost, upper(then.cost, otherwise.cost)),
        }
      }
      case '||':
      case '&&': {
        const operands = visitAll(node.args as CelNode[], scope)
        return { shape: SCALAR, cost: add(ONE, ...operands.map((o) => o.cost)) }
      }
      case '!_':
      case '-_': {
        const operand = node.args as CelNode
        if (node.op === '-_' && operand.op === 'value' && operand.args === MAX_INT + 1n) exempt.add(operand)
        const visited = visit(operand, scope)
        return { shape: SCALAR, cost: plus(visited.cost, 1) }
      }
      default: {
        const model = OPERATORS.has(node.op) ? OPERATOR_BOUNDS.get(node.op) : undefined
        if (!model) return refuse(node.start, `the operator ${node.op} is not one conditions may use`)
        const [left, right] = visitAll(node.args as CelNode[], scope) as [Visited, Visited]
        const bound = model(left.shape, right.shape)
        return { shape: bound.shape, cost: add(ONE, left.cost, right.cost, bound.cost) }
      }
    }
  }

  const literal = (node: CelNode): Shape => {
    const value = node.args
    if (typeof value === 'string') return stringShape(lin(value.length))
    if (value instanceof Uint8Array) return bytesShape(lin(value.length))
    if (typeof value === 'bigint' && (value > MAX_INT || value < MIN_INT) && !exempt.has(node)) {
      return refuse(node.start, `the integer ${value} is outside the 64-bit range`)
    }
    return SCALAR
  }

  try {
    const visited = visit(root, new Map([['claims', CLAIM_VALUE]]))
    const cost = maxOf(visited.cost) + ERROR_COST
    if (enforce && !(cost <= MAX_CONDITION_COST)) {
      const culprit = costliest(root, nodes)
      return {
        position: culprit.start,
        message: `may cost up to ${figure(cost)} steps, more than ${MAX_CONDITION_COST}${
          culprit === root
            ? ''
            : ` (the expression starting here may cost ${figure(nodes.get(culprit)?.cost ?? 0)})`
        }`,
      }
    }
    return { cost, nodes }
  } catch (error) {
    if (error instanceof BoundRefusal) return error.problem
    throw error
  }
}

const figure = (n: number): string => (Number.isFinite(n) ? String(Math.ceil(n)) : 'unbounded')

/** The smallest expression that alone costs more than the limit: the first place to look. */
const costliest = (root: CelNode, nodes: ReadonlyMap<CelNode, NodeBound>): CelNode => {
  let culprit = root
  for (;;) {
    const next = childrenOf(culprit).find((child) => !((nodes.get(child)?.cost ?? 0) <= MAX_CONDITION_COST))
    if (!next) return culprit
    culprit = next
  }
}
