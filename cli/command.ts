// One command of the CLI, declared once: its flags (name, type, required, repeatable, help
// text, environment fallback), its positional arguments and what it does. The --help text and
// every check of the command line come from that declaration, and all checks are made before
// `run` is called: `run` gets typed, validated values and never parses argv itself.
import { parseArgs } from 'node:util'
import type { CliContext } from './context.js'
import { type ExitCode, UsageError } from './errors.js'

interface FlagOptions<T> {
  /** The value's name in help and in the usage line: PATH, URL, N. */
  value?: string
  short?: string
  required?: boolean
  /** Given more than once, the values form a list; otherwise a second occurrence is refused. */
  repeatable?: boolean
  /** Environment variables read, in this order, when the flag is not given. */
  env?: readonly string[]
  default?: T
  /** Flags that must not be given together with this one. */
  excludes?: readonly string[]
  /** The heading the flag is listed under in help (default "Options"). */
  group?: string
}

type Shape<T, O> = O extends { repeatable: true }
  ? T[]
  : O extends { required: true }
    ? T
    : O extends { default: T }
      ? T
      : T | undefined

/** A declared flag. `V` is the type `run` receives; the value itself is checked by `parse`. */
export interface Flag<V> {
  readonly kind: 'string' | 'boolean'
  readonly help: string
  readonly options: FlagOptions<unknown>
  /** Turns the text given into the value, or throws a UsageError saying what is wrong. */
  readonly parse: (text: string, name: string) => unknown
  /** Only for the type checker. */
  readonly value?: V
}

// biome-ignore lint/suspicious/noExplicitAny: a set of flags of any value types.
export type FlagSet = Record<string, Flag<any>>
export type FlagValues<F extends FlagSet> = { [K in keyof F]: F[K] extends Flag<infer V> ? V : never }

const declare = <V>(
  kind: Flag<V>['kind'],
  help: string,
  parse: Flag<V>['parse'],
  options: FlagOptions<unknown> = {},
): Flag<V> => ({ kind, help, parse, options })

/** A flag with a text value. */
export const textFlag = <const O extends FlagOptions<string> = Record<never, never>>(
  help: string,
  options?: O,
): Flag<Shape<string, O>> => declare('string', help, (text) => text, { value: 'TEXT', ...options })

/** A text value that `accept` turns into the value, or refuses (undefined) for `problem`. */
const checkedFlag = <V>(
  help: string,
  accept: (text: string) => unknown,
  problem: string,
  options: FlagOptions<unknown>,
): Flag<V> =>
  declare(
    'string',
    help,
    (text, name) => {
      const value = accept(text)
      if (value === undefined) throw new UsageError(`--${name} ${problem}`)
      return value
    },
    options,
  )

/** A whole number within `range`. */
export const integerFlag = <const O extends FlagOptions<number> = Record<never, never>>(
  help: string,
  range: { min: number; max: number },
  options?: O,
): Flag<Shape<number, O>> =>
  checkedFlag(
    help,
    (text) => {
      const number = /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN
      return number >= range.min && number <= range.max ? number : undefined
    },
    `must be a whole number from ${range.min} to ${range.max}`,
    { value: 'N', ...options },
  )

/** One of `choices`. */
export const choiceFlag = <const C extends string, const O extends FlagOptions<C> = Record<never, never>>(
  help: string,
  choices: readonly C[],
  options?: O,
): Flag<Shape<C, O>> =>
  checkedFlag(
    help,
    (text) => ((choices as readonly string[]).includes(text) ? text : undefined),
    `must be one of ${choices.join(', ')}`,
    { value: choices.join('|'), ...options },
  )

/** A value that `parse` makes from the text (and refuses with a UsageError). */
export const parsedFlag = <T, const O extends FlagOptions<T> = Record<never, never>>(
  help: string,
  parse: (text: string, name: string) => T,
  options?: O,
): Flag<Shape<T, O>> => declare('string', help, parse, options)

/** A switch: true when given. */
export const switchFlag = (
  help: string,
  options?: Pick<FlagOptions<boolean>, 'short' | 'excludes' | 'group'>,
): Flag<boolean> => declare('boolean', help, () => true, { ...options, default: false })

