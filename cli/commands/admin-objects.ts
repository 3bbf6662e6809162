// `issuers` and `bindings`: list, get, put and delete, made for both from one description of
// each kind of object (its path, its id arguments, its field flags, its table columns), and
// `issuers refresh`. Against AWS the requests are SigV4-signed, locally they carry the admin token.
import { fillPath, PATHS } from '../../shared/http/paths.js'
import { ADMIN_FLAGS, adminClient, OUTPUT_FLAG } from '../broker-options.js'
import {
  type Command,
  defineCommand,
  type FlagSet,
  type FlagValues,
  integerFlag,
  switchFlag,
  textFlag,
} from '../command.js'
import type { CliContext } from '../context.js'
import {
  BINDING_FLAGS,
  bindingFromFlags,
  type Document,
  ISSUER_FLAGS,
  issuerFromFlags,
  readDocumentFile,
} from '../documents.js'
import { BrokerRefusedError, BrokerUnavailableError, InputError, UsageError } from '../errors.js'
import { type BrokerClient, listAll } from '../http.js'
import { type BindingRef, bindingRef, checkId } from '../ids.js'
import { type Column, columns, json, type OutputFormat, objectTable, table } from '../output.js'

type Row = Record<string, unknown>

/** What differs between issuers and bindings; everything else is the same code. */
interface ObjectKind<Ref, Parent, F extends FlagSet> {
  kind: 'issuer' | 'binding'
  group: 'issuers' | 'bindings'
  /** How one object is named on the command line. */
  refUsage: string
  parseRef(args: string[]): Ref | undefined
  /** The object a document names by its id fields, where it names one. */
  refOfDocument(document: Document): Ref | undefined
  label(ref: Ref): string
  path(ref: Ref): string
  list: { usage?: string; max: number; parse(args: string[]): Parent; path(parent: Parent): string }
  columns: Column<Row>[]
  fieldFlags: F
  fromFlags(values: FlagValues<F>, context: CliContext): Promise<Document>
  example: string
}

const stringField = (document: Document, field: string): string | undefined => {
  const value = document[field]
  return typeof value === 'string' ? value : undefined
}

const issuerRef = (args: readonly string[]) =>
  args[0] === undefined ? undefined : checkId(args[0], 'issuer id')

const ISSUER: ObjectKind<string, undefined, typeof ISSUER_FLAGS> = {
  kind: 'issuer',
  group: 'issuers',
  refUsage: 'ISSUER_ID',
  parseRef: issuerRef,
  refOfDocument: (document) => issuerRef([stringField(document, 'issuerId') ?? ''].filter(Boolean)),
  label: (issuerId) => `issuer ${issuerId}`,
  path: (issuerId) => fillPath(PATHS.issuer, { issuerId }),
  list: { max: 0, parse: () => undefined, path: () => PATHS.issuers },
  columns: columns({
    ISSUER_ID: 'issuerId',
    ISSUER: 'issuer',
    MODE: 'mode',
    ENABLED: 'enabled',
    VERSION: 'version',
  }),
  fieldFlags: ISSUER_FLAGS,
  fromFlags: (values, context) => issuerFromFlags(values, context.readStdin),
  example: `  irsa-broker issuers put onprem-a --issuer https://kubernetes.default.svc.cluster.local \\
    --audience irsa-broker --jwks-file jwks.json     # kubectl get --raw /openid/v1/jwks > jwks.json`,
}

