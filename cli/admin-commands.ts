// The admin side: issuers and bindings (put/get/list/delete), explain, and the trust policy
// of a binding. Against AWS the requests are SigV4-signed, locally they carry the admin token.
import { ID_PATTERN } from '../shared/core/patterns.js'
import { booleanFlag, choiceFlag, flag, integerFlag, type Parsed, positionals, requiredFlag } from './args.js'
import { ADMIN_HELP, ADMIN_OPTIONS, adminClient, endpointOf, timeoutOf } from './broker-options.js'
import type { Command } from './command.js'
import type { CliContext } from './context.js'
import {
  BINDING_FLAGS,
  bindingFromFlags,
  type Document,
  ISSUER_FLAGS,
  issuerFromFlags,
  readDocumentFile,
} from './documents.js'
import { InputError, UsageError } from './errors.js'
import { createBrokerClient } from './http.js'
import { type Column, json, OUTPUT_FORMATS, objectTable, table } from './output.js'
import { readTokenFile } from './token-file.js'

const idArgument = (value: string | undefined, what: string, command: string): string => {
  if (value === undefined) throw new UsageError(`the ${what} is required`, command)
  // The broker's own rule, checked here too so that an id never reshapes a URL path.
  if (!ID_PATTERN.test(value))
    throw new UsageError(`"${value}" is not a valid ${what} (1-64 letters, digits, ".", "_", "-")`, command)
  return value
}

/** `ISSUER/BINDING` or `ISSUER BINDING`. */
const bindingRef = (args: string[], command: string): { issuerId: string; bindingId: string } | undefined => {
  if (args.length === 0) return undefined
  const [first = '', second] = args
  const [issuerId, bindingId] = second === undefined ? first.split('/', 2) : [first, second]
  if (second === undefined && !first.includes('/'))
    throw new UsageError(`name the binding as <issuerId>/<bindingId>, got "${first}"`, command)
  return {
    issuerId: idArgument(issuerId, 'issuer id', command),
    bindingId: idArgument(bindingId, 'binding id', command),
  }
}

const issuerPath = (issuerId: string) => `/v1/admin/issuers/${encodeURIComponent(issuerId)}`
const bindingPath = (issuerId: string, bindingId: string) =>
  `${issuerPath(issuerId)}/bindings/${encodeURIComponent(bindingId)}`

const outputOf = (parsed: Parsed, command: string) =>
  choiceFlag(parsed, 'output', command, OUTPUT_FORMATS) ?? 'json'

const OUTPUT_OPTION = { output: { type: 'string', short: 'o' } } as const
const OUTPUT_HELP = '  --output json|table       how to print the answer (default json)'

const VERSION_HELP =
  '  --version N               update only if the stored object is at version N (else 409, exit 1);\n' +
  '                            without it (and without "version" in the file) put only creates'

const printObject = (context: CliContext, parsed: Parsed, command: string, object: unknown) => {
  const output = outputOf(parsed, command)
  context.stdout(
    output === 'json' || typeof object !== 'object' || object === null
      ? json(object)
      : objectTable(object as Record<string, unknown>),
  )
}

const documentFor = async (
  parsed: Parsed,
  context: CliContext,
  command: string,
  fromFlags: Document,
): Promise<Document> => {
  const file = flag(parsed, 'file')
  const base = file === undefined ? {} : await readDocumentFile(file, context.readStdin)
  const document: Document = { ...base, ...fromFlags }
  const version = integerFlag(parsed, 'version', command, { min: 1, max: 2 ** 53 - 1 })
  if (version !== undefined) document.version = version
  if (Object.keys(document).length === 0)
    throw new UsageError('nothing to put: give --file or the fields as flags', command)
  return document
}

const reportWrite = (context: CliContext, status: number, what: string, object: unknown) => {
  const version = (object as { version?: unknown } | undefined)?.version
  context.stderr(
    `irsa-broker: ${status === 201 ? 'created' : 'updated'} ${what} (version ${String(version)})\n`,
  )
}

const documentId = (document: Document, field: string): string | undefined => {
  const value = document[field]
  return typeof value === 'string' ? value : undefined
}

// ---------------------------------------------------------------- issuers

