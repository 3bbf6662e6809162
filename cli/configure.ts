// `configure`: asks the broker which roles the workload's token may use and writes one
// `[profile <profile>]` per role with a credential_process line that runs this CLI, merged
// into the AWS config file. The file is replaced atomically (temp file + rename), so a
// reader never sees half of it, and a re-run with the same answer changes nothing.
import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { PROFILE_PATTERN } from '../shared/core/patterns.js'
import {
  type ConfigFile,
  parseAwsConfig,
  profileSection,
  renderAwsConfig,
  type SetOutcome,
  setConfigValue,
  shellQuote,
  unsafeInConfigValue,
} from './aws-config.js'
import type { CliContext } from './context.js'
import type { Endpoint } from './endpoint.js'
import { InputError, UsageError } from './errors.js'
import type { BrokerClient } from './http.js'

/** A role the broker lets the token use, as much of GET /v1/roles as a profile needs. */
export interface RoleChoice {
  profile: string
  roleArn: string
}

export interface ConfigureResult {
  path: string
  profiles: { profile: string; roleArn: string; outcome: SetOutcome }[]
  text: string
  changed: boolean
}

export const parseRolesAnswer = (body: unknown, origin: string): RoleChoice[] => {
  const roles = (body as { roles?: unknown } | undefined)?.roles
  if (!Array.isArray(roles))
    throw new InputError('InvalidInput', `the broker at ${origin} answered /v1/roles without a "roles" list`)
  return roles.map((role) => {
    const { profile, roleArn } = (role ?? {}) as Record<string, unknown>
    if (typeof profile !== 'string' || !PROFILE_PATTERN.test(profile) || typeof roleArn !== 'string')
      throw new InputError(
        'InvalidInput',
        `the broker at ${origin} answered /v1/roles with an unusable role entry`,
      )
    return { profile, roleArn }
  })
}

/** $AWS_CONFIG_FILE, else ~/.aws/config; relative paths against the working directory. */
export const configFilePath = (
  context: Pick<CliContext, 'env' | 'cwd' | 'homedir'>,
  given?: string,
): string => {
  const path = given ?? context.env.AWS_CONFIG_FILE ?? join(context.homedir, '.aws', 'config')
  const expanded = path.startsWith('~/') ? join(context.homedir, path.slice(2)) : path
  return isAbsolute(expanded) ? expanded : resolve(context.cwd, expanded)
}

/** The credential_process command line for one profile, every argument absolute and quoted. */
export const credentialProcessLine = (options: {
  node: string
  script: string
  endpoint: Endpoint
  tokenFile: string
  profile: string
  durationSeconds?: number | undefined
}): string => {
  const args = [
    options.node,
    options.script,
    'credential-process',
    '--endpoint',
    options.endpoint.base,
    '--token-file',
    options.tokenFile,
    '--role',
    options.profile,
    ...(options.durationSeconds === undefined ? [] : ['--duration-seconds', String(options.durationSeconds)]),
  ]
  for (const arg of args) {
    const problem = unsafeInConfigValue(arg)
    if (problem)
      throw new UsageError(
        `cannot write a credential_process line for "${arg}": it contains ${problem}`,
        'configure',
      )
  }
  return args.map(shellQuote).join(' ')
}

const readExisting = (path: string): { text: string; mode: number | undefined } => {
  try {
    const text = readFileSync(path, 'utf8')
    return { text, mode: statSync(path).mode & 0o777 }
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (code === 'ENOENT') return { text: '', mode: undefined }
    throw new InputError(
      'ConfigFile',
      `cannot read ${path} (${code === 'EACCES' ? 'permission denied' : (error as Error).message})`,
    )
  }
}

/** The file a symlinked config points at: renaming over the link would replace the link itself. */
const writeTarget = (path: string): string => {
  try {
    return lstatSync(path).isSymbolicLink() ? realpathSync(path) : path
  } catch {
    return path
  }
}

export const writeFileAtomically = (path: string, text: string, mode: number): void => {
  const target = writeTarget(path)
  const dir = dirname(target)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const temp = join(dir, `.${basename(target)}.irsa-broker-${randomBytes(6).toString('hex')}.tmp`)
  let fd: number | undefined
  try {
    fd = openSync(temp, 'wx', mode)
    writeSync(fd, text)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    chmodSync(temp, mode)
    renameSync(temp, target)
  } catch (error) {
    if (fd !== undefined) closeSync(fd)
    try {
      unlinkSync(temp)
    } catch {
      // already renamed or never created
    }
    throw new InputError('ConfigFile', `cannot write ${target} (${(error as Error).message})`)
  }
}

export const configure = async (
  context: Pick<CliContext, 'env' | 'cwd' | 'homedir' | 'self'>,
  options: {
    client: BrokerClient
    endpoint: Endpoint
    tokenFile: string
    configFile?: string | undefined
    durationSeconds?: number | undefined
    dryRun: boolean
  },
): Promise<ConfigureResult> => {
  const path = configFilePath(context, options.configFile)
  const tokenFile = resolve(context.cwd, options.tokenFile)
  const script = resolve(context.cwd, context.self.script)
  // Parse before asking the broker: a file that cannot be merged fails without any request.
  const existing = readExisting(path)
  const file: ConfigFile = parseAwsConfig(existing.text, path)

  const answer = await options.client.call({ method: 'GET', path: '/v1/roles', retry: true })
  const roles = parseRolesAnswer(answer.body, options.endpoint.url.origin)
  if (roles.length === 0)
    throw new InputError('NoRoles', `the broker allows this token no role, so there is no profile to write`)

  const profiles = roles.map((role) => ({
    profile: role.profile,
    roleArn: role.roleArn,
    outcome: setConfigValue(
      file,
      profileSection(role.profile),
      'credential_process',
      credentialProcessLine({
        node: context.self.node,
        script,
        endpoint: options.endpoint,
        tokenFile,
        profile: role.profile,
        durationSeconds: options.durationSeconds,
      }),
    ),
  }))
  const text = renderAwsConfig(file)
  const changed = text !== existing.text
  if (changed && !options.dryRun) writeFileAtomically(path, text, existing.mode ?? 0o600)
  return { path, profiles, text, changed }
}
