// `revoke`: the IAM deny policy that ends, in AWS, the sessions already issued to a scope of
// workloads (docs/security.md, incident runbook); printed, or put on each bound role with --apply.
import { fillPath, PATHS } from '../../shared/http/paths.js'
import { adminClient, OPTIONAL_ADMIN_FLAGS } from '../broker-options.js'
import { choiceFlag, defineCommand, integerFlag, parsedFlag, switchFlag, textFlag } from '../command.js'
import { readDocumentFile } from '../documents.js'
import { EXIT, UsageError } from '../errors.js'
import { type BrokerClient, listAll } from '../http.js'
import { checkId } from '../ids.js'
import { json } from '../output.js'

const parseTime = (text: string, name: string): Date => {
  const time = /^\d{4}-\d{2}-\d{2}T/.test(text) ? new Date(text) : new Date(Number.NaN)
  if (Number.isNaN(time.getTime()))
    throw new UsageError(`--${name} must be an ISO 8601 time like 2026-12-04T18:40:00Z`)
  return time
}

export const revokeCommand = defineCommand({
  name: 'revoke',
  summary: 'print (or --apply) the IAM deny policy that ends sessions already issued to a scope',
  section: 'admin',
  description: `The broker cannot recall AWS sessions STS already issued. This prints, for each role a binding
in scope hands out, an inline IAM policy that denies every action to the sessions whose source
identity is in scope (aws:SourceIdentity) and that were issued before the cut-off
(aws:TokenIssueTime); with --apply it puts that policy on each role with your AWS credentials
(iam:PutRolePolicy; infra/target-account.yaml has an optional role for it). The scope is an
issuer, narrowed by --binding and/or --subject (exact, or a glob with *). The policy's name
follows from the scope: applying again replaces it. docs/security.md has the incident runbook.

With the broker (not --bindings-file), the revocation is also recorded there first (POST
…/revocations, the same scope and time): from then on the broker refuses the scope's tokens
issued before it, within its registry cache TTL (\`revocations list\`, \`revocations lift\`).
--policy-only records nothing.

The bindings are read from the broker (admin API) unless --bindings-file gives them (the output
of \`irsa-broker bindings list ISSUER_ID\`).`,
  arguments: {
    usage: 'ISSUER_ID',
    max: 1,
    parse: ([issuerId]) => checkId(issuerId, 'issuer id'),
  },
  flags: {
    binding: parsedFlag('only the sessions of this binding', (text) => checkId(text, 'binding id'), {
      value: 'BINDING_ID',
    }),
    subject: textFlag('only the sessions of this workload "sub" (a glob with * for several)', {
      value: 'SUB',
    }),
    'not-before': parsedFlag(
      'the revocation time: sessions from tokens before it end (default now)',
      parseTime,
      {
        value: 'TIME',
      },
    ),
    'margin-seconds': integerFlag(
      'the cut-off is this long after --not-before, so sessions issued while the revocation\nreaches every broker function (the registry cache TTL) are denied too',
      { min: 0, max: 3600 },
      { default: 60 },
    ),
    'policy-only': switchFlag('only print (or --apply) the IAM policy; record no revocation in the broker'),
    apply: switchFlag(
      'put each policy on its role with your AWS credentials (default chain, or --aws-profile)',
    ),
    'bindings-file': textFlag("read the issuer's bindings from this JSON/YAML file instead (offline)", {
      value: 'FILE',
    }),
    'issuer-mode': choiceFlag("with --bindings-file: the issuer's mode", ['broker', 'passthrough'], {
      default: 'broker',
    }),
    ...OPTIONAL_ADMIN_FLAGS,
  },
  async run({ flags, args: issuerId, given }, context) {
    if (flags.endpoint === undefined && flags['bindings-file'] === undefined)
      throw new UsageError(
        '--endpoint is required (or set IRSA_BROKER_ENDPOINT) to read the bindings from the broker; offline, give --bindings-file',
      )
    if (given.has('issuer-mode') && flags['bindings-file'] === undefined)
      throw new UsageError("--issuer-mode goes with --bindings-file; the broker knows the issuer's mode")
    let list: unknown
    let mode = flags['issuer-mode']
    let client: BrokerClient | undefined
    if (flags['bindings-file'] !== undefined) {
      list = (await readDocumentFile(flags['bindings-file'], context.readStdin)).bindings
    } else {
      client = await adminClient(
        { ...flags, endpoint: flags.endpoint as NonNullable<typeof flags.endpoint> },
        context,
      )
      const issuer = (
        await client.call({ method: 'GET', path: fillPath(PATHS.issuer, { issuerId }), retry: true })
      ).body as { mode?: unknown }
      mode = issuer.mode === 'passthrough' ? 'passthrough' : 'broker'
      list = await listAll(client, fillPath(PATHS.bindings, { issuerId }), 'bindings')
    }
    // The core builder and the AWS SDK load only for this command.
    const { applyPolicies, coverageNote, revocableBindings, revocationPolicies } = await import(
      '../revoke.js'
    )
    const notBefore = flags['not-before'] ?? context.now()
    const issuedBefore = new Date(notBefore.getTime() + flags['margin-seconds'] * 1000)
    const policies = revocationPolicies({
      scope: { issuerId, bindingId: flags.binding, subject: flags.subject },
      issuedBefore,
      issuerMode: mode,
      bindings: revocableBindings(list, flags['bindings-file'] ?? "the broker's answer"),
    })
    for (const policy of policies) {
      const note = coverageNote(policy)
      if (note !== undefined) context.stderr(`${note}\n`)
    }
    // Recorded before the policies go on the roles: the broker stops handing out credentials to
    // the scope first, and a refusal (an unknown binding, an issuer full of revocations) stops here.
    const revocation =
      client === undefined || flags['policy-only']
        ? undefined
        : (
            await client.call({
              method: 'POST',
              path: fillPath(PATHS.revocations, { issuerId }),
              body: {
                ...(flags.binding === undefined ? {} : { bindingId: flags.binding }),
                ...(flags.subject === undefined ? {} : { subject: flags.subject }),
                notBefore: notBefore.toISOString(),
              },
            })
          ).body
    const applied = flags.apply ? await applyPolicies(policies, context, flags['aws-profile']) : undefined
    context.stdout(
      json({
        scope: { issuerId, bindingId: flags.binding, subject: flags.subject },
        notBefore: notBefore.toISOString(),
        ...(revocation === undefined ? {} : { revocation }),
        policies: policies.map((policy) => ({
          ...policy,
          ...(applied
            ? { applied: applied.find((a) => a.roleArn === policy.roleArn)?.applied ?? false }
            : {}),
        })),
      }),
    )
    const missed = (applied ?? []).filter((a) => !a.applied)
    for (const miss of missed) context.stderr(`not applied: ${miss.roleArn}: ${miss.reason}\n`)
    return missed.length > 0 ? EXIT.denied : undefined
  },
})
