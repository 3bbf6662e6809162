// defineCommand: the help generated from a command's declaration, and every check of the
// command line made before `run` — an unknown, missing, repeated or malformed flag, flags that
// exclude each other, a retired flag, extra arguments — each a usage error (exit 2) that
// never reaches `run`.
import { describe, expect, it } from 'vitest'
import {
  choiceFlag,
  defineCommand,
  integerFlag,
  parsedFlag,
  switchFlag,
  textFlag,
} from '../../../cli/command.js'
import { createContext } from '../../../cli/context.js'
import { EXIT, UsageError } from '../../../cli/errors.js'
import { runScripted } from '../../support/cli-run.js'

/** A command that records what `run` received, and whether it ran at all. */
const probe = () => {
  const runs: unknown[] = []
  const command = defineCommand({
    name: 'probe',
    summary: 'try the declarations',
    section: 'admin',
    arguments: {
      usage: '[NAME]',
      max: 1,
      parse: (args) => {
        if (args[0] === 'bad') throw new UsageError('"bad" is not a name')
        return args[0]
      },
    },
    flags: {
      'token-file': textFlag('the token', { value: 'PATH', required: true }),
      tag: textFlag('a tag', { value: 'KEY', repeatable: true }),
      count: integerFlag('how many', { min: 1, max: 5 }, { default: 2 }),
      format: choiceFlag('how', ['json', 'table'], { short: 'o' }),
      endpoint: parsedFlag('where', (text) => new URL(text).host, {
        value: 'URL',
        required: true,
        env: ['PROBE_ENDPOINT', 'PROBE_FALLBACK'],
        group: 'Shared options',
      }),
      on: switchFlag('switch on', { excludes: ['off'] }),
      off: switchFlag('switch off'),
    },
    retired: { version: 'is now --if-version N' },
    async run(input) {
      runs.push({ ...input, given: [...input.given].sort() })
      return undefined
    },
  })
  const execute = async (argv: string[], env: Record<string, string> = {}) => {
    try {
      return { code: await command.execute(argv, createContext({ env, stderr: () => undefined })) }
    } catch (error) {
      return { error: error as UsageError }
    }
  }
  return { command, runs, execute }
}

describe('defineCommand: help', () => {
  it('generates the usage line (arguments, required flags with the shared ones first, [options]) and one section per group', () => {
    expect(probe().command.help()).toBe(
      `usage: irsa-broker probe [NAME] --endpoint URL --token-file PATH [options]

Try the declarations.

Options:
  --token-file PATH         the token (required)
  --tag KEY                 a tag (repeatable)
  --count N                 how many (default 2)
  --format, -o json|table   how
  --on                      switch on
  --off                     switch off

Shared options:
  --endpoint URL            where (required; or $PROBE_ENDPOINT, $PROBE_FALLBACK)`,
    )
  })

  it('every command of the CLI has a generated help whose usage line names it, and only the flags it declares are accepted', async () => {
    const { COMMANDS } = await import('../../../cli/commands/index.js')
    for (const command of COMMANDS) {
      const help = command.help()
      expect(help).toMatch(new RegExp(`^usage: irsa-broker ${command.name}[ \\n]`))
      const declared = [...help.matchAll(/^ {2}--([a-z0-9-]+)/gm)].map((match) => match[1])
      expect(new Set(declared).size, `${command.name}: a flag listed twice`).toBe(declared.length)
    }
  })
})

/** The flags `probe` requires, given. */
const VALID = ['--token-file', 't', '--endpoint', 'https://e']