type Row = Record<string, unknown>

const issuerColumns: Column<Row>[] = [
  { header: 'ISSUER_ID', value: (row) => row.issuerId },
  { header: 'ISSUER', value: (row) => row.issuer },
  { header: 'MODE', value: (row) => row.mode },
  { header: 'ENABLED', value: (row) => row.enabled },
  { header: 'VERSION', value: (row) => row.version },
]

const bindingColumns: Column<Row>[] = [
  { header: 'BINDING_ID', value: (row) => row.bindingId },
  { header: 'PROFILE', value: (row) => row.profile },
  { header: 'ROLE_ARN', value: (row) => row.roleArn },
  { header: 'SUBJECTS', value: (row) => row.subjects },
  { header: 'ENABLED', value: (row) => row.enabled },
  { header: 'VERSION', value: (row) => row.version },
]

const listOf = (body: unknown, field: string): Row[] => {
  const list = (body as Row | undefined)?.[field]
  if (!Array.isArray(list)) throw new InputError('InvalidInput', `the broker's answer has no "${field}" list`)
  return list as Row[]
}

/**
 * A command that GETs one admin resource and prints it: an object (`get`), or a list whose
 * rows `--output table` shows in columns (`list`). What differs between them is only the
 * resource path, taken from the positional arguments.
 */
const readCommand = (spec: {
  name: string
  summary: string
  /** The positional arguments, as the usage line shows them. */
  arguments?: string
  path: (parsed: Parsed, command: string) => string
  list?: { field: string; columns: Column<Row>[] }
}): Command => ({
  name: spec.name,
  summary: spec.summary,
  options: { ...ADMIN_OPTIONS, ...OUTPUT_OPTION },
  help: `usage: irsa-broker ${spec.name}${spec.arguments ? ` ${spec.arguments}` : ''} [--output json|table]

Options:
${OUTPUT_HELP}
${ADMIN_HELP}`,
  async run(parsed, context) {
    const path = spec.path(parsed, spec.name)
    const output = outputOf(parsed, spec.name)
    const { client } = await adminClient(parsed, context, spec.name)
    const answer = await client.call({ method: 'GET', path, retry: true })
    if (!spec.list) return printObject(context, parsed, spec.name, answer.body)
    const rows = listOf(answer.body, spec.list.field)
    context.stdout(output === 'json' ? json(answer.body) : table(rows, spec.list.columns))
  },
})

export const issuersListCommand = readCommand({
  name: 'issuers list',
  summary: 'list the registered issuers (data planes)',
  path: (parsed, command) => {
    positionals(parsed, command, 0)
    return '/v1/admin/issuers'
  },
  list: { field: 'issuers', columns: issuerColumns },
})

export const issuersGetCommand = readCommand({
  name: 'issuers get',
  summary: 'show one issuer',
  arguments: 'ISSUER_ID',
  path: (parsed, command) => issuerPath(idArgument(positionals(parsed, command, 1)[0], 'issuer id', command)),
})

export const issuersPutCommand: Command = {
  name: 'issuers put',
  summary: 'register or update an issuer from a JSON/YAML file or flags',
  options: {
    ...ADMIN_OPTIONS,
    ...OUTPUT_OPTION,
    ...ISSUER_FLAGS,
    file: { type: 'string', short: 'f' },
    version: { type: 'string' },
  },
  help: `usage: irsa-broker issuers put [ISSUER_ID] [--file FILE] [field flags] [--version N]

Registers a data plane's issuer, or updates it. The document comes from --file (JSON or YAML,
"-" for stdin; what \`issuers get\` printed works as is) and/or the flags below, which win
over the file field by field. ISSUER_ID may be left out when the file names "issuerId".

  irsa-broker issuers put onprem-a --issuer https://kubernetes.default.svc.cluster.local \\
    --audience irsa-broker --jwks-file jwks.json     # kubectl get --raw /openid/v1/jwks > jwks.json

Options:
  --file, -f FILE           the issuer document
  --issuer URL              the "iss" of the data plane's tokens
  --audience AUD            an accepted "aud" (repeatable)
  --jwks-file FILE          the data plane's public keys ({"keys": [...]})
  --jwks-uri URL            fetch the keys from this https URL instead
  --discovery               fetch the keys through the issuer's OIDC discovery document
  --algorithm ALG           an allowed signing algorithm (repeatable; default RS256, ES256)
  --max-token-lifetime-seconds N, --clock-skew-seconds N
  --mode broker|passthrough
  --enabled, --disabled
  --description TEXT
${VERSION_HELP}
${OUTPUT_HELP}
${ADMIN_HELP}`,
  async run(parsed, context) {
    const [id] = positionals(parsed, this.name, 1)
    outputOf(parsed, this.name)
    const document = await documentFor(
      parsed,
      context,
      this.name,
      await issuerFromFlags(parsed, this.name, context.readStdin),
    )
    const issuerId = idArgument(id ?? documentId(document, 'issuerId'), 'issuer id', this.name)
    const { client } = await adminClient(parsed, context, this.name)
    const answer = await client.call({ method: 'PUT', path: issuerPath(issuerId), body: document })
    printObject(context, parsed, this.name, answer.body)
    reportWrite(context, answer.status, `issuer ${issuerId}`, answer.body)
  },
}

