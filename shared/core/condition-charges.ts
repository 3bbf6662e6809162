// What one evaluation of a binding condition is charged (issue 12), on the actual values: the
// cost table the run-time guard (condition-guard.ts) charges from, and the static bound
// (condition-cost.ts) bounds over any claims a token can carry. It is the whole of the cost model
// the credentials Lambda carries: the static model checks a condition where it is registered
// (the admin function, the CLI), so the exchange path only charges. docs/decisions.md,
// "Bindings", says what is counted and why; "Bundle size" why the two are apart.

/** The work one evaluation may do, in cost units (one node evaluated, or one character or element handled). */
export const MAX_CONDITION_COST = 100_000
/** Characters, bytes or entries of any one string, bytes value or list a condition may build. */
export const MAX_CONDITION_VALUE_SIZE = 100_000
/** Per element a comprehension visits: the macro's own loop step and accumulator. */
export const ITERATION_COST = 4
/**
 * The error that may end an evaluation (errors end it: condition-guard.ts): V8 builds an Error
 * and the library formats a message quoting the source line, up to ~30 µs for a long condition.
 */
export const ERROR_COST = 5_000
/** Time and duration getters: a few Date operations. */
export const GETTER_COST = 16
/** Longest text `string()` makes of a number or bool: "-0.0000012345678901234567" is 25. */
export const NUMBER_TEXT = 32

// ---------------------------------------------------------------------------------------------
// The library's AST, as @marcbachmann/cel-js 8.0.0 builds and type-checks it (package.json pins
// that version: the guard replaces the evaluation of these nodes and reads what the check set).

export interface CelEvaluator {
  run(node: CelNode, ctx: unknown): unknown
  tryEval(node: CelNode, ctx: unknown): unknown
  debugType(value: unknown): unknown
  debugTypeDeep(value: unknown): unknown
}

export type CelEvaluate = (ev: CelEvaluator, node: CelNode, ctx: unknown) => unknown

export interface CelMacro {
  evaluate: (ev: CelEvaluator, macro: CelMacro, ctx: unknown) => unknown
  var?: string
  val?: CelNode
  exp?: CelNode
}

export interface CelComprehensionArgs {
  iterable: CelNode
  iterVarName: string
}

export interface CelNode {
  readonly op: string
  readonly args: unknown
  readonly start: number
  readonly end: number
  readonly meta: {
    readonly alternate?: CelNode
    readonly macro?: CelMacro
    readonly evaluate: CelEvaluate
  }
  /** Set by the type check: the operands of binary and access nodes, the arguments of methods. */
  readonly left?: CelNode
  readonly right?: CelNode
  readonly receiverWithArgs?: readonly CelNode[]
  readonly checkedType?: { readonly kind: string; readonly name: string }
  readonly handle?: (...args: unknown[]) => unknown
  evaluate: CelEvaluate
}

const isNode = (value: unknown): value is CelNode =>
  typeof value === 'object' && value !== null && 'op' in value && 'args' in value

/** Direct operands of a node in the parsed tree (not the macros' expansions). */
export const childrenOf = (node: CelNode): CelNode[] => {
  const args: unknown = node.args
  if (!Array.isArray(args)) return isNode(args) ? [args] : []
  return args.flat(2).filter(isNode)
}

export const MIN_INT = -(2n ** 63n)
export const MAX_INT = 2n ** 63n - 1n

// ---------------------------------------------------------------------------------------------
// Sizes of actual values: 1 for a value, plus its characters for a string or bytes, plus the
// weights of its elements (keys and values for a map).

const isPlainMap = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' &&
  value !== null &&
  (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)

/** Length of a string (UTF-16 units) or bytes; 0 for anything else. */
export const textLength = (value: unknown): number =>
  typeof value === 'string' ? value.length : value instanceof Uint8Array ? value.length : 0

/** Entries of a list or map; 0 for anything else. */
export const entryCount = (value: unknown): number =>
  Array.isArray(value)
    ? value.length
    : value instanceof Map || value instanceof Set
      ? value.size
      : isPlainMap(value)
        ? Object.keys(value).length
        : 0

export const isCollection = (value: unknown): boolean =>
  Array.isArray(value) || value instanceof Map || value instanceof Set || isPlainMap(value)

/**
 * The weight of `value`, or some number above `cap` once it is known to be larger: lists shared
 * by reference weigh what a walk over them costs, however little they hold.
 */
export const weightUpTo = (value: unknown, cap: number): number => {
  let total = 1
  const pending: unknown[] = [value]
  while (pending.length > 0 && total <= cap) {
    const next = pending.pop()
    if (typeof next === 'string' || next instanceof Uint8Array) {
      total += next.length
    } else if (Array.isArray(next) || next instanceof Set) {
      total += next instanceof Set ? next.size : next.length
      if (total <= cap) for (const element of next) pending.push(element)
    } else if (next instanceof Map) {
      total += 2 * next.size
      if (total <= cap) for (const [key, element] of next) pending.push(key, element)
    } else if (isPlainMap(next)) {
      const keys = Object.keys(next)
      total += 2 * keys.length
      if (total <= cap) for (const key of keys) pending.push(key, next[key])
    }
  }
  return total
}

