// The command line itself: --help for every command and group, usage errors (exit 2) with one
// line on stderr pointing at the right --help, the version, and the endpoint rules.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { executeApiRegion, isLoopbackHost, parseEndpoint } from '../../../cli/endpoint.js'
import { UsageError } from '../../../cli/errors.js'
import { CLI_VERSION, run } from '../../../cli/main.js'

const COMMANDS = [
  'credential-process',
  'configure',
  'issuers list',
  'issuers get',
  'issuers put',
  'issuers delete',
  'issuers refresh',
  'bindings list',
  'bindings get',
  'bindings put',
  'bindings delete',
  'explain',
  'history',
  'trust-policy',
  'revocations list',
  'revocations lift',
  'export',
  'import',
  'sync-keys',
]

const cli = async (argv: string[], env: Record<string, string> = {}) => {
  const out: string[] = []
  const err: string[] = []
  const requests: string[] = []
  const code = await run(argv, {
    env,
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    fetch: (async (input: string | URL | Request) => {
      requests.push(String(input))
      throw new Error('no request is expected in these tests')
    }) as typeof fetch,
  })
  return { code, stdout: out.join(''), stderr: err.join(''), requests }
}

describe('--help', () => {
  it.each(COMMANDS)(
    '"%s --help" prints its usage on stdout and exits 0 without touching the network',
    async (name) => {
      const result = await cli([...name.split(' '), '--help'])
      expect(result).toMatchObject({ code: 0, stderr: '', requests: [] })
      expect(result.stdout).toMatch(new RegExp(`^usage: irsa-broker ${name}( |\\n)`))
    },
  )

  it('-h works after other flags too, even when required flags are missing', async () => {
    const result = await cli(['credential-process', '--role', 'x', '-h'])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^usage: irsa-broker credential-process /)
  })

  it('the overview lists every command with the exit codes; groups have their own help', async () => {
    const overview = await cli(['--help'])
    expect(overview.code).toBe(0)
    for (const name of COMMANDS) expect(overview.stdout).toContain(`  ${name} `)
    expect(overview.stdout).toContain(
      'Exit codes: 0 ok, 1 denied or invalid input, 2 usage, 3 broker or network unavailable.',
    )
    const group = await cli(['bindings', '--help'])
    expect(group.code).toBe(0)
    expect(group.stdout).toMatch(/^usage: irsa-broker bindings <list\|get\|put\|delete> \[options\]/)
    const revocations = await cli(['revocations', '--help'])
    expect(revocations.stdout).toMatch(/^usage: irsa-broker revocations <list\|lift> \[options\]/)
    const issuers = await cli(['issuers', '--help'])
    expect(issuers.stdout).toMatch(
      /^usage: irsa-broker issuers <list\|get\|put\|delete\|refresh> \[options\]/,
    )
  })
})

