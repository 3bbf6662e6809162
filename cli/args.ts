// Flags of one command, parsed strictly with node:util parseArgs: an unknown flag, a missing
// value or a malformed number is a usage error (exit 2) that names the command's --help.
import { type ParseArgsConfig, parseArgs } from 'node:util'
import { UsageError } from './errors.js'

export type OptionSpec = NonNullable<ParseArgsConfig['options']>

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
}

export const parseCommandLine = (command: string, argv: string[], options: OptionSpec): Parsed => {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    })
    return { values: values as Parsed['values'], positionals }
  } catch (error) {
    // parseArgs' messages are clear but some go on with a hint about '--'; keep the first sentence.
    const message = ((error as Error).message.split(/\n|\. /)[0] ?? '').replace(/\.$/, '')
    throw new UsageError(message, command)
  }
}

export const flag = (parsed: Parsed, name: string): string | undefined => {
  const value = parsed.values[name]
  return typeof value === 'string' ? value : undefined
}

export const flags = (parsed: Parsed, name: string): string[] => {
  const value = parsed.values[name]
  return Array.isArray(value) ? value : []
}

export const booleanFlag = (parsed: Parsed, name: string): boolean => parsed.values[name] === true

export const requiredFlag = (parsed: Parsed, name: string, command: string): string => {
  const value = flag(parsed, name)
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`, command)
  return value
}

export const integerFlag = (
  parsed: Parsed,
  name: string,
  command: string,
  range: { min: number; max: number },
): number | undefined => {
  const value = flag(parsed, name)
  if (value === undefined) return undefined
  const number = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN
  if (!(number >= range.min && number <= range.max))
    throw new UsageError(`--${name} must be a whole number from ${range.min} to ${range.max}`, command)
  return number
}

export const choiceFlag = <T extends string>(
  parsed: Parsed,
  name: string,
  command: string,
  choices: readonly T[],
): T | undefined => {
  const value = flag(parsed, name)
  if (value === undefined) return undefined
  if (!(choices as readonly string[]).includes(value))
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}`, command)
  return value as T
}

/** At most `max` positionals; names the first unexpected one. */
export const positionals = (parsed: Parsed, command: string, max: number): string[] => {
  if (parsed.positionals.length > max)
    throw new UsageError(`unexpected argument "${parsed.positionals[max]}"`, command)
  return parsed.positionals
}