export const issuersDeleteCommand: Command = {
  name: 'issuers delete',
  summary: 'remove an issuer',
  options: { ...ADMIN_OPTIONS, version: { type: 'string' }, cascade: { type: 'boolean' } },
  help: `usage: irsa-broker issuers delete ISSUER_ID [--version N] [--cascade]

Options:
  --version N               delete only if the issuer is at version N
  --cascade                 delete its bindings too (without it, an issuer with bindings is a 409)
${ADMIN_HELP}`,
  async run(parsed, context) {
    const [id] = positionals(parsed, this.name, 1)
    const issuerId = idArgument(id, 'issuer id', this.name)
    const version = integerFlag(parsed, 'version', this.name, { min: 1, max: 2 ** 53 - 1 })
    const { client } = await adminClient(parsed, context, this.name)
    await client.call({
      method: 'DELETE',
      path: issuerPath(issuerId),
      query: { version: version?.toString(), cascade: booleanFlag(parsed, 'cascade') ? 'true' : undefined },
    })
    context.stderr(`irsa-broker: deleted issuer ${issuerId}\n`)
  },
}

export const issuersRefreshCommand: Command = {
  name: 'issuers refresh',
  summary: "refetch a remote issuer's keys now and show the kids held",
  options: { ...ADMIN_OPTIONS, ...OUTPUT_OPTION },
  help: `usage: irsa-broker issuers refresh ISSUER_ID [--output json|table]

For an issuer registered by jwksUri or discovery: fetches its key set now (after a rotation,
say) and prints the key ids the broker holds. For inline keys it prints them as they are.

Options:
${OUTPUT_HELP}
${ADMIN_HELP}`,
  async run(parsed, context) {
    const [id] = positionals(parsed, this.name, 1)
    const issuerId = idArgument(id, 'issuer id', this.name)
    outputOf(parsed, this.name)
    const { client } = await adminClient(parsed, context, this.name)
    const answer = await client.call({ method: 'POST', path: `${issuerPath(issuerId)}/refresh` })
    printObject(context, parsed, this.name, answer.body)
  },
}

// ---------------------------------------------------------------- bindings

export const bindingsListCommand = readCommand({
  name: 'bindings list',
  summary: "list an issuer's role bindings",
  arguments: 'ISSUER_ID',
  path: (parsed, command) =>
    `${issuerPath(idArgument(positionals(parsed, command, 1)[0], 'issuer id', command))}/bindings`,
  list: { field: 'bindings', columns: bindingColumns },
})

export const bindingsGetCommand = readCommand({
  name: 'bindings get',
  summary: 'show one binding',
  arguments: 'ISSUER_ID/BINDING_ID',
  path: (parsed, command) => {
    const ref = bindingRef(positionals(parsed, command, 2), command)
    if (!ref) throw new UsageError('the binding is required, as <issuerId>/<bindingId>', command)
    return bindingPath(ref.issuerId, ref.bindingId)
  },
})

