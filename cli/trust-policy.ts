// `trust-policy`: the binding as the broker (or a file) has it, handed to the core's
// buildTrustPolicy (shared/core/trust-policy.ts, the same statement infra/target-account.yaml
// writes); its refusals become input errors (exit 1).
import { buildTrustPolicy, type TrustPolicy, TrustPolicyError } from '../shared/core/trust-policy.js'
import { InputError } from './errors.js'

export interface BindingTrustInput {
  issuerUrl: string
  issuerId: string
  bindingId: string
  /** The binding document, untrusted: from the admin API or a file. */
  binding: Record<string, unknown>
  allowAnyWorkloadOfIssuer: boolean
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
    if (error instanceof TrustPolicyError) throw new InputError('InvalidInput', error.message)
    throw error
  }
}
