// Revocations of issued tokens (docs/api.md, "Revocation document"): a scope of an issuer's
// workloads — narrowed by binding and/or subject (exact, or a `*` glob) — whose tokens issued
// before `notBefore` are refused with reason `revoked`. They are kept on the issuer
// (docs/decisions.md, "Revocations"), so the request path reads them with the issuer it already
// reads, within the registry TTL.
import { matchGlob } from './glob.js'
import { nameDigest } from './workload-identity.js'

export interface RevocationSpec {
  bindingId?: string | undefined
  subject?: string | undefined
  /** ISO 8601: tokens whose `iat` is before it are refused. */
  notBefore: string
}

export interface Revocation extends RevocationSpec {
  /** One per scope (a hash of it): revoking the same scope again moves its `notBefore`. */
  revocationId: string
  createdAt: string
  createdBy: string
}

/** More than this many revocations on one issuer: lift old ones (they stay on the issuer item). */
export const MAX_REVOCATIONS_PER_ISSUER = 100

/** The id of a scope, which is also the tail of its IAM deny policy's name (revocation-policy.ts). */
export const revocationIdOf = (
  issuerId: string,
  scope: Pick<RevocationSpec, 'bindingId' | 'subject'>,
): string =>
  // `r` first: the id is a path segment, and ID_PATTERN starts with a letter or digit.
  `r${nameDigest(['irsa-broker/revocation', issuerId, scope.bindingId ?? null, scope.subject ?? null], 16)}`

const inScope = (revocation: RevocationSpec, bindingId: string, sub: string): boolean =>
  (revocation.bindingId === undefined || revocation.bindingId === bindingId) &&
  (revocation.subject === undefined || matchGlob(revocation.subject, sub))

/**
 * The revocation that refuses a token of `sub` issued at `iat` (seconds) under `bindingId`, if
 * any: one of the whole issuer, or of that binding, whose subject (if any) matches. A token
 * without `iat` cannot show it is newer: a revocation in scope refuses it.
 */
export const revocationOf = (
  revocations: readonly Revocation[] | undefined,
  token: { sub: string; iat?: unknown },
  bindingId: string,
): Revocation | undefined =>
  revocations?.find(
    (revocation) =>
      inScope(revocation, bindingId, token.sub) &&
      !(typeof token.iat === 'number' && token.iat * 1000 >= Date.parse(revocation.notBefore)),
  )

/** The issuer's revocations with `revocation` in place of the one of its scope (or added), by id. */
export const withRevocation = (
  revocations: readonly Revocation[] | undefined,
  revocation: Revocation,
): Revocation[] =>
  [...(revocations ?? []).filter((r) => r.revocationId !== revocation.revocationId), revocation].sort(
    (a, b) => a.revocationId.localeCompare(b.revocationId),
  )
