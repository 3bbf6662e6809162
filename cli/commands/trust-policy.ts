// `trust-policy`: the IAM trust policy that admits a binding's workloads to its role.
import { fillPath, PATHS } from '../../shared/http/paths.js'
import { adminClient, OPTIONAL_ADMIN_FLAGS, publicClient } from '../broker-options.js'
import { defineCommand, parsedFlag, switchFlag, textFlag } from '../command.js'
import { type Document, readDocumentFile } from '../documents.js'
import { InputError, UsageError } from '../errors.js'
import { requiredBindingRef } from '../ids.js'
import { json } from '../output.js'

export const trustPolicyCommand = defineCommand({
  name: 'trust-policy',
  summary: "print the IAM trust policy that admits a binding's workloads to its role",
  section: 'admin',
  description: `Prints the trust policy (JSON) for the binding's role in its target account: the broker's IAM
OIDC provider as the federated principal, aud = sts.amazonaws.com, and sub = <issuerId>:<pattern>
for each of the binding's subject patterns (shared/core/trust-policy.ts builds it, the same
statement as infra/target-account.yaml). Paste it into the role, e.g.

  aws iam update-assume-role-policy --role-name ml-s3-reader --policy-document "$(irsa-broker trust-policy ...)"

The binding is read from the broker (admin API) unless --binding-file gives it; the broker's
issuer URL from its discovery document unless --issuer-url gives it. IAM needs an https issuer
URL: for a local broker (http://127.0.0.1), give the deployed broker's with --issuer-url.`,
  flags: {
    binding: parsedFlag('the binding', (text) => requiredBindingRef([text]), {
      value: 'ISSUER_ID/BINDING_ID',
      required: true,
    }),
    'binding-file': textFlag('read the binding from this JSON/YAML file instead (offline)', {
      value: 'FILE',
    }),
    'issuer-url': textFlag('the broker\'s issuer URL (its tokens\' "iss"), https', { value: 'URL' }),
    'allow-any-workload-of-issuer': switchFlag(
      'for a binding without subjects (claim rules only), which "sub" cannot express: trust every\nworkload of the issuer and leave the claim rules to the broker',
    ),
    ...OPTIONAL_ADMIN_FLAGS,
  },
  async run({ flags }, context) {
    const ref = flags.binding
    if (
      flags.endpoint === undefined &&
      (flags['binding-file'] === undefined || flags['issuer-url'] === undefined)
    )
      throw new UsageError(
        `--endpoint is required (or set IRSA_BROKER_ENDPOINT) to read ${
          flags['binding-file'] === undefined ? 'the binding' : 'the issuer URL'
        } from the broker; offline, give --binding-file and --issuer-url`,
      )
    const binding: Document =
      flags['binding-file'] !== undefined
        ? await readDocumentFile(flags['binding-file'], context.readStdin)
        : ((
            await (
              await adminClient(flags, context)
            ).call({
              method: 'GET',
              path: fillPath(PATHS.binding, ref),
              retry: true,
            })
          ).body as Document)
    let issuerUrl = flags['issuer-url']
    if (issuerUrl === undefined && flags.endpoint !== undefined) {
      const answer = await publicClient({ ...flags, endpoint: flags.endpoint }, context).call({
        method: 'GET',
        path: PATHS.openIdConfiguration,
        retry: true,
      })
      const issuer = (answer.body as { issuer?: unknown }).issuer
      if (typeof issuer !== 'string')
        throw new InputError(
          'InvalidInput',
          `${flags.endpoint.base}${PATHS.openIdConfiguration} names no "issuer"`,
        )
      issuerUrl = issuer
    }
    // The core builder loads only for this command.
    const { trustPolicyForBinding } = await import('../trust-policy.js')
    const policy = trustPolicyForBinding({
      issuerUrl: issuerUrl ?? '',
      issuerUrlFrom: flags['issuer-url'] === undefined ? 'discovery' : 'flag',
      issuerId: ref.issuerId,
      bindingId: ref.bindingId,
      binding,
      allowAnyWorkloadOfIssuer: flags['allow-any-workload-of-issuer'],
    })
    context.stdout(json(policy))
    return undefined
  },
})
