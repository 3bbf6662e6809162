// `configure`: asks the broker which roles the workload's token may use and writes one
// `[profile <profile>]` per role with a credential_process line that runs this CLI, merged
// into the AWS config file; the profiles it wrote earlier for roles no longer allowed go. The
// file is replaced atomically (temp file + rename), so a reader never sees half of it, and a
// re-run with the same answer changes nothing.
import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  copyFileSync,
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
import { PATHS } from '../shared/http/paths.js'
import {
  type ConfigFile,
  type ConfigLine,
  keyIndex,
  parseAwsConfig,
  profileSection,
  removeConfigValue,
  removeSection,
  renderAwsConfig,
  type SetOutcome,
  sectionRange,
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
  /** The allowed roles' profiles in the broker's order, then the ones removed. */
  profiles: { profile: string; roleArn: string | undefined; outcome: SetOutcome | 'removed' }[]
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
  /** Absent for the self-contained executable, which is run alone. */
  script?: string | undefined
  endpoint: Endpoint
  tokenFile: string
  profile: string
  durationSeconds?: number | undefined
}): string => {
  const args = [
    options.node,
    ...(options.script === undefined ? [] : [options.script]),
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

/**
 * How `configure` marks what it wrote, so that a later run can take back the profiles of roles
 * the broker no longer allows and never touch a profile it did not write. A profile it created
 * carries the first marker under its header (the whole section is configure's); a profile that
 * was there before (a user's, with settings of its own) gets only its credential_process line,
 * marked by the line above it. Markers name the endpoint and token file: runs for another
 * broker or another token leave each other's profiles alone.
 */
const MARKER = /^# irsa-broker configure: (profile|credential_process) of endpoint=(\S+) token-file=(.+)$/

type MarkerKind = 'profile' | 'credential_process'

const markerText = (kind: MarkerKind, scope: { endpoint: string; tokenFile: string }) =>
  `# irsa-broker configure: ${kind} of endpoint=${scope.endpoint} token-file=${scope.tokenFile}`

interface Marked {
  section: string
  profile: string
  kind: MarkerKind
  line: number
  endpoint: string
  tokenFile: string
}

/** Every marker in the file, with the profile it marks. */
const markersOf = (file: ConfigFile): Marked[] => {
  const found: Marked[] = []
  let section: string | undefined
  file.lines.forEach((line, index) => {
    if (line.kind === 'section') section = line.section
    const match = line.kind === 'comment' ? MARKER.exec(line.text.trim()) : null
    if (!match || section === undefined) return
    found.push({
      section,
      profile: section === 'default' ? 'default' : section.replace(/^profile /, ''),
      kind: match[1] as MarkerKind,
      line: index,
      endpoint: match[2] ?? '',
      tokenFile: match[3] ?? '',
    })
  })
  return found
}

const sectionText = (file: ConfigFile, section: string): string | undefined => {
  const range = sectionRange(file, section)
  return (
    range &&
    file.lines
      .slice(range.start, range.end)
      .map((line) => line.text)
      .join('\n')
  )
}

const isMarker = (line: ConfigLine | undefined): line is ConfigLine =>
  line?.kind === 'comment' && MARKER.test(line.text.trim())

/** Sets the marker at `index` when one (of any scope) is there, else puts it in before that line. */
const placeMarker = (file: ConfigFile, index: number, text: string) => {
  const there = file.lines[index]
  if (isMarker(there)) there.text = text
  else file.lines.splice(index, 0, { text, kind: 'comment' })
}

/** Writes one role's profile: the whole section when it is configure's (or new), else one line. */
const writeProfile = (
  file: ConfigFile,
  role: RoleChoice,
  line: string,
  scope: { endpoint: string; tokenFile: string },
  region: string | undefined,
): SetOutcome => {
  const section = profileSection(role.profile)
  const before = sectionText(file, section)
  const ours =
    before === undefined || markersOf(file).some((m) => m.section === section && m.kind === 'profile')
  setConfigValue(file, section, 'credential_process', line)
  if (ours) {
    placeMarker(file, (sectionRange(file, section)?.start ?? 0) + 1, markerText('profile', scope))
    if (region !== undefined) setConfigValue(file, section, 'region', region)
  } else {
    const at = keyIndex(file, section, 'credential_process')
    placeMarker(file, isMarker(file.lines[at - 1]) ? at - 1 : at, markerText('credential_process', scope))
  }
  const after = sectionText(file, section)
  return before === undefined ? 'added' : before === after ? 'unchanged' : 'updated'
}

/** Takes back what configure wrote for this scope for a profile no longer allowed. */
const dropProfile = (file: ConfigFile, marked: Marked) => {
  if (marked.kind === 'profile') {
    removeSection(file, marked.section)
    return
  }
  file.lines.splice(marked.line, 1)
  removeConfigValue(file, marked.section, 'credential_process')
}

export type ProfileOutcome = SetOutcome | 'removed'

/**
 * Copies the running self-contained executable to `target` (temp file + rename, mode 0755), for
 * the credential_process lines of a pod's containers, which share only an emptyDir with the
 * init container that runs this (docs/data-planes.md, "Wire workloads").
 */
export const installExecutable = (source: string, target: string): void => {
  const dir = dirname(target)
  const temp = join(dir, `.${basename(target)}.irsa-broker-${randomBytes(6).toString('hex')}.tmp`)
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 })
    copyFileSync(source, temp)
    chmodSync(temp, 0o755)
    renameSync(temp, target)
  } catch (error) {
    try {
      unlinkSync(temp)
    } catch {
      // never created, or already renamed
    }
    throw new InputError('ConfigFile', `cannot copy ${source} to ${target} (${(error as Error).message})`)
  }
}

