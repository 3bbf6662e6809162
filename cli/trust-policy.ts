// `trust-policy`: the binding as the broker (or a file) has it, handed to the core's
// buildTrustPolicy (shared/core/trust-policy.ts, the same statement infra/target-account.yaml
// writes); its refusals become input errors (exit 1) that name the flag to change.
import { buildTrustPolicy, type TrustPolicy, TrustPolicyError } from '../shared/core/trust-policy.js'
import { InputError } from './errors.js'

export interface BindingTrustInput {
  issuerUrl: string
  /** Where issuerUrl came from: --issuer-url, or the broker's discovery document. */
  issuerUrlFrom: 'flag' | 'discovery'
  issuerId: string
  bindingId: string
  /** The binding document, untrusted: from the admin API or a file. */
  binding: Record<string, unknown>
  allowAnyWorkloadOfIssuer: boolean
}

/** The core's refusal in the words of the command line. */
const inCliWords = (error: TrustPolicyError, input: BindingTrustInput): string => {
  const detail = error.message.replace(/^issuerUrl: /, '')
  switch (error.code) {
    case 'invalid_issuer_url':
      return input.issuerUrlFrom === 'flag'
        ? `--issuer-url: ${detail}`
        : `the broker's issuer URL ${input.issuerUrl} (from its discovery document) cannot be an IAM OIDC provider (${detail}); a local broker's never can: give the deployed broker's with --issuer-url https://...`
    case 'binding_without_subjects':
      return `${error.message} with --allow-any-workload-of-issuer`
    default:
      return error.message
  }
}

export const trustPolicyForBinding = (input: BindingTrustInput): TrustPolicy => {
  const { roleArn, subjects } = input.binding
  if (typeof roleArn !== 'string') throw new InputError('InvalidInput', 'the binding has no "roleArn"')
  if (subjects !== undefined && !(Array.isArray(subjects) && subjects.every((s) => typeof s === 'string')))
    throw new InputError('InvalidInput', 'the binding\'s "subjects" is not a list of strings')
  try {
    return buildTrustPolicy({
      issuerUrl: input.issuerUrl,
      binding: {
        issuerId: input.issuerId,
        bindingId: input.bindingId,
        roleArn,
        subjects: subjects as string[] | undefined,
      },
      allowAnyWorkloadOfIssuer: input.allowAnyWorkloadOfIssuer,
    })
  } catch (error) {
    if (error instanceof TrustPolicyError) throw new InputError('InvalidInput', inCliWords(error, input))
    throw error
  }
}