// ---------------------------------------------------------------------------------------------
// Functions and operators: each one's charge on its actual values. condition-cost.ts holds each
// one's static bound under the same key (a test holds the two key sets equal); the property test
// (test/unit/property/condition-cost.property.test.ts) checks that the charge never exceeds the
// bound.

export interface FunctionCharge {
  /** Work for these argument values (receiver first), charged before the function runs. */
  charge(args: readonly unknown[]): number
  /** Characters, bytes or entries of what the function builds from these values, when it builds one. */
  builds?(args: readonly unknown[]): number
}

export interface RefusedFunction {
  refused: string
}

const len = (value: unknown): number => textLength(value)
/** A conversion or test that reads its argument's characters once. */
const readsText: FunctionCharge = { charge: ([value]) => len(value) }
const free: FunctionCharge = { charge: () => 0 }
const getter: FunctionCharge = { charge: () => GETTER_COST }
/** A substring search: the naive worst case, (n + 1)·(m + 1). */
const search: FunctionCharge = { charge: ([text, pattern]) => (len(text) + 1) * (len(pattern) + 1) }
/** Builds a string of at most `factor` times the receiver's length. */
const rewrites = (factor: number): FunctionCharge => ({
  charge: ([text]) => factor * len(text),
  builds: ([text]) => factor * len(text),
})
/** Builds `size(value)` of its text and charges as much. */
const builds = (size: (value: unknown, more: unknown) => number): FunctionCharge => ({
  charge: ([value, more]) => size(value, more),
  builds: ([value, more]) => size(value, more),
})
const stringOf = (value: unknown): number =>
  typeof value === 'string' ? 0 : value instanceof Uint8Array ? value.length : NUMBER_TEXT
// Code points of a string are counted one by one; a map made by a literal lists its keys.
const sizeOf: FunctionCharge = {
  charge: ([value]) => (typeof value === 'string' ? value.length : isPlainMap(value) ? entryCount(value) : 0),
}
const split: FunctionCharge = {
  charge: ([text, separator]) => (len(text) + 1) * (len(separator) + 1) + 3 * len(text) + 2,
  builds: ([text]) => len(text) + 1,
}
const joinedLength = (list: unknown, separator: unknown): number => {
  if (!Array.isArray(list)) return 0
  let total = Math.max(list.length - 1, 0) * len(separator)
  for (const element of list) total += len(element)
  return total
}
// The result holds every element's characters and a separator between each two; the library
// first checks each element is a string.
const join: FunctionCharge = {
  charge: ([list, separator]) => joinedLength(list, separator) + entryCount(list),
  builds: ([list, separator]) => joinedLength(list, separator),
}

const refused = (reason: string): RefusedFunction => ({ refused: reason })
const TIME_ZONE = refused('converts time zones (about 0.2 ms each, with ICU)')
const OPTIONAL = refused('belongs to optional types, which conditions do not have')

/** The time and duration getters, each with an optional time zone. */
export const GETTERS = [
  'getDate',
  'getDayOfMonth',
  'getDayOfWeek',
  'getDayOfYear',
  'getFullYear',
  'getHours',
  'getMilliseconds',
  'getMinutes',
  'getMonth',
  'getSeconds',
] as const

// Families of functions and operators with one rule each, here and in condition-cost.ts: the
// substring searches; the methods that build at most 3 times their receiver (JavaScript's case
// mapping is Unicode's: 'ΐ'.toUpperCase() is three units), or at most their receiver; arithmetic,
// ordering and equality.
export const SEARCHES = [
  '.contains/1',
  '.indexOf/1',
  '.indexOf/2',
  '.lastIndexOf/1',
  '.lastIndexOf/2',
] as const
export const CASE_MAPPINGS = ['.lowerAscii/0', '.upperAscii/0'] as const
export const SUBSTRINGS = ['.trim/0', '.substring/1', '.substring/2'] as const
export const ARITHMETIC = ['-', '*', '/', '%'] as const
export const ORDERINGS = ['<', '<=', '>', '>='] as const
export const EQUALITIES = ['==', '!='] as const

/** Map entries giving each of `keys` the same rule. */
export const each = <T>(keys: readonly string[], rule: T): [string, T][] => keys.map((key) => [key, rule])

/**
 * Every function the library registers, by name and arity, methods with a leading dot (a test
 * holds this list to the library's own), or why conditions may not call it. Macros (has, all,
 * exists, exists_one, map, filter, cel.bind) are charged where the guard meets them.
 */
export const FUNCTIONS: ReadonlyMap<string, FunctionCharge | RefusedFunction> = new Map<
  string,
  FunctionCharge | RefusedFunction
