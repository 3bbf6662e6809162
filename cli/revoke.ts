// `revoke`: the bindings of the scope's issuer (from the broker or a file) handed to the core's
// buildRevocationPolicies (shared/core/revocation-policy.ts), and with --apply each policy put
// on its role with the caller's own AWS credentials — only on roles of the account those
// credentials belong to, since PutRolePolicy names a role by name in the caller's account.
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import {
  buildRevocationPolicies,
  type RevocableBinding,
  RevocationPolicyError,
  type RoleDenyPolicy,
} from '../shared/core/revocation-policy.js'
import type { CliContext } from './context.js'
import { isObject } from './documents.js'
import { BrokerUnavailableError, InputError } from './errors.js'
import { defaultCredentials } from './sigv4.js'

/** The bindings of an issuer as the admin API lists them (or a file of `bindings list -o json`). */
export const revocableBindings = (list: unknown, source: string): RevocableBinding[] => {
  if (!Array.isArray(list)) throw new InputError('InvalidInput', `${source} holds no "bindings" list`)
  return list.map((item, index) => {
    const where = `${source}: bindings[${index}]`
    if (!isObject(item)) throw new InputError('InvalidInput', `${where} is not an object`)
    const { bindingId, roleArn, subjects, sourceIdentity } = item
    if (typeof bindingId !== 'string' || typeof roleArn !== 'string')
      throw new InputError('InvalidInput', `${where} lacks "bindingId" or "roleArn"`)
    if (subjects !== undefined && !(Array.isArray(subjects) && subjects.every((s) => typeof s === 'string')))
      throw new InputError('InvalidInput', `${where}: "subjects" is not a list of strings`)
    if (sourceIdentity !== undefined && typeof sourceIdentity !== 'string')
      throw new InputError('InvalidInput', `${where}: "sourceIdentity" is not a string`)
    return { bindingId, roleArn, subjects: subjects as string[] | undefined, sourceIdentity }
  })
}

export const revocationPolicies = (
  input: Parameters<typeof buildRevocationPolicies>[0],
): RoleDenyPolicy[] => {
  try {
    return buildRevocationPolicies(input)
  } catch (error) {
    if (error instanceof RevocationPolicyError) throw new InputError('InvalidInput', error.message)
    throw error
  }
}

/** What stderr says about a role whose sessions the policy cannot tell apart by scope. */
export const coverageNote = (policy: RoleDenyPolicy): string | undefined =>
  policy.covers === 'any-source-identity'
    ? `note: ${policy.roleArn}: binding ${policy.bindingIds.join(', ')} sets its own sourceIdentity template, so the policy denies every older session with a source identity on this role, in scope or not`
    : policy.covers === 'all'
      ? `note: ${policy.roleArn}: the issuer is in passthrough mode (no broker source identity), so the policy denies every older session of this role`
      : undefined

export interface AppliedPolicy {
  roleArn: string
  policyName: string
  applied: boolean
  /** Why not, when not. */
  reason?: string
}

const accountOf = (roleArn: string): string | undefined => /^arn:[^:]+:iam::(\d{12}):/.exec(roleArn)?.[1]

/** IAM is global; its signing region follows the partition of the roles. */
const iamRegion = (roleArn: string): string =>
  roleArn.startsWith('arn:aws-cn:')
    ? 'cn-north-1'
    : roleArn.startsWith('arn:aws-us-gov:')
      ? 'us-gov-west-1'
      : 'us-east-1'

const awsMessage = (error: unknown): string => {
  const { name, message } = error as { name?: string; message?: string }
  return `${name ?? 'Error'}: ${String(message ?? error).split('\n')[0]}`
}

/** The SDK's own words for a network failure: the broker's exit code 3, not a refusal. */
const isNetworkFailure = (error: unknown): boolean => {
  const code = (error as { code?: unknown; name?: unknown }).code ?? (error as { name?: unknown }).name
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'TimeoutError'].includes(
    String(code),
  )
}

/**
 * Puts each policy on its role with the caller's AWS credentials (the SDK's default chain, or the
 * profile). A role of another account is left alone and reported: the same name in the caller's
 * account would be another role.
 */
export const applyPolicies = async (
  policies: readonly RoleDenyPolicy[],
  context: CliContext,
  profile: string | undefined,
): Promise<AppliedPolicy[]> => {
  const credentials = (context.awsCredentials ?? defaultCredentials)(profile)
  const first = policies[0]?.roleArn ?? ''
  const region = iamRegion(first)
  const env = context.env
  const sts = new STSClient({
    region: env.AWS_REGION ?? region,
    credentials,
    maxAttempts: 2,
    ...((env.AWS_ENDPOINT_URL_STS ?? env.AWS_ENDPOINT_URL)
      ? { endpoint: env.AWS_ENDPOINT_URL_STS ?? env.AWS_ENDPOINT_URL }
      : {}),
  })
  // client-iam loads only for --apply: printing a policy needs no SDK.
  const { IAMClient, PutRolePolicyCommand } = await import('@aws-sdk/client-iam')
  const iam = new IAMClient({
    region,
    credentials,
    maxAttempts: 2,
    ...((env.AWS_ENDPOINT_URL_IAM ?? env.AWS_ENDPOINT_URL)
      ? { endpoint: env.AWS_ENDPOINT_URL_IAM ?? env.AWS_ENDPOINT_URL }
      : {}),
  })
  try {
    let account: string | undefined
    try {
      account = (await sts.send(new GetCallerIdentityCommand({}))).Account
    } catch (error) {
      if (isNetworkFailure(error))
        throw new BrokerUnavailableError('Network', `cannot reach STS: ${awsMessage(error)}`)
      throw new InputError(
        'InvalidInput',
        `cannot tell whose AWS credentials these are: ${awsMessage(error)}`,
      )
    }
    const results: AppliedPolicy[] = []
    for (const policy of policies) {
      const roleAccount = accountOf(policy.roleArn)
      if (roleAccount !== account) {
        results.push({
          roleArn: policy.roleArn,
          policyName: policy.policyName,
          applied: false,
          reason: `the role is in account ${roleAccount}, your AWS credentials are of ${account}: apply it there`,
        })
        continue
      }
      try {
        await iam.send(
          new PutRolePolicyCommand({
            RoleName: policy.roleName,
            PolicyName: policy.policyName,
            PolicyDocument: JSON.stringify(policy.policy),
          }),
        )
        results.push({ roleArn: policy.roleArn, policyName: policy.policyName, applied: true })
      } catch (error) {
        if (isNetworkFailure(error))
          throw new BrokerUnavailableError('Network', `cannot reach IAM: ${awsMessage(error)}`)
        results.push({
          roleArn: policy.roleArn,
          policyName: policy.policyName,
          applied: false,
          reason: awsMessage(error),
        })
      }
    }
    return results
  } finally {
    sts.destroy()
    iam.destroy()
  }
}