/** What the credential_process lines run: this CLI (node + script), or the copy --install-executable made. */
const profileCommand = (
  context: Pick<CliContext, 'cwd' | 'self'>,
  installTo: string | undefined,
): { node: string; script?: string } => {
  if (installTo === undefined)
    return context.self.script === undefined
      ? { node: context.self.node }
      : { node: context.self.node, script: resolve(context.cwd, context.self.script) }
  if (context.self.script !== undefined)
    throw new UsageError(
      "--install-executable copies the self-contained executable (the agent image's /usr/local/bin/irsa-broker); this CLI runs as node and a script",
      'configure',
    )
  return { node: resolve(context.cwd, installTo) }
}

export const configure = async (
  context: Pick<CliContext, 'env' | 'cwd' | 'homedir' | 'self'>,
  options: {
    client: BrokerClient
    endpoint: Endpoint
    tokenFile: string
    configFile?: string | undefined
    durationSeconds?: number | undefined
    /** Written into the profiles configure owns, when known. */
    region?: string | undefined
    /** Copy the self-contained executable here, and make the profiles run that copy. */
    installExecutable?: string | undefined
    dryRun: boolean
  },
): Promise<ConfigureResult> => {
  const path = configFilePath(context, options.configFile)
  const tokenFile = resolve(context.cwd, options.tokenFile)
  const command = profileCommand(context, options.installExecutable)
  const scope = { endpoint: options.endpoint.base, tokenFile }
  for (const value of [scope.endpoint, scope.tokenFile, options.region ?? '']) {
    const problem = unsafeInConfigValue(value)
    if (problem) throw new UsageError(`cannot write "${value}" into ${path}: it contains ${problem}`)
  }
  // Parse before asking the broker: a file that cannot be merged fails without any request.
  const existing = readExisting(path)
  const file: ConfigFile = parseAwsConfig(existing.text, path)

  const answer = await options.client.call({ method: 'GET', path: PATHS.roles, retry: true })
  const roles = parseRolesAnswer(answer.body, options.endpoint.url.origin)
  const profiles: ConfigureResult['profiles'] = roles.map((role) => ({
    profile: role.profile,
    roleArn: role.roleArn,
    outcome: writeProfile(
      file,
      role,
      credentialProcessLine({
        ...command,
        endpoint: options.endpoint,
        tokenFile,
        profile: role.profile,
        durationSeconds: options.durationSeconds,
      }),
      scope,
      options.region,
    ),
  }))
  const allowed = new Set(roles.map((role) => role.profile))
  // From the end, so that removing lines does not move the markers still to visit.
  for (const marked of markersOf(file).reverse()) {
    if (
      allowed.has(marked.profile) ||
      marked.endpoint !== scope.endpoint ||
      marked.tokenFile !== scope.tokenFile
    )
      continue
    dropProfile(file, marked)
    profiles.push({ profile: marked.profile, roleArn: undefined, outcome: 'removed' })
  }
  const text = renderAwsConfig(file)
  const changed = text !== existing.text
  if (roles.length === 0) {
    // The profiles this configure wrote for roles since unbound go even then (they would only
    // fail); nothing else is written, and the exit says why (an init container retries until a
    // binding admits the pod's token).
    const removed = profiles.length
    if (changed && !options.dryRun) writeFileAtomically(path, text, existing.mode ?? 0o600)
    throw new InputError(
      'NoRoles',
      removed === 0
        ? 'the broker allows this token no role, so there is no profile to write'
        : `the broker allows this token no role, so there is no profile to write; removed the ${removed} profile(s) it had written for roles no longer allowed`,
    )
  }
  if (options.dryRun) return { path, profiles, text, changed }
  // Before the config, so that no profile ever names an executable that is not there yet.
  if (options.installExecutable !== undefined) installExecutable(context.self.node, command.node)
  // A pod's containers may run as other users than the init container; the file names commands
  // and paths only, no secret. A file of one's own keeps 0600 (it may hold other settings).
  const mode = existing.mode ?? (options.installExecutable === undefined ? 0o600 : 0o644)
  if (changed) writeFileAtomically(path, text, mode)
  return { path, profiles, text, changed }
}