>([
  ['dyn/1', free],
  ['type/1', free],
  ['bool/1', readsText],
  ['size/1', sizeOf],
  ['.size/0', sizeOf],
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  ['bytes/1', builds((value) => (typeof value === 'string' ? 3 * value.length : 0))],
  // trim, lower-case, Number(): a few passes.
  ['double/1', { charge: ([value]) => 4 * len(value) }],
  ['int/1', readsText],
  ['uint/1', readsText],
  ['string/1', builds(stringOf)],
  ['timestamp/1', readsText],
  // The library's duration pattern backtracks over a run of digits in cubic time: "1…1" of
  // 1000 digits takes seconds. Only short (literal) arguments fit in the budget.
  ['duration/1', { charge: ([value]) => len(value) ** 3 + len(value) }],
  ['.startsWith/1', { charge: ([text, prefix]) => Math.min(len(text), len(prefix)) }],
  ['.endsWith/1', { charge: ([text, suffix]) => Math.min(len(text), len(suffix)) }],
  ...each(SEARCHES, search),
  ...each(CASE_MAPPINGS, rewrites(3)),
  ...each(SUBSTRINGS, rewrites(1)),
  // At most n + 1 parts of at most n characters in all; the search as for contains, a join of the
  // rest when a limit is given.
  ['.split/1', split],
  ['.split/2', split],
  ['.join/0', join],
  ['.join/1', join],
  ['.hex/0', rewrites(2)],
  ['.base64/0', builds((value) => Math.ceil((4 * len(value)) / 3) + 4)],
  ['.string/0', rewrites(1)],
  ['.at/1', free],
  ...GETTERS.flatMap((name): [string, FunctionCharge | RefusedFunction][] => [
    [`.${name}/0`, getter],
    [`.${name}/1`, TIME_ZONE],
  ]),
  [
    '.matches/1',
    refused(
      'runs a backtracking JavaScript RegExp, not RE2, over claims (a pattern like (a+)+$ runs for ever)',
    ),
  ],
  ['.json/0', refused('parses JSON of unbounded nesting')],
  ['.hasValue/0', OPTIONAL],
  ['.value/0', OPTIONAL],
  ['.none/0', OPTIONAL],
  ['.of/1', OPTIONAL],
  ['.or/1', OPTIONAL],
  ['.orValue/1', OPTIONAL],
])

export interface OperatorCharge {
  /** Work for these operand values; `cap` bounds walks over shared lists (see weightUpTo). */
  charge(left: unknown, right: unknown, cap: number): number
  builds?(left: unknown, right: unknown): number
}

const arithmetic: OperatorCharge = { charge: () => 0 }
/** Strings compare up to the shorter one's length. */
const ordering: OperatorCharge = {
  charge: (left, right) =>
    typeof left === 'string' && typeof right === 'string' ? Math.min(left.length, right.length) : 0,
}
/**
 * Equality walks both sides when both are lists or maps (a map's keys are listed first), and
 * compares strings and bytes up to the shorter. Values of different kinds compare in one step.
 */
const equality: OperatorCharge = {
  charge: (left, right, cap) => {
    if (isCollection(left) && isCollection(right)) return weightUpTo(left, cap) + weightUpTo(right, cap)
    if (typeof left === 'string' && typeof right === 'string') return Math.min(left.length, right.length)
    if (left instanceof Uint8Array && right instanceof Uint8Array) return Math.min(left.length, right.length)
    return 0
  },
}

const concatenated = (left: unknown, right: unknown): number => {
  if (typeof left === 'string' && typeof right === 'string') return left.length + right.length
  if (left instanceof Uint8Array && right instanceof Uint8Array) return left.length + right.length
  if (Array.isArray(left) && Array.isArray(right)) return left.length + right.length
  return 0
}

export const OPERATORS: ReadonlyMap<string, OperatorCharge> = new Map<string, OperatorCharge>([
  // Strings, bytes and lists are copied into a new value; numbers, times and durations are not.
  ['+', { charge: concatenated, builds: concatenated }],
  ...each(ARITHMETIC, arithmetic),
  ...each(ORDERINGS, ordering),
  ...each(EQUALITIES, equality),
  // A list is searched element by element, each an equality (see above): at most a walk over the
  // list, plus the needle's weight for each element when both are lists or maps. A map hashes the key.
  [
    'in',
    {
      charge: (left, right, cap) => {
        if (!Array.isArray(right)) return len(left)
        if (!isCollection(left)) return weightUpTo(right, cap)
        let collections = 0
        for (const element of right) if (isCollection(element)) collections++
        return weightUpTo(right, cap) + collections * weightUpTo(left, cap)
      },
    },
  ],
  // An index: a string key is hashed; the guard refuses keys that are lists or maps.
  ['[]', { charge: (_left, right) => len(right) }],
])