const BINDING: ObjectKind<BindingRef, string, typeof BINDING_FLAGS> = {
  kind: 'binding',
  group: 'bindings',
  refUsage: 'ISSUER_ID/BINDING_ID',
  parseRef: bindingRef,
  refOfDocument: (document) => {
    const issuerId = stringField(document, 'issuerId')
    const bindingId = stringField(document, 'bindingId')
    return issuerId && bindingId ? bindingRef([issuerId, bindingId]) : undefined
  },
  label: (ref) => `binding ${ref.issuerId}/${ref.bindingId}`,
  path: (ref) => fillPath(PATHS.binding, ref),
  list: {
    usage: 'ISSUER_ID',
    max: 1,
    parse: (args) => checkId(args[0], 'issuer id'),
    path: (issuerId) => fillPath(PATHS.bindings, { issuerId }),
  },
  columns: columns({
    BINDING_ID: 'bindingId',
    PROFILE: 'profile',
    ROLE_ARN: 'roleArn',
    SUBJECTS: 'subjects',
    ENABLED: 'enabled',
    VERSION: 'version',
  }),
  fieldFlags: BINDING_FLAGS,
  fromFlags: async (values) => bindingFromFlags(values),
  example: `  irsa-broker bindings put onprem-a/ml-reader --role-arn arn:aws:iam::111122223333:role/ml-s3-reader \\
    --profile ml-reader --subject 'system:serviceaccount:ml:*'`,
}

/** The conditional-write version; `--version` was its name, which `irsa-broker --version` also is. */
const ifVersionFlag = (what: string) => ({
  'if-version': integerFlag(`${what} only if the stored object is at version N (else 409, exit 1)`, {
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
  }),
})
const RETIRED_VERSION = {
  version:
    'is now --if-version N (the version the stored object must be at); irsa-broker --version prints the version of this client',
}

const printObject = (context: CliContext, output: OutputFormat, object: unknown) =>
  context.stdout(
    output === 'table' && typeof object === 'object' && object !== null
      ? objectTable(object as Row)
      : json(object),
  )

const requiredRef = <Ref>(kind: ObjectKind<Ref, unknown, FlagSet>, args: string[]): Ref => {
  const ref = kind.parseRef(args)
  if (ref === undefined) throw new UsageError(`the ${kind.kind} is required, as ${kind.refUsage}`)
  return ref
}

/** Lists come in pages (the API's `limit`); the CLI asks for every page and prints them as one. */
export const PAGE_SIZE_FLAG = {
  'page-size': integerFlag(
    'objects per request to the broker (its default 100); every page is still listed',
    { min: 1, max: 1000 },
  ),
}

const listCommand = <Parent>(kind: ObjectKind<unknown, Parent, FlagSet>): Command =>
  defineCommand({
    name: `${kind.group} list`,
    summary:
      kind.kind === 'issuer' ? 'list the registered issuers (data planes)' : "list an issuer's role bindings",
    section: 'admin',
    arguments: { usage: kind.list.usage, max: kind.list.max, parse: kind.list.parse },
    flags: { ...PAGE_SIZE_FLAG, ...OUTPUT_FLAG, ...ADMIN_FLAGS },
    async run({ flags, args }, context) {
      const client = await adminClient(flags, context)
      const rows = (await listAll(client, kind.list.path(args), kind.group, {
        pageSize: flags['page-size'],
      })) as Row[]
      context.stdout(flags.output === 'table' ? table(rows, kind.columns) : json({ [kind.group]: rows }))
      return undefined
    },
  })

const getCommand = <Ref>(kind: ObjectKind<Ref, unknown, FlagSet>): Command =>
  defineCommand({
    name: `${kind.group} get`,
    summary: `show one ${kind.kind}`,
    section: 'admin',
    arguments: {
      usage: kind.refUsage,
      max: kind.kind === 'binding' ? 2 : 1,
      parse: (args) => requiredRef(kind, args),
    },
    flags: { ...OUTPUT_FLAG, ...ADMIN_FLAGS },
    async run({ flags, args }, context) {
      const client = await adminClient(flags, context)
      const answer = await client.call({ method: 'GET', path: kind.path(args), retry: true })
      printObject(context, flags.output, answer.body)
      return undefined
    },
  })

/** The stored object, or undefined when the broker says 404. */
const storedObject = async (client: BrokerClient, path: string): Promise<Document | undefined> => {
  try {
    return (await client.call({ method: 'GET', path, retry: true })).body as Document
  } catch (error) {
    if (error instanceof BrokerRefusedError && error.status === 404) return undefined
    throw error
  }
}

