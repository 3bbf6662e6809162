// Credentials for an allowed evaluation: the web identity token STS gets (a broker token, or the
// workload's own in passthrough mode), through the credential cache when there is one, from STS.
import { mintBrokerToken } from './broker-token.js'
import {
  type CredentialCache,
  credentialCacheKey,
  type ObtainedCredentials,
  sha256Hex,
} from './credential-cache.js'
import type { Deadline } from './deadline.js'
import type { Allowed } from './exchange-evaluate.js'
import type { Clock, RoleAssumer, Signer } from './ports.js'

export interface CredentialsDeps {
  signer: Signer
  sts: RoleAssumer
  clock: Clock
  brokerIssuerUrl: string
  brokerTokenTtlSeconds: number
  /**
   * Shares vended credentials between requests that would make the same STS call. Reached only
   * for an allowed evaluation, so whatever the registry says now (a disabled issuer or binding)
   * decides before any cached credential is.
   */
  credentialCache?: CredentialCache | undefined
}

/** The credential-cache key of an allowed request: kept with its session (session-memo.ts). */
const cacheKeyOf = (deps: CredentialsDeps, allowed: Allowed, token: string): string => {
  const { issuer, claims, selected, session, durationSeconds } = allowed
  let key = session.cacheKey(issuer, durationSeconds)
  if (key === undefined) {
    key = credentialCacheKey({
      mode: issuer.mode,
      brokerIssuerUrl: deps.brokerIssuerUrl,
      issuerId: issuer.issuerId,
      subject: claims.sub,
      roleArn: selected.roleArn,
      sessionName: session.sessionName,
      ...(issuer.mode === 'broker' ? { sourceIdentity: session.sourceIdentity } : {}),
      durationSeconds,
      sessionTags: session.sessionTags,
      // Passthrough hands STS the workload's own token: only that same token may share.
      webIdentityTokenSha256: issuer.mode === 'passthrough' ? sha256Hex(token) : undefined,
    })
    session.keepCacheKey(issuer, durationSeconds, key)
  }
  return key
}

export const createCredentialSource = (deps: CredentialsDeps) => {
  /** One STS call for the allowed request, within its deadline. */
  const assume = async (allowed: Allowed, token: string, deadline: Deadline) => {
    const { issuer, claims, selected, session, durationSeconds } = allowed
    const webIdentityToken =
      issuer.mode === 'passthrough'
        ? token
        : await mintBrokerToken(deps.signer, {
            issuerUrl: deps.brokerIssuerUrl,
            issuerId: issuer.issuerId,
            subject: claims.sub,
            tags: session.sessionTags,
            sourceIdentity: session.sourceIdentity,
            ttlSeconds: deps.brokerTokenTtlSeconds,
            now: deps.clock.now(),
          })
    return deps.sts.assumeRoleWithWebIdentity(
      { roleArn: selected.roleArn, sessionName: session.sessionName, webIdentityToken, durationSeconds },
      { deadline },
    )
  }

  /** The credentials of an allowed request: `token` is the workload token it presented. */
  return async (allowed: Allowed, token: string, deadline: Deadline): Promise<ObtainedCredentials> => {
    const cache = deps.credentialCache
    if (!cache) return { credentials: await assume(allowed, token, deadline), source: 'sts' }
    return cache.obtain(cacheKeyOf(deps, allowed, token), () => assume(allowed, token, deadline))
  }
}