/** The positional arguments of a command, turned into what `run` receives. */
export interface ArgumentsSpec<A> {
  /** As the usage line shows them: `ISSUER_ID`, `[ISSUER_ID/BINDING_ID]`; none for none. */
  usage?: string | undefined
  max: number
  parse: (args: string[]) => A
}

/** Where the overview lists a command. */
export type Section = 'workload' | 'admin' | 'data-plane'

export interface CommandInput<F extends FlagSet, A> {
  flags: FlagValues<F>
  args: A
  /** The flags given on the command line (not from the environment or a default). */
  given: ReadonlySet<keyof F & string>
}

export interface CommandDefinition<F extends FlagSet, A> {
  /** As typed: `configure`, `bindings put`. */
  name: string
  summary: string
  section: Section
  /** Paragraphs between the usage line and the options, as written. */
  description?: string
  arguments?: ArgumentsSpec<A>
  flags: F
  /** Flags a command no longer takes, with what to say instead of "unknown option". */
  retired?: Record<string, string>
  /** Resolves to the exit code when it is not 0 and no error says it. */
  run(input: CommandInput<F, A>, context: CliContext): Promise<ExitCode | undefined>
}

export interface Command {
  readonly name: string
  readonly summary: string
  readonly section: Section
  help(): string
  /** Checks `argv` (the words after the command's name) against the declaration, then runs. */
  execute(argv: string[], context: CliContext): Promise<ExitCode | undefined>
}

const HELP_COLUMN = 28

const flagLabel = (name: string, flag: Flag<unknown>): string =>
  `--${name}${flag.options.short ? `, -${flag.options.short}` : ''}${
    flag.kind === 'boolean' ? '' : ` ${flag.options.value ?? 'VALUE'}`
  }`

const flagHelp = (name: string, flag: Flag<unknown>): string => {
  const notes = [
    flag.options.required ? 'required' : undefined,
    flag.options.repeatable ? 'repeatable' : undefined,
    flag.options.env ? `or $${flag.options.env.join(', $')}` : undefined,
    flag.kind === 'string' && flag.options.default !== undefined
      ? `default ${String(flag.options.default)}`
      : undefined,
  ].filter((note) => note !== undefined)
  const text = `${flag.help}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`
  const label = `  ${flagLabel(name, flag)}`
  const [first = '', ...rest] = text.split('\n')
  const indent = ' '.repeat(HELP_COLUMN)
  const head =
    label.length < HELP_COLUMN - 1 ? `${label.padEnd(HELP_COLUMN)}${first}` : `${label}\n${indent}${first}`
  return [head, ...rest.map((line) => `${indent}${line}`)].join('\n')
}

const helpOf = (definition: CommandDefinition<FlagSet, unknown>): string => {
  const entries = Object.entries(definition.flags)
  // Where the broker is comes first in the usage line, then what the command itself needs.
  const required = entries
    .filter(([, flag]) => flag.options.required)
    .sort(([, a], [, b]) => Number(a.options.group === undefined) - Number(b.options.group === undefined))
    .map(([name, flag]) => `--${name} ${flag.options.value ?? 'VALUE'}`)
  const usage = [
    `usage: irsa-broker ${definition.name}`,
    definition.arguments?.usage,
    ...required,
    entries.some(([, flag]) => !flag.options.required) ? '[options]' : undefined,
  ]
    .filter((part) => part !== undefined && part !== '')
    .join(' ')
  // The command's own flags first, then the shared groups.
  const groups = new Map<string, string[]>([['Options', []]])
  for (const [name, flag] of entries) {
    const group = flag.options.group ?? 'Options'
    groups.set(group, [...(groups.get(group) ?? []), flagHelp(name, flag)])
  }
  return [
    usage,
    definition.description?.trim() ??
      `${definition.summary.charAt(0).toUpperCase()}${definition.summary.slice(1)}.`,
    ...[...groups]
      .filter(([, lines]) => lines.length > 0)
      .map(([group, lines]) => `${group}:\n${lines.join('\n')}`),
  ].join('\n\n')
}

/** The flag named by an option word of argv (`--name`, `--name=value`), or undefined. */
const optionName = (word: string): string | undefined =>
  word.startsWith('--') ? word.slice(2).split('=', 1)[0] : undefined

