// `irsa-broker`: finds the command in argv, runs it, and turns the outcome into an exit code
// (README.md, "The irsa-broker CLI") with at most one line on stderr. bin/irsa-broker.js calls `run`.
import type { Command, Section } from './command.js'
import { COMMANDS } from './commands/index.js'
import { type ContextOptions, createContext } from './context.js'
import { EXIT, type ExitCode, isCliError, UsageError } from './errors.js'

export const CLI_VERSION = '0.1.0'

/** The groups (`issuers`, `bindings`) and their verbs, as the command table names them. */
const verbsOf = (group: string): string[] =>
  COMMANDS.filter((command) => command.name.startsWith(`${group} `)).map((command) =>
    command.name.slice(group.length + 1),
  )
const GROUPS: readonly string[] = [
  ...new Set(
    COMMANDS.flatMap((command) => (command.name.includes(' ') ? [command.name.split(' ')[0] ?? ''] : [])),
  ),
]

/** `a, b or c` */
const alternatives = (words: readonly string[]): string =>
  words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words.at(-1)}` : words.join('')

const SECTIONS: Record<Section, string> = {
  workload: 'In a workload:',
  'data-plane': 'In a cluster (the data plane):',
  admin: 'Administration (admin token locally, SigV4 with your AWS credentials against AWS):',
}

const overview = (): string => {
  const width = Math.max(...COMMANDS.map((command) => command.name.length))
  const line = (command: Command) => `  ${command.name.padEnd(width)}  ${command.summary}`
  const sections = (Object.keys(SECTIONS) as Section[])
    .map((section) => [section, COMMANDS.filter((command) => command.section === section)] as const)
    .filter(([, commands]) => commands.length > 0)
    .map(([section, commands]) => `${SECTIONS[section]}\n${commands.map(line).join('\n')}`)
  return `usage: irsa-broker <command> [options]

IRSA-style AWS credentials for Kubernetes workloads outside EKS, from an irsa-broker.

${sections.join('\n\n')}

  irsa-broker <command> --help    options of one command
  irsa-broker --version           the version of this client

Exit codes: 0 ok, 1 denied or invalid input, 2 usage, 3 broker or network unavailable.
Data goes to stdout, messages to stderr.
`
}

const groupHelp = (group: string): string => {
  const commands = COMMANDS.filter((command) => command.name.startsWith(`${group} `))
  return `usage: irsa-broker ${group} <${verbsOf(group).join('|')}> [options]

${commands.map((c) => `  ${c.name.padEnd(16)}  ${c.summary}`).join('\n')}

  irsa-broker ${group} <verb> --help    options of one verb
`
}

const wantsHelp = (argv: readonly string[]): boolean => argv.includes('--help') || argv.includes('-h')

const dispatch = async (
  argv: string[],
  context: ReturnType<typeof createContext>,
): Promise<ExitCode | undefined> => {
  const [first, second] = argv
  if (first === undefined) {
    // Usage where a command was expected: on stderr, like every other usage error.
    context.stderr(overview())
    return EXIT.usage
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    context.stdout(overview())
    return undefined
  }
  if (first === '--version' || first === 'version') {
    context.stdout(`irsa-broker ${CLI_VERSION}\n`)
    return undefined
  }
  const isGroup = GROUPS.includes(first)
  if (isGroup && (second === undefined || second.startsWith('-'))) {
    if (wantsHelp(argv)) {
      context.stdout(groupHelp(first))
      return undefined
    }
    throw new UsageError(`"${first}" needs a verb: ${alternatives(verbsOf(first))}`, first)
  }
  const name = isGroup ? `${first} ${second}` : first
  const command = COMMANDS.find((candidate) => candidate.name === name)
  if (!command) {
    if (isGroup) throw new UsageError(`unknown verb "${second}": use ${alternatives(verbsOf(first))}`, first)
    throw new UsageError(`unknown command "${first}"`)
  }
  const rest = argv.slice(isGroup ? 2 : 1)
  if (wantsHelp(rest)) {
    context.stdout(`${command.help()}\n`)
    return undefined
  }
  try {
    return await command.execute(rest, context)
  } catch (error) {
    // Checks deep in a command do not know its name; the --help to read is this command's.
    if (error instanceof UsageError && error.command === '') throw new UsageError(error.message, command.name)
    throw error
  }
}

/** Runs the CLI; resolves to the exit code. Never throws. */
export const run = async (argv: string[], options: ContextOptions = {}): Promise<number> => {
  const context = createContext(options)
  try {
    return (await dispatch(argv, context)) ?? EXIT.ok
  } catch (error) {
    if (isCliError(error)) {
      const hint =
        error instanceof UsageError
          ? ` (see: irsa-broker ${error.command ? `${error.command} ` : ''}--help)`
          : ''
      context.stderr(`irsa-broker: ${error.message.replace(/\s*\n\s*/g, ' ')}${hint}\n`)
      return error.exitCode
    }
    context.stderr(
      `irsa-broker: unexpected error: ${String((error as Error)?.message ?? error).split('\n')[0]}\n`,
    )
    return EXIT.denied
  }
}
