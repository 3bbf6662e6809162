// The IAM deny policy that ends, in AWS, the sessions a revocation covers (docs/decisions.md,
// "Source identity, session names and revocation policies"; docs/security.md, incident runbook): STS
// sessions already issued cannot be recalled by the broker, but an inline policy on each bound
// role can deny everything to the sessions whose source identity is in scope and that were
// issued before the revocation. Pure: the CLI reads the bindings and puts the policies.
import { matchAnyGlob, matchGlob } from './glob.js'
import type { IssuerMode } from './model.js'
import { revocationIdOf } from './revocations.js'
import { workloadName, workloadNamePatterns } from './workload-identity.js'

/** What a revocation covers: an issuer's workloads, narrowed by binding and/or subject (a glob). */
export interface RevocationScope {
  issuerId: string
  bindingId?: string | undefined
  subject?: string | undefined
}

/** What of a binding decides its role's policy. A stored `Binding` fits. */
export interface RevocableBinding {
  bindingId: string
  roleArn: string
  subjects?: readonly string[] | undefined
  /** A binding with its own source identity template names sessions the scope cannot predict. */
  sourceIdentity?: string | undefined
}

export interface RevocationPolicyInput {
  scope: RevocationScope
  /** Sessions issued before this time are denied (rounded up to the whole second). */
  issuedBefore: Date
  issuerMode: IssuerMode
  /** Every binding of the scope's issuer. */
  bindings: readonly RevocableBinding[]
}

export interface DenyStatement {
  Sid: 'IrsaBrokerRevocation'
  Effect: 'Deny'
  Action: '*'
  Resource: '*'
  Condition: {
    DateLessThan: { 'aws:TokenIssueTime': string }
    StringEquals?: { 'aws:SourceIdentity': string[] }
    StringLike?: { 'aws:SourceIdentity': string[] }
    Null?: { 'aws:SourceIdentity': 'false' }
  }
}

export interface DenyPolicy {
  Version: '2012-10-17'
  Statement: [DenyStatement]
}

export interface RoleDenyPolicy {
  roleArn: string
  /** The role's name without its path: what PutRolePolicy takes. */
  roleName: string
  policyName: string
  /** The bindings in scope that hand out this role. */
  bindingIds: string[]
  /**
   * How the sessions are named: `scope` — by their source identity; `any-source-identity` —
   * every session with one (a binding's own template); `all` — every session of the role
   * (passthrough: the broker adds no source identity).
   */
  covers: 'scope' | 'any-source-identity' | 'all'
  policy: DenyPolicy
}

export type RevocationPolicyErrorCode = 'unknown_binding' | 'no_bound_role'

export class RevocationPolicyError extends Error {
  override readonly name = 'RevocationPolicyError'
  constructor(
    readonly code: RevocationPolicyErrorCode,
    message: string,
  ) {
    super(message)
  }
}

const literalPrefix = (glob: string): string =>
  glob.slice(0, glob.includes('*') ? glob.indexOf('*') : undefined)
const literalSuffix = (glob: string): string => glob.slice(glob.lastIndexOf('*') + 1)

/**
 * False only when no string matches both globs. A cheap test that may answer true for two
 * disjoint globs (a role then gets a statement naming no session of it), never false for two
 * that overlap (a role in scope would be missed).
 */
export const globsMayOverlap = (a: string, b: string): boolean => {
  if (!a.includes('*')) return matchGlob(b, a)
  if (!b.includes('*')) return matchGlob(a, b)
  const [pa, pb] = [literalPrefix(a), literalPrefix(b)]
  const [sa, sb] = [literalSuffix(a), literalSuffix(b)]
  return (pa.startsWith(pb) || pb.startsWith(pa)) && (sa.endsWith(sb) || sb.endsWith(sa))
}

const inScope = (binding: RevocableBinding, scope: RevocationScope): boolean => {
  if (scope.bindingId !== undefined && binding.bindingId !== scope.bindingId) return false
  if (scope.subject === undefined || binding.subjects === undefined) return true
  const subject = scope.subject
  return subject.includes('*')
    ? binding.subjects.some((pattern) => globsMayOverlap(pattern, subject))
    : matchAnyGlob(binding.subjects, subject)
}

/** The inline policy's name: one per scope, so applying the same scope again replaces it. */
export const revocationPolicyName = (scope: RevocationScope): string =>
  `irsa-broker-revoke-${revocationIdOf(scope.issuerId, scope)}`

/** `aws:TokenIssueTime` has whole seconds: round up so a session of the same second is denied too. */
const wholeSecondAfter = (time: Date): string =>
  new Date(Math.ceil(time.getTime() / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z')

const roleNameOf = (roleArn: string): string => roleArn.slice(roleArn.lastIndexOf('/') + 1)

const sourceIdentityCondition = (
  scope: RevocationScope,
  covers: RoleDenyPolicy['covers'],
): Omit<DenyStatement['Condition'], 'DateLessThan'> => {
  if (covers === 'all') return {}
  if (covers === 'any-source-identity') return { Null: { 'aws:SourceIdentity': 'false' } }
  if (scope.subject !== undefined && !scope.subject.includes('*'))
    return { StringEquals: { 'aws:SourceIdentity': [workloadName(scope.issuerId, scope.subject)] } }
  return { StringLike: { 'aws:SourceIdentity': workloadNamePatterns(scope.issuerId, scope.subject) } }
}

/** One deny policy per role that a binding in scope hands out, in the order of the bindings. */
export const buildRevocationPolicies = (input: RevocationPolicyInput): RoleDenyPolicy[] => {
  const { scope } = input
  if (scope.bindingId !== undefined && !input.bindings.some((b) => b.bindingId === scope.bindingId))
    throw new RevocationPolicyError(
      'unknown_binding',
      `issuer "${scope.issuerId}" has no binding "${scope.bindingId}"`,
    )
  const byRole = new Map<string, RevocableBinding[]>()
  for (const binding of input.bindings.filter((b) => inScope(b, scope)))
    byRole.set(binding.roleArn, [...(byRole.get(binding.roleArn) ?? []), binding])
  if (byRole.size === 0)
    throw new RevocationPolicyError(
      'no_bound_role',
      `no binding of issuer "${scope.issuerId}" can hand out a role to ${scope.subject ?? 'that scope'}`,
    )
  const policyName = revocationPolicyName(scope)
  const issuedBefore = wholeSecondAfter(input.issuedBefore)
  return [...byRole].map(([roleArn, bindings]) => {
    const covers: RoleDenyPolicy['covers'] =
      input.issuerMode === 'passthrough'
        ? 'all'
        : bindings.some((b) => b.sourceIdentity !== undefined)
          ? 'any-source-identity'
          : 'scope'
    return {
      roleArn,
      roleName: roleNameOf(roleArn),
      policyName,
      bindingIds: bindings.map((b) => b.bindingId),
      covers,
      policy: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'IrsaBrokerRevocation',
            Effect: 'Deny',
            Action: '*',
            Resource: '*',
            Condition: {
              DateLessThan: { 'aws:TokenIssueTime': issuedBefore },
              ...sourceIdentityCondition(scope, covers),
            },
          },
        ],
      },
    }
  })
}