export const bindingsPutCommand: Command = {
  name: 'bindings put',
  summary: 'create or update a role binding from a JSON/YAML file or flags',
  options: {
    ...ADMIN_OPTIONS,
    ...OUTPUT_OPTION,
    ...BINDING_FLAGS,
    file: { type: 'string', short: 'f' },
    version: { type: 'string' },
  },
  help: `usage: irsa-broker bindings put [ISSUER_ID/BINDING_ID] [--file FILE] [field flags] [--version N]

Binds workloads of an issuer to an IAM role. The document comes from --file (JSON or YAML,
"-" for stdin) and/or the flags below, which win over the file field by field. The binding
may be named by the file's "issuerId" and "bindingId" instead of the argument.

  irsa-broker bindings put onprem-a/ml-reader --role-arn arn:aws:iam::111122223333:role/ml-s3-reader \\
    --profile ml-reader --subject 'system:serviceaccount:ml:*'

Options:
  --file, -f FILE           the binding document
  --role-arn ARN            the IAM role to assume
  --profile NAME            the profile name workloads select it by (default: the binding id)
  --subject PATTERN         a "sub" glob the workload must match (repeatable)
  --claim POINTER=PATTERN   a claim rule, e.g. /kubernetes.io/namespace=ml-* (repeatable)
  --condition CEL           a CEL condition over the claims
  --allow-any-workload      confirm that the binding matches every workload of the issuer
  --session-name TEMPLATE   e.g. {/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}
  --session-tag KEY=TEMPLATE, --transitive-tag-key KEY   (repeatable)
  --duration-seconds N      the longest session handed out (900-43200)
  --enabled, --disabled
  --description TEXT
${VERSION_HELP}
${OUTPUT_HELP}
${ADMIN_HELP}`,
  async run(parsed, context) {
    const ref = bindingRef(positionals(parsed, this.name, 2), this.name)
    outputOf(parsed, this.name)
    const document = await documentFor(parsed, context, this.name, bindingFromFlags(parsed, this.name))
    const issuerId = idArgument(ref?.issuerId ?? documentId(document, 'issuerId'), 'issuer id', this.name)
    const bindingId = idArgument(ref?.bindingId ?? documentId(document, 'bindingId'), 'binding id', this.name)
    const { client } = await adminClient(parsed, context, this.name)
    const answer = await client.call({
      method: 'PUT',
      path: bindingPath(issuerId, bindingId),
      body: document,
    })
    printObject(context, parsed, this.name, answer.body)
    reportWrite(context, answer.status, `binding ${issuerId}/${bindingId}`, answer.body)
  },
}

export const bindingsDeleteCommand: Command = {
  name: 'bindings delete',
  summary: 'remove a role binding',
  options: { ...ADMIN_OPTIONS, version: { type: 'string' } },
  help: `usage: irsa-broker bindings delete ISSUER_ID/BINDING_ID [--version N]

Options:
  --version N               delete only if the binding is at version N
${ADMIN_HELP}`,
  async run(parsed, context) {
    const ref = bindingRef(positionals(parsed, this.name, 2), this.name)
    if (!ref) throw new UsageError('the binding is required, as <issuerId>/<bindingId>', this.name)
    const version = integerFlag(parsed, 'version', this.name, { min: 1, max: 2 ** 53 - 1 })
    const { client } = await adminClient(parsed, context, this.name)
    await client.call({
      method: 'DELETE',
      path: bindingPath(ref.issuerId, ref.bindingId),
      query: { version: version?.toString() },
    })
    context.stderr(`irsa-broker: deleted binding ${ref.issuerId}/${ref.bindingId}\n`)
  },
}

// ---------------------------------------------------------------- explain, trust-policy

