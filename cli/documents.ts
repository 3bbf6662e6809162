// Admin documents from a JSON or YAML file (`--file`, `-` for stdin) and/or flags. Flags win
// over the file field by field; the broker's schema has the last word on what is valid.
import { readFileSync } from 'node:fs'
import { flag, flags, type Parsed } from './args.js'
import { InputError, UsageError } from './errors.js'

export type Document = Record<string, unknown>

const MAX_DOCUMENT_BYTES = 1024 * 1024

const isObject = (value: unknown): value is Document =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

export const parseDocumentText = async (text: string, source: string): Promise<Document> => {
  // yaml (a JSON superset) loads only here, so credential-process starts without it. It is a
  // CommonJS package: Node gives its exports as named ones too, esbuild's split bundle only as `default`.
  const yaml: typeof import('yaml') & { default?: typeof import('yaml') } = await import('yaml')
  const { parseAllDocuments } = yaml.default ?? yaml
  const documents = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: false })
  if (documents.length === 0)
    throw new InputError('DocumentFile', `${source} holds no document (an empty file?)`)
  if (documents.length > 1)
    throw new InputError('DocumentFile', `${source} holds ${documents.length} documents; put one at a time`)
  const document = documents[0]
  const problem = document?.errors[0]
  if (problem) {
    const offset = problem.pos[0]
    const line = Number.isInteger(offset) ? text.slice(0, offset).split('\n').length : undefined
    const message = (problem.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')
    throw new InputError(
      'DocumentFile',
      `cannot parse ${source}${line === undefined ? '' : `, line ${line}`}: ${message}`,
    )
  }
  const value = document?.toJS({ maxAliasCount: 100 }) as unknown
  if (!isObject(value))
    throw new InputError('DocumentFile', `${source} must hold one object (a mapping of field: value)`)
  return value
}

export const readDocumentFile = async (path: string, readStdin: () => string): Promise<Document> => {
  const source = path === '-' ? 'standard input' : path
  let text: string
  try {
    text = path === '-' ? readStdin() : readFileSync(path, 'utf8')
  } catch (error) {
    const code = (error as { code?: unknown }).code
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : 'cannot be read'
    throw new InputError('DocumentFile', `${source} ${why}`)
  }
  if (Buffer.byteLength(text) > MAX_DOCUMENT_BYTES)
    throw new InputError('DocumentFile', `${source} is larger than ${MAX_DOCUMENT_BYTES} bytes`)
  return parseDocumentText(text, source)
}

const integer = (name: string, value: string | undefined, command: string): number | undefined => {
  if (value === undefined) return undefined
  if (!/^\d{1,9}$/.test(value)) throw new UsageError(`--${name} must be a whole number`, command)
  return Number(value)
}

/** `--name KEY=VALUE`, repeatable, into an object; the first `=` splits. */
const pairs = (parsed: Parsed, name: string, command: string): [string, string][] =>
  flags(parsed, name).map((pair) => {
    const at = pair.indexOf('=')
    if (at <= 0) throw new UsageError(`--${name} takes KEY=VALUE, got "${pair}"`, command)
    return [pair.slice(0, at), pair.slice(at + 1)]
  })

const enabledFlag = (parsed: Parsed, command: string): boolean | undefined => {
  const enabled = parsed.values.enabled === true
  const disabled = parsed.values.disabled === true
  if (enabled && disabled) throw new UsageError('--enabled and --disabled exclude each other', command)
  return enabled ? true : disabled ? false : undefined
}

const defined = (object: Document): Document =>
  Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined))

export const ISSUER_FLAGS = {
  issuer: { type: 'string' },
  audience: { type: 'string', multiple: true },
  'jwks-file': { type: 'string' },
  'jwks-uri': { type: 'string' },
  discovery: { type: 'boolean' },
  algorithm: { type: 'string', multiple: true },
  'max-token-lifetime-seconds': { type: 'string' },
  'clock-skew-seconds': { type: 'string' },
  mode: { type: 'string' },
  enabled: { type: 'boolean' },
  disabled: { type: 'boolean' },
  description: { type: 'string' },
} as const

export const issuerFromFlags = async (
  parsed: Parsed,
  command: string,
  readStdin: () => string,
): Promise<Document> => {
  const jwksFile = flag(parsed, 'jwks-file')
  const audiences = flags(parsed, 'audience')
  const algorithms = flags(parsed, 'algorithm')
  return defined({
    issuer: flag(parsed, 'issuer'),
    audiences: audiences.length > 0 ? audiences : undefined,
    jwks: jwksFile === undefined ? undefined : await readDocumentFile(jwksFile, readStdin),
    jwksUri: flag(parsed, 'jwks-uri'),
    discovery: parsed.values.discovery === true ? true : undefined,
    algorithms: algorithms.length > 0 ? algorithms : undefined,
    maxTokenLifetimeSeconds: integer(
      'max-token-lifetime-seconds',
      flag(parsed, 'max-token-lifetime-seconds'),
      command,
    ),
    clockSkewSeconds: integer('clock-skew-seconds', flag(parsed, 'clock-skew-seconds'), command),
    mode: flag(parsed, 'mode'),
    enabled: enabledFlag(parsed, command),
    description: flag(parsed, 'description'),
  })
}

export const BINDING_FLAGS = {
  'role-arn': { type: 'string' },
  profile: { type: 'string' },
  subject: { type: 'string', multiple: true },
  claim: { type: 'string', multiple: true },
  condition: { type: 'string' },
  'allow-any-workload': { type: 'boolean' },
  'session-name': { type: 'string' },
  'session-tag': { type: 'string', multiple: true },
  'transitive-tag-key': { type: 'string', multiple: true },
  'duration-seconds': { type: 'string' },
  enabled: { type: 'boolean' },
  disabled: { type: 'boolean' },
  description: { type: 'string' },
} as const

export const bindingFromFlags = (parsed: Parsed, command: string): Document => {
  const subjects = flags(parsed, 'subject')
  const claims: Record<string, string[]> = {}
  for (const [pointer, pattern] of pairs(parsed, 'claim', command)) {
    const patterns = claims[pointer] ?? []
    patterns.push(pattern)
    claims[pointer] = patterns
  }
  const tags = pairs(parsed, 'session-tag', command)
  const transitive = flags(parsed, 'transitive-tag-key')
  return defined({
    roleArn: flag(parsed, 'role-arn'),
    profile: flag(parsed, 'profile'),
    subjects: subjects.length > 0 ? subjects : undefined,
    claims: Object.keys(claims).length > 0 ? claims : undefined,
    condition: flag(parsed, 'condition'),
    allowAnyWorkload: parsed.values['allow-any-workload'] === true ? true : undefined,
    sessionName: flag(parsed, 'session-name'),
    sessionTags: tags.length > 0 ? Object.fromEntries(tags) : undefined,
    transitiveTagKeys: transitive.length > 0 ? transitive : undefined,
    durationSeconds: integer('duration-seconds', flag(parsed, 'duration-seconds'), command),
    enabled: enabledFlag(parsed, command),
    description: flag(parsed, 'description'),
  })
}