/**
 * The document a put sends. A file is a whole object (what `get` printed works as is), the
 * flags win over it field by field, and it replaces the stored object, as the API's PUT does.
 * Without a file the flags are merged onto the stored object, so that a field no flag names is
 * kept; `--replace` makes the flags the whole object instead.
 */
const putDocument = async (
  client: BrokerClient,
  options: {
    label: string
    path: string
    file: Document | undefined
    fromFlags: Document
    ifVersion: number | undefined
    replace: boolean
  },
): Promise<Document> => {
  const { label, file, fromFlags, ifVersion } = options
  if (file !== undefined || options.replace) {
    const document = { ...file, ...fromFlags }
    if (ifVersion !== undefined) document.version = ifVersion
    return document
  }
  const stored = await storedObject(client, options.path)
  if (stored === undefined) {
    if (ifVersion !== undefined)
      throw new InputError('NotFound', `${label} does not exist; leave out --if-version to create it`)
    return fromFlags
  }
  if (ifVersion === undefined)
    throw new InputError(
      'Conflict',
      `${label} exists (version ${String(stored.version)}); give --if-version ${String(stored.version)} to set the fields you name and keep the others, or with --replace to replace it whole`,
    )
  if (stored.version !== ifVersion)
    throw new InputError(
      'Conflict',
      `${label} is at version ${String(stored.version)}, not ${ifVersion}; nothing was changed`,
    )
  return { ...stored, ...fromFlags, version: ifVersion }
}

/** The flags of `put` besides the object's fields. */
const putFlags = (kind: string) => ({
  file: textFlag(`the ${kind} document (JSON or YAML; - for standard input)`, { short: 'f', value: 'FILE' }),
  ...ifVersionFlag('update'),
  replace: switchFlag('without --file: the flags are the whole object, fields they do not name are dropped', {
    excludes: ['file'],
  }),
  ...OUTPUT_FLAG,
  ...ADMIN_FLAGS,
})

const putCommand = <Ref, F extends FlagSet>(kind: ObjectKind<Ref, unknown, F>): Command => {
  const { file, ...rest } = putFlags(kind.kind)
  return defineCommand({
    name: `${kind.group} put`,
    summary:
      kind.kind === 'issuer'
        ? 'register or update an issuer from a JSON/YAML file or flags'
        : 'create or update a role binding from a JSON/YAML file or flags',
    section: 'admin',
    description: `${kind.kind === 'issuer' ? "Registers a data plane's issuer, or updates it." : 'Binds workloads of an issuer to an IAM role, or updates the binding.'}
The ${kind.kind} is named by ${kind.refUsage}, or by the file's id fields.

Without --if-version, put only creates (an existing ${kind.kind} is a conflict, exit 1).
To update: with --file, the file is the whole ${kind.kind} (what \`${kind.group} get\` printed works
as is; its "version" is the precondition) and flags win over its fields; without --file, the
flags are merged onto the stored ${kind.kind} (fields no flag names are kept), or with --replace
make the whole ${kind.kind}.

${kind.example}`,
    arguments: { usage: `[${kind.refUsage}]`, max: kind.kind === 'binding' ? 2 : 1, parse: kind.parseRef },
    flags: { file, ...kind.fieldFlags, ...rest },
    retired: RETIRED_VERSION,
    async run({ flags: values, args }, context) {
      const flags = values as unknown as FlagValues<ReturnType<typeof putFlags>>
      const fromFlags = await kind.fromFlags(values as unknown as FlagValues<F>, context)
      const document =
        flags.file === undefined ? undefined : await readDocumentFile(flags.file, context.readStdin)
      if (document === undefined && Object.keys(fromFlags).length === 0)
        throw new UsageError('nothing to put: give --file or the fields as flags')
      const ref = args ?? (document && kind.refOfDocument(document))
      if (ref === undefined)
        throw new UsageError(`the ${kind.kind} is required, as ${kind.refUsage} or in the file`)
      const path = kind.path(ref)
      const client = await adminClient(flags, context)
      const fileVersion = document?.version
      const body = await putDocument(client, {
        label: kind.label(ref),
        path,
        file: document,
        fromFlags,
        ifVersion: flags['if-version'] ?? (typeof fileVersion === 'number' ? fileVersion : undefined),
        replace: flags.replace,
      })
      const answer = await client.call({ method: 'PUT', path, body })
      printObject(context, flags.output, answer.body)
      const version = (answer.body as { version?: unknown } | undefined)?.version
      context.stderr(
        `irsa-broker: ${answer.status === 201 ? 'created' : 'updated'} ${kind.label(ref)} (version ${String(version)})\n`,
      )
      return undefined
    },
  })
}