const parseCommandLine = (argv: string[], flags: FlagSet) => {
  try {
    return parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.entries(flags).map(([name, flag]) => [
          name,
          {
            type: flag.kind,
            ...(flag.options.short ? { short: flag.options.short } : {}),
            ...(flag.options.repeatable ? { multiple: true } : {}),
          },
        ]),
      ),
      allowPositionals: true,
      strict: true,
      tokens: true,
    })
  } catch (error) {
    // parseArgs' messages are clear but some go on with a hint about '--'; keep the first sentence.
    throw new UsageError(((error as Error).message.split(/\n|\. /)[0] ?? '').replace(/\.$/, ''))
  }
}

const fromEnvironment = (flag: Flag<unknown>, env: CliContext['env']): string | undefined => {
  for (const variable of flag.options.env ?? []) {
    const value = env[variable]
    if (value !== undefined && value !== '') return value
  }
  return undefined
}

const validate = <F extends FlagSet, A>(
  definition: CommandDefinition<F, A>,
  argv: string[],
  env: CliContext['env'],
): CommandInput<F, A> => {
  const end = argv.indexOf('--')
  for (const word of end < 0 ? argv : argv.slice(0, end)) {
    const name = optionName(word)
    const retired = name === undefined ? undefined : definition.retired?.[name]
    if (retired !== undefined) throw new UsageError(`--${name} ${retired}`)
  }
  const parsed = parseCommandLine(argv, definition.flags)
  const counts = new Map<string, number>()
  for (const token of parsed.tokens ?? [])
    if (token.kind === 'option') counts.set(token.name, (counts.get(token.name) ?? 0) + 1)
  const given = new Set([...counts.keys()]) as Set<keyof F & string>

  for (const [name, count] of counts)
    if (count > 1 && !definition.flags[name]?.options.repeatable)
      throw new UsageError(`--${name} is given ${count} times; give it once`)
  for (const [name, flag] of Object.entries(definition.flags))
    for (const other of flag.options.excludes ?? [])
      if (given.has(name) && given.has(other))
        throw new UsageError(`--${name} and --${other} exclude each other`)

  const values: Record<string, unknown> = {}
  for (const [name, flag] of Object.entries(definition.flags)) {
    const raw = parsed.values[name] as string | boolean | string[] | undefined
    if (flag.kind === 'boolean') {
      values[name] = raw === true
      continue
    }
    const texts = Array.isArray(raw)
      ? raw
      : typeof raw === 'string'
        ? [raw]
        : [fromEnvironment(flag, env)].filter((text) => text !== undefined)
    if (texts.length === 0 || (flag.options.required && texts.every((text) => text === ''))) {
      if (flag.options.required)
        throw new UsageError(
          `--${name} is required${flag.options.env ? ` (or set ${flag.options.env.join(' or ')})` : ''}`,
        )
      values[name] = flag.options.repeatable ? [] : flag.options.default
      continue
    }
    const parsedValues = texts.map((text) => flag.parse(text, name))
    values[name] = flag.options.repeatable ? parsedValues : parsedValues[0]
  }

  const max = definition.arguments?.max ?? 0
  if (parsed.positionals.length > max)
    throw new UsageError(`unexpected argument "${parsed.positionals[max]}"`)
  const args = definition.arguments ? definition.arguments.parse(parsed.positionals) : (undefined as A)
  return { flags: values as FlagValues<F>, args, given }
}

/** The values of `flags` as a command with them would get them from `argv` (for tests and tools). */
export const parseFlags = <F extends FlagSet>(
  flags: F,
  argv: string[],
  env: CliContext['env'] = {},
): FlagValues<F> =>
  validate({ name: '', summary: '', section: 'admin', flags, run: async () => undefined }, argv, env).flags

/** Declares a command: help and validation from `flags` and `arguments`, then `run`. */
export const defineCommand = <F extends FlagSet, A = undefined>(
  definition: CommandDefinition<F, A>,
): Command => ({
  name: definition.name,
  summary: definition.summary,
  section: definition.section,
  help: () => helpOf(definition as unknown as CommandDefinition<FlagSet, unknown>),
  execute: (argv, context) => definition.run(validate(definition, argv, context.env), context),
})
