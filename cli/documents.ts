// Admin documents from a JSON or YAML file (`--file`, `-` for stdin) and/or flags: the flags
// that set a field of an issuer or a binding, and the part of a document they make. The
// broker's schema has the last word on what is valid.
import { readFileSync } from 'node:fs'
import { choiceFlag, type FlagValues, parsedFlag, switchFlag, textFlag } from './command.js'
import { InputError, UsageError } from './errors.js'

export type Document = Record<string, unknown>

/** One issuer or binding: far above any real one. */
const MAX_DOCUMENT_BYTES = 1024 * 1024

export const isObject = (value: unknown): value is Document =>
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

export const readDocumentFile = async (
  path: string,
  readStdin: () => string,
  maxBytes = MAX_DOCUMENT_BYTES,
): Promise<Document> => {
  const source = path === '-' ? 'standard input' : path
  let text: string
  try {
    text = path === '-' ? readStdin() : readFileSync(path, 'utf8')
  } catch (error) {
    const code = (error as { code?: unknown }).code
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : 'cannot be read'
    throw new InputError('DocumentFile', `${source} ${why}`)
  }
  if (Buffer.byteLength(text) > maxBytes)
    throw new InputError('DocumentFile', `${source} is larger than ${maxBytes} bytes`)
  return parseDocumentText(text, source)
}

/** What a document field flag is given as: digits, checked for range by the broker's schema. */
const wholeNumber = (text: string, name: string): number => {
  if (!/^\d{1,9}$/.test(text)) throw new UsageError(`--${name} must be a whole number`)
  return Number(text)
}

/** `KEY=VALUE`, split at the first `=`. */
const pair = (text: string, name: string): [string, string] => {
  const at = text.indexOf('=')
  if (at <= 0) throw new UsageError(`--${name} takes KEY=VALUE, got "${text}"`)
  return [text.slice(0, at), text.slice(at + 1)]
}

const ENABLED_FLAGS = {
  enabled: switchFlag('enable it (the default for a new object)', { excludes: ['disabled'] }),
  disabled: switchFlag('disable it: it is kept, but counts for nothing'),
  description: textFlag('free text for people'),
}

const defined = (object: Document): Document =>
  Object.fromEntries(
    Object.entries(object).filter(
      ([, value]) => value !== undefined && !(Array.isArray(value) && value.length === 0),
    ),
  )

const enabledOf = (values: FlagValues<typeof ENABLED_FLAGS>): boolean | undefined =>
  values.enabled ? true : values.disabled ? false : undefined

export const ISSUER_FLAGS = {
  issuer: textFlag('the "iss" of the data plane\'s tokens', { value: 'URL' }),
  audience: textFlag('an accepted "aud"', { value: 'AUD', repeatable: true }),
  'jwks-file': textFlag('the data plane\'s public keys ({"keys": [...]}, JSON or YAML)', { value: 'FILE' }),
  'jwks-uri': textFlag('fetch the keys from this https URL instead', { value: 'URL' }),
  discovery: switchFlag("fetch the keys through the issuer's OIDC discovery document"),
  algorithm: textFlag('an allowed signing algorithm (by default RS256 and ES256)', {
    value: 'ALG',
    repeatable: true,
  }),
  'max-token-lifetime-seconds': parsedFlag('the longest token lifetime (exp - iat) accepted', wholeNumber, {
    value: 'N',
  }),
  'clock-skew-seconds': parsedFlag('leeway for exp, nbf and iat', wholeNumber, { value: 'N' }),
  mode: choiceFlag('broker (the broker signs the token STS sees) or passthrough', ['broker', 'passthrough']),
  'key-sync-subject': textFlag(
    'let the cluster push its own keys (irsa-broker sync-keys) with a token of this "sub"\n(aud irsa-broker-key-sync); inline keys only',
    { value: 'SUB' },
  ),
  ...ENABLED_FLAGS,
}

/** The fields of an issuer that its flags set; a flag not given sets nothing. */
export const issuerFromFlags = async (
  values: FlagValues<typeof ISSUER_FLAGS>,
  readStdin: () => string,
): Promise<Document> =>
  defined({
    issuer: values.issuer,
    audiences: values.audience,
    jwks:
      values['jwks-file'] === undefined ? undefined : await readDocumentFile(values['jwks-file'], readStdin),
    jwksUri: values['jwks-uri'],
    discovery: values.discovery ? true : undefined,
    algorithms: values.algorithm,
    maxTokenLifetimeSeconds: values['max-token-lifetime-seconds'],
    clockSkewSeconds: values['clock-skew-seconds'],
    mode: values.mode,
    keySync: values['key-sync-subject'] === undefined ? undefined : { subject: values['key-sync-subject'] },
    enabled: enabledOf(values),
    description: values.description,
  })

export const BINDING_FLAGS = {
  'role-arn': textFlag('the IAM role to assume', { value: 'ARN' }),
  profile: textFlag('the profile name workloads select it by (default: the binding id)', { value: 'NAME' }),
  subject: textFlag('a "sub" glob the workload must match', { value: 'PATTERN', repeatable: true }),
  claim: parsedFlag('a claim rule, e.g. /kubernetes.io/namespace=ml-*', pair, {
    value: 'POINTER=PATTERN',
    repeatable: true,
  }),
  condition: textFlag('a CEL condition over the claims', { value: 'CEL' }),
  'allow-any-workload': switchFlag('confirm that the binding matches every workload of the issuer'),
  'session-name': textFlag('e.g. {/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}', {
    value: 'TEMPLATE',
  }),
  'session-tag': parsedFlag('a session tag', pair, { value: 'KEY=TEMPLATE', repeatable: true }),
  'transitive-tag-key': textFlag('a session tag that stays through role chaining', {
    value: 'KEY',
    repeatable: true,
  }),
  'duration-seconds': parsedFlag('the longest session handed out (900-43200)', wholeNumber, { value: 'N' }),
  ...ENABLED_FLAGS,
}

/** The fields of a binding that its flags set: subjects in order, claim rules grouped by pointer. */
export const bindingFromFlags = (values: FlagValues<typeof BINDING_FLAGS>): Document => {
  const claims: Record<string, string[]> = {}
  for (const [pointer, pattern] of values.claim) claims[pointer] = [...(claims[pointer] ?? []), pattern]
  return defined({
    roleArn: values['role-arn'],
    profile: values.profile,
    subjects: values.subject,
    claims: Object.keys(claims).length > 0 ? claims : undefined,
    condition: values.condition,
    allowAnyWorkload: values['allow-any-workload'] ? true : undefined,
    sessionName: values['session-name'],
    sessionTags: values['session-tag'].length > 0 ? Object.fromEntries(values['session-tag']) : undefined,
    transitiveTagKeys: values['transitive-tag-key'],
    durationSeconds: values['duration-seconds'],
    enabled: enabledOf(values),
    description: values.description,
  })
}