export const explainCommand: Command = {
  name: 'explain',
  summary: 'show how the broker decides on a token (no credentials are issued)',
  options: { ...ADMIN_OPTIONS, ...OUTPUT_OPTION, 'token-file': { type: 'string' }, role: { type: 'string' } },
  help: `usage: irsa-broker explain --token-file PATH [--role NAME_OR_ARN] [--output json|table]

Sends the token to POST /v1/admin/explain and prints the decision trace: which issuer
verified it, which check failed, which bindings matched and which one would be used.

Options:
  --token-file PATH         the workload token to explain
  --role NAME_OR_ARN        the role the workload would ask for
${OUTPUT_HELP}
${ADMIN_HELP}`,
  async run(parsed, context) {
    positionals(parsed, this.name, 0)
    const tokenFile = requiredFlag(parsed, 'token-file', this.name)
    const role = flag(parsed, 'role')
    outputOf(parsed, this.name)
    const token = readTokenFile(tokenFile)
    context.addSecret(token)
    const { client } = await adminClient(parsed, context, this.name)
    const answer = await client.call({
      method: 'POST',
      path: '/v1/admin/explain',
      body: { token, ...(role === undefined ? {} : { role }) },
      retry: true,
    })
    printObject(context, parsed, this.name, answer.body)
  },
}

const discoveredIssuer = async (parsed: Parsed, context: CliContext, command: string): Promise<string> => {
  const endpoint = endpointOf(parsed, context, command)
  const client = createBrokerClient(context, {
    endpoint,
    timeoutSeconds: timeoutOf(parsed, command),
    authorize: async () => ({}),
  })
  const answer = await client.call({ method: 'GET', path: '/.well-known/openid-configuration', retry: true })
  const issuer = (answer.body as { issuer?: unknown }).issuer
  if (typeof issuer !== 'string')
    throw new InputError(
      'InvalidInput',
      `${endpoint.base}/.well-known/openid-configuration names no "issuer"`,
    )
  return issuer
}

export const trustPolicyCommand: Command = {
  name: 'trust-policy',
  summary: "print the IAM trust policy that admits a binding's workloads to its role",
  options: {
    ...ADMIN_OPTIONS,
    binding: { type: 'string' },
    'binding-file': { type: 'string' },
    'issuer-url': { type: 'string' },
    'allow-any-workload-of-issuer': { type: 'boolean' },
  },
  help: `usage: irsa-broker trust-policy --binding ISSUER_ID/BINDING_ID [--issuer-url URL] [--binding-file FILE]

Prints the trust policy (JSON) for the binding's role in its target account: the broker's IAM
OIDC provider as the federated principal, aud = sts.amazonaws.com, and sub = <issuerId>:<pattern>
for each of the binding's subject patterns (shared/core/trust-policy.ts builds it, the same
statement as infra/target-account.yaml). Paste it into the role, e.g.

  aws iam update-assume-role-policy --role-name ml-s3-reader --policy-document "$(irsa-broker trust-policy ...)"

The binding is read from the broker (admin API) unless --binding-file gives it; the broker's
issuer URL from its discovery document unless --issuer-url gives it.

Options:
  --binding ISSUER_ID/BINDING_ID   the binding
  --binding-file FILE              read the binding from this JSON/YAML file instead (offline)
  --issuer-url URL                 the broker's issuer URL (its tokens' "iss")
  --allow-any-workload-of-issuer   for a binding without subjects (claim rules only), which "sub"
                                   cannot express: trust every workload of the issuer and leave
                                   the claim rules to the broker
${ADMIN_HELP}`,
  async run(parsed, context) {
    positionals(parsed, this.name, 0)
    const ref = bindingRef([requiredFlag(parsed, 'binding', this.name)], this.name)
    if (!ref) throw new UsageError('--binding is required', this.name)
    const file = flag(parsed, 'binding-file')
    let binding: Document
    if (file !== undefined) {
      binding = await readDocumentFile(file, context.readStdin)
    } else {
      const { client } = await adminClient(parsed, context, this.name)
      binding = (
        await client.call({ method: 'GET', path: bindingPath(ref.issuerId, ref.bindingId), retry: true })
      ).body as Document
    }
    const issuerUrl = flag(parsed, 'issuer-url') ?? (await discoveredIssuer(parsed, context, this.name))
    // The core builder loads only for this command.
    const { trustPolicyForBinding } = await import('./trust-policy.js')
    const policy = trustPolicyForBinding({
      issuerUrl,
      issuerId: ref.issuerId,
      bindingId: ref.bindingId,
      binding,
      allowAnyWorkloadOfIssuer: booleanFlag(parsed, 'allow-any-workload-of-issuer'),
    })
    context.stdout(json(policy))
  },
}