/** How many DELETEs `issuers delete --cascade` makes while the broker answers 202 (each ≤ 5 s). */
const CASCADE_ROUNDS = 50

const deleteCommand = <Ref>(kind: ObjectKind<Ref, unknown, FlagSet>): Command =>
  defineCommand({
    name: `${kind.group} delete`,
    summary: kind.kind === 'issuer' ? 'remove an issuer' : 'remove a role binding',
    section: 'admin',
    arguments: {
      usage: kind.refUsage,
      max: kind.kind === 'binding' ? 2 : 1,
      parse: (args) => requiredRef(kind, args),
    },
    flags: {
      ...ifVersionFlag('delete'),
      ...(kind.kind === 'issuer'
        ? { cascade: switchFlag('delete its bindings too (without it, an issuer with bindings is a 409)') }
        : {}),
      ...ADMIN_FLAGS,
    },
    retired: RETIRED_VERSION,
    async run({ flags, args }, context) {
      const client = await adminClient(flags, context)
      const cascade = (flags as { cascade?: boolean }).cascade ? 'true' : undefined
      let answer = await client.call({
        method: 'DELETE',
        path: kind.path(args),
        query: { version: flags['if-version']?.toString(), cascade },
      })
      // 202: the issuer is deleted and its bindings' items are still being cleared; the same
      // DELETE goes on where the last one stopped (each round is bounded by the broker).
      for (let round = 1; answer.status === 202 && round < CASCADE_ROUNDS; round++) {
        context.stderr(`irsa-broker: ${kind.label(args)} deleted; clearing its bindings…\n`)
        answer = await client.call({ method: 'DELETE', path: kind.path(args), query: { cascade } })
      }
      if (answer.status === 202)
        throw new BrokerUnavailableError(
          'Unavailable',
          `${kind.label(args)} is deleted, but its bindings are not all cleared yet (they grant nothing); run the same delete --cascade again`,
          202,
        )
      context.stderr(`irsa-broker: deleted ${kind.label(args)}\n`)
      return undefined
    },
  })

const issuersRefreshCommand = defineCommand({
  name: 'issuers refresh',
  summary: "refetch a remote issuer's keys now and show the kids held",
  section: 'admin',
  description: `For an issuer registered by jwksUri or discovery: fetches its key set now (after a rotation,
say) and prints the key ids the broker holds. For inline keys it prints them as they are.`,
  arguments: { usage: 'ISSUER_ID', max: 1, parse: (args) => checkId(args[0], 'issuer id') },
  flags: { ...OUTPUT_FLAG, ...ADMIN_FLAGS },
  async run({ flags, args }, context) {
    const client = await adminClient(flags, context)
    const answer = await client.call({
      method: 'POST',
      path: fillPath(PATHS.issuerRefresh, { issuerId: args }),
    })
    printObject(context, flags.output, answer.body)
    return undefined
  },
})

export const ISSUER_COMMANDS: readonly Command[] = [
  listCommand(ISSUER),
  getCommand(ISSUER),
  putCommand(ISSUER),
  deleteCommand(ISSUER),
  issuersRefreshCommand,
]

export const BINDING_COMMANDS: readonly Command[] = [
  listCommand(BINDING),
  getCommand(BINDING),
  putCommand(BINDING),
  deleteCommand(BINDING),
]

export { BINDING, ISSUER }