describe('usage errors: exit 2, one line on stderr naming the --help to read, nothing on stdout', () => {
  it.each([
    [['assume-role'], 'irsa-broker: unknown command "assume-role" (see: irsa-broker --help)'],
    [
      ['issuers'],
      'irsa-broker: "issuers" needs a verb: list, get, put, delete or refresh (see: irsa-broker issuers --help)',
    ],
    [
      ['bindings'],
      'irsa-broker: "bindings" needs a verb: list, get, put or delete (see: irsa-broker bindings --help)',
    ],
    [
      ['issuers', 'patch'],
      'irsa-broker: unknown verb "patch": use list, get, put, delete or refresh (see: irsa-broker issuers --help)',
    ],
    [
      ['bindings', 'patch'],
      'irsa-broker: unknown verb "patch": use list, get, put or delete (see: irsa-broker bindings --help)',
    ],
    [
      ['configure', '--endpoint', 'https://b.example.com'],
      'irsa-broker: --token-file is required (see: irsa-broker configure --help)',
    ],
    [
      ['credential-process', '--token-file', 't'],
      'irsa-broker: --endpoint is required (or set IRSA_BROKER_ENDPOINT) (see: irsa-broker credential-process --help)',
    ],
    [
      [
        'credential-process',
        '--endpoint',
        'https://b.example.com',
        '--token-file',
        't',
        '--duration-seconds',
        '60',
      ],
      'irsa-broker: --duration-seconds must be a whole number from 900 to 43200 (see: irsa-broker credential-process --help)',
    ],
    [
      ['credential-process', '--endpoint', 'ftp://b.example.com', '--token-file', 't'],
      'irsa-broker: --endpoint must be an https:// URL, not ftp: (see: irsa-broker credential-process --help)',
    ],
    [
      ['issuers', 'get', '../x', '--endpoint', 'https://b.example.com'],
      'irsa-broker: "../x" is not a valid issuer id (1-64 letters, digits, ".", "_", "-") (see: irsa-broker issuers get --help)',
    ],
    [
      ['bindings', 'get', 'only-issuer', '--endpoint', 'https://b.example.com'],
      'irsa-broker: name the binding as <issuerId>/<bindingId>, got "only-issuer" (see: irsa-broker bindings get --help)',
    ],
    [
      ['issuers', 'list', '--endpoint', 'https://b.example.com', '--output', 'yaml'],
      'irsa-broker: --output must be one of json, table (see: irsa-broker issuers list --help)',
    ],
    [
      ['issuers', 'list', '--endpoint', 'https://b.example.com'],
      'irsa-broker: the admin API needs --admin-token, --admin-token-file or IRSA_BROKER_ADMIN_TOKEN (local mode), or --sigv4 (AWS) (see: irsa-broker issuers list --help)',
    ],
    [
      ['issuers', 'list', '--endpoint', 'https://b.example.com', '--sigv4', '--admin-token', 'x'],
      'irsa-broker: --sigv4 signs with AWS credentials; leave out the admin token (see: irsa-broker issuers list --help)',
    ],
    [
      [
        'issuers',
        'list',
        '--endpoint',
        'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com',
        '--admin-token',
        'x',
      ],
      'irsa-broker: the admin API of a broker in AWS is authorized by IAM (SigV4 with your AWS credentials), not by an admin token (see: irsa-broker issuers list --help)',
    ],
    [
      ['issuers', 'put', 'a', '--endpoint', 'https://b.example.com', '--enabled', '--disabled'],
      'irsa-broker: --enabled and --disabled exclude each other (see: irsa-broker issuers put --help)',
    ],
    [
      ['bindings', 'put', 'a/b', '--endpoint', 'https://b.example.com', '--session-tag', 'novalue'],
      'irsa-broker: --session-tag takes KEY=VALUE, got "novalue" (see: irsa-broker bindings put --help)',
    ],
    [
      ['issuers', 'put', '--endpoint', 'https://b.example.com'],
      'irsa-broker: nothing to put: give --file or the fields as flags (see: irsa-broker issuers put --help)',
    ],
  ])('%j', async (argv, line) => {
    const result = await cli(argv as string[])
    expect(result).toEqual({ code: 2, stdout: '', stderr: `${line}\n`, requests: [] })
  })
})

describe('bare irsa-broker', () => {
  it('prints the usage overview on stderr and exits 2 (a command was expected), nothing on stdout', async () => {
    const result = await cli([])
    expect(result).toMatchObject({ code: 2, stdout: '', requests: [] })
    expect(result.stderr).toMatch(/^usage: irsa-broker <command> \[options\]\n/)
    for (const name of COMMANDS) expect(result.stderr).toContain(`  ${name} `)
  })
})

describe('version', () => {
  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../../package.json'), 'utf8')) as {
      version: string
    }
    expect(CLI_VERSION).toBe(pkg.version)
    expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `irsa-broker ${pkg.version}\n` })
  })
})

describe('endpoints', () => {
  it('allows https anywhere and plain http only to loopback, and drops a trailing slash of the base path', () => {
    expect(parseEndpoint('https://broker.example.com/prod/', 'x').base).toBe(
      'https://broker.example.com/prod',
    )
    expect(parseEndpoint('http://127.0.0.1:8787', 'x').base).toBe('http://127.0.0.1:8787')
    expect(parseEndpoint('http://[::1]:8787/', 'x').base).toBe('http://[::1]:8787')
    expect(parseEndpoint('http://localhost:8787', 'x').base).toBe('http://localhost:8787')
    for (const remote of ['http://10.0.0.5:8787', 'http://broker.example.com', 'http://127.0.0.1.nip.io'])
      expect(() => parseEndpoint(remote, 'x')).toThrow(UsageError)
    expect(() => parseEndpoint('https://user:pw@broker.example.com', 'x')).toThrow(/user name or password/)
    expect(() => parseEndpoint('https://broker.example.com/?a=b', 'x')).toThrow(/without a query/)
    expect(() => parseEndpoint('not a url', 'x')).toThrow(/is not a URL/)
  })

  it('recognizes loopback hosts exactly', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST'].map(isLoopbackHost)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
    ])
    expect(['128.0.0.1', '10.0.0.1', '127.0.0.1.example.com', '::2', ''].map(isLoopbackHost)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ])
  })

  it('reads the region of an API Gateway endpoint host, and nothing from other hosts', () => {
    expect(executeApiRegion('a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com')).toBe('eu-west-1')
    expect(executeApiRegion('A1B2C3D4E5.execute-api.us-gov-west-1.amazonaws.com')).toBe('us-gov-west-1')
    expect(executeApiRegion('a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn')).toBe('cn-north-1')
    expect(executeApiRegion('broker.example.com')).toBeUndefined()
    expect(executeApiRegion('a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com.evil.example')).toBeUndefined()
  })
})
