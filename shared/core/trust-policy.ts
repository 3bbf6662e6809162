// The IAM role trust policy that admits a binding's workloads through the broker (broker mode):
// the target account's OIDC provider for the broker's issuer URL as the federated principal,
// `aud` = sts.amazonaws.com, and `sub` any of `<issuerId>:<subject pattern>` of the binding.
import { BROKER_AUDIENCE } from './broker-token.js'
import type { BindingSpec } from './model.js'
import { ROLE_ARN_PATTERN } from './patterns.js'

export const TRUST_POLICY_ACTIONS = [
  'sts:AssumeRoleWithWebIdentity',
  'sts:TagSession',
  'sts:SetSourceIdentity',
] as const

export interface TrustPolicyInput {
  /** The broker's issuer URL, as in its tokens' `iss`: https, no port, query, fragment or credentials. */
  issuerUrl: string
  /** The role's account. Defaults to the account of `binding.roleArn`, and must equal it when given. */
  accountId?: string | undefined
  /** The binding (a stored `Binding` fits); only its ids, role and subjects shape the policy. */
  binding: Pick<BindingSpec, 'issuerId' | 'bindingId' | 'roleArn' | 'subjects'>
  /**
   * A binding without `subjects` (claim rules or a condition only) cannot be expressed by `sub`.
   * It is refused unless this is true, which trusts every workload of the binding's issuer
   * (`<issuerId>:*`) and leaves the narrowing to the broker's evaluation of the binding.
   */
  allowAnyWorkloadOfIssuer?: boolean | undefined
}

export interface TrustPolicyStatement {
  Effect: 'Allow'
  Principal: { Federated: string }
  Action: string[]
  Condition: {
    StringEquals: Record<string, string>
    StringLike: Record<string, string[]>
  }
}

export interface TrustPolicy {
  Version: '2012-10-17'
  Statement: [TrustPolicyStatement]
}

export type TrustPolicyErrorCode =
  | 'invalid_issuer_url'
  | 'invalid_role_arn'
  | 'invalid_account_id'
  | 'account_mismatch'
  | 'binding_without_subjects'

export class TrustPolicyError extends Error {
  override readonly name = 'TrustPolicyError'
  constructor(
    readonly code: TrustPolicyErrorCode,
    message: string,
  ) {
    super(message)
  }
}

const ACCOUNT_ID = /^\d{12}$/

/**
 * `host/path` of the issuer URL: the OIDC provider's name in IAM and the prefix of its
 * condition keys (`<host/path>:aud`, `<host/path>:sub`).
 */
export const oidcProviderHostPath = (issuerUrl: string): string => {
  let url: URL
  try {
    url = new URL(issuerUrl)
  } catch {
    throw new TrustPolicyError('invalid_issuer_url', `issuerUrl: not a URL: "${issuerUrl}"`)
  }
  if (url.protocol !== 'https:') {
    throw new TrustPolicyError('invalid_issuer_url', 'issuerUrl: IAM OIDC providers need an https URL')
  }
  if (url.port !== '' || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new TrustPolicyError(
      'invalid_issuer_url',
      'issuerUrl: must be https://host[/path] without port, credentials, query or fragment',
    )
  }
  return `${url.host}${url.pathname.replace(/\/+$/, '')}`
}

/**
 * A broker glob as an IAM StringLike pattern. Both read `*` as any run of characters; IAM also
 * reads `?` as one character and `${…}` as a policy variable, so those are escaped to match
 * literally, as the broker matches them.
 */
export const iamStringLikePattern = (glob: string): string => glob.replace(/[?$]/g, (char) => `\${${char}}`)

/** A string IAM's StringLike matches literally (`*`, `?` and `$` escaped). */
const iamLiteral = (text: string): string => text.replace(/[*?$]/g, (char) => `\${${char}}`)

/** The role's partition and account, from an ARN the broker's schema would accept. */
const roleAccount = (roleArn: string): { partition: string; accountId: string } => {
  if (!ROLE_ARN_PATTERN.test(roleArn)) {
    throw new TrustPolicyError('invalid_role_arn', `roleArn: not an IAM role ARN: "${roleArn}"`)
  }
  const [, partition = '', , , accountId = ''] = roleArn.split(':')
  return { partition, accountId }
}

export const buildTrustPolicy = ({
  issuerUrl,
  accountId,
  binding,
  allowAnyWorkloadOfIssuer = false,
}: TrustPolicyInput): TrustPolicy => {
  const hostPath = oidcProviderHostPath(issuerUrl)
  const role = roleAccount(binding.roleArn)
  if (accountId !== undefined && !ACCOUNT_ID.test(accountId)) {
    throw new TrustPolicyError('invalid_account_id', `accountId: must be 12 digits, got "${accountId}"`)
  }
  if (accountId !== undefined && accountId !== role.accountId) {
    throw new TrustPolicyError(
      'account_mismatch',
      `accountId ${accountId} is not the account of ${binding.roleArn}: a trust policy belongs to its role, in the role's account`,
    )
  }

  const subjects = binding.subjects ?? []
  if (subjects.length === 0 && !allowAnyWorkloadOfIssuer) {
    throw new TrustPolicyError(
      'binding_without_subjects',
      `binding ${binding.issuerId}/${binding.bindingId} matches by claims or a condition only, which a trust ` +
        `policy cannot express (it sees only "sub"): add "subjects" to the binding, or trust every workload ` +
        `of issuer ${binding.issuerId} ("${binding.issuerId}:*") and leave the narrowing to the broker`,
    )
  }
  const patterns = subjects.length === 0 ? ['*'] : subjects
  const sub = [
    ...new Set(patterns.map((pattern) => `${iamLiteral(binding.issuerId)}:${iamStringLikePattern(pattern)}`)),
  ]

  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: `arn:${role.partition}:iam::${role.accountId}:oidc-provider/${hostPath}` },
        Action: [...TRUST_POLICY_ACTIONS],
        Condition: {
          StringEquals: { [`${hostPath}:aud`]: BROKER_AUDIENCE },
          StringLike: { [`${hostPath}:sub`]: sub },
        },
      },
    ],
  }
}