describe('defineCommand: validation before run', () => {
  it('hands run typed values: text, repeatable lists, integers, defaults, choices by short name, parsed values, switches', async () => {
    const { runs, execute } = probe()
    expect(
      await execute([
        'alice',
        '--token-file',
        't',
        '--tag',
        'a',
        '--tag',
        'b',
        '-o',
        'table',
        '--endpoint',
        'https://broker.example.com/x',
        '--on',
      ]),
    ).toEqual({ code: undefined })
    expect(runs).toEqual([
      {
        args: 'alice',
        flags: {
          'token-file': 't',
          tag: ['a', 'b'],
          count: 2,
          format: 'table',
          endpoint: 'broker.example.com',
          on: true,
          off: false,
        },
        given: ['endpoint', 'format', 'on', 'tag', 'token-file'],
      },
    ])
  })

  it('takes a required flag from its environment variables, in order, when it is not given', async () => {
    const { runs, execute } = probe()
    await execute(['--token-file', 't'], { PROBE_FALLBACK: 'https://second.example.com' })
    await execute(['--token-file', 't'], {
      PROBE_ENDPOINT: 'https://first.example.com',
      PROBE_FALLBACK: 'https://second.example.com',
    })
    await execute(['--token-file', 't', '--endpoint', 'https://flag.example.com'], {
      PROBE_ENDPOINT: 'https://first.example.com',
    })
    expect(runs.map((input) => (input as { flags: { endpoint: string } }).flags.endpoint)).toEqual([
      'second.example.com',
      'first.example.com',
      'flag.example.com',
    ])
  })

  it.each([
    ['an unknown flag', [...VALID, '--bogus'], "Unknown option '--bogus'"],
    ['a missing required flag', ['--endpoint', 'https://e'], '--token-file is required'],
    [
      'a missing required flag with an environment fallback',
      ['--token-file', 't'],
      '--endpoint is required (or set PROBE_ENDPOINT or PROBE_FALLBACK)',
    ],
    ['an empty required flag', ['--token-file', '', '--endpoint', 'https://e'], '--token-file is required'],
    ['a flag given twice', [...VALID, '--token-file', 'u'], '--token-file is given 2 times; give it once'],
    ['a switch given twice', [...VALID, '--on', '--on'], '--on is given 2 times; give it once'],
    [
      'a choice given twice, once by its short name',
      [...VALID, '-o', 'json', '--format', 'table'],
      '--format is given 2 times; give it once',
    ],
    ['a number out of range', [...VALID, '--count', '9'], '--count must be a whole number from 1 to 5'],
    ['a value not among the choices', [...VALID, '--format', 'yaml'], '--format must be one of json, table'],
    ['flags that exclude each other', [...VALID, '--off', '--on'], '--on and --off exclude each other'],
    ['a retired flag', ['--version', '3'], '--version is now --if-version N'],
    ['a retired flag written --flag=value', ['--version=3'], '--version is now --if-version N'],
    ['a value missing', ['--token-file'], "Option '--token-file <value>' argument missing"],
    ['an argument too many', ['a', 'b', ...VALID], 'unexpected argument "b"'],
    ['an argument its parser refuses', ['bad', ...VALID], '"bad" is not a name'],
  ])('refuses %s with a usage error before run', async (_what, argv, message) => {
    const { runs, execute } = probe()
    const { error } = await execute(argv)
    expect(error).toBeInstanceOf(UsageError)
    expect(error?.message).toBe(message)
    expect(error?.exitCode).toBe(EXIT.usage)
    expect(runs).toEqual([])
  })

  it('a retired flag after "--" is an argument, not the flag', async () => {
    const { runs, execute } = probe()
    const { error } = await execute([...VALID, '--', '--version'])
    expect(error).toBeUndefined()
    expect(runs).toHaveLength(1)
  })
})

describe('the commands of the CLI through run(): exit 2 and the command named, no request made', () => {
  it.each([
    [['configure', '--endpoint', 'https://b.example.com', '--token-file', 't', '--token-file', 'u']],
    [['issuers', 'get', 'a', '--endpoint', 'https://b.example.com', '--admin-token-file', 'x', '--nope']],
    [['bindings', 'put', 'a/b', '--endpoint', 'https://b.example.com', '--replace', '--file', 'f']],
    [['export', '--endpoint', 'https://b.example.com', '--format', 'xml']],
  ])('%j', async (argv) => {
    const result = await runScripted(argv)
    const command = argv[0] === 'issuers' || argv[0] === 'bindings' ? `${argv[0]} ${argv[1]}` : argv[0]
    expect(result).toMatchObject({ code: 2, stdout: '', requests: [] })
    expect(result.stderr).toMatch(
      new RegExp(`^irsa-broker: [^\\n]+ \\(see: irsa-broker ${command} --help\\)\\n$`),
    )
  })
})
