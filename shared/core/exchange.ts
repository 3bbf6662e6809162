// The credential exchange: a workload token in, a decision (and, when allowed, STS
// credentials) out. Every decision is audited; `explain` returns the same trace without
// calling STS.
import { type BindingEvaluation, evaluateBindings, matchingBindings, selectBinding } from './bindings.js'
import { mintBrokerToken } from './broker-token.js'
import {
  type CredentialCache,
  type CredentialSource,
  credentialCacheKey,
  sha256Hex,
} from './credential-cache.js'
import { type Deadline, withDeadline } from './deadline.js'
import { type BrokerError, type DeadlineExceededError, InternalError, isBrokerError } from './errors.js'
import type { AwsCredentials, Binding, Issuer, WorkloadClaims } from './model.js'
import type { AuditSink, Clock, CredentialIssuer, RegistryReader, Signer } from './ports.js'
import { type SessionTags, sessionNameFor, sessionTagsFor } from './session.js'
import type {
  PresentedToken,
  VerificationAttempt,
  VerificationResult,
  WorkloadTokenVerifier,
} from './verify.js'

export interface ExchangeDeps {
  registry: RegistryReader
  /**
   * Reads and verifies workload tokens (verify.ts); the wiring may put the verified-token cache
   * in front of it (verified-token-cache.ts).
   */
  verifier: WorkloadTokenVerifier
  signer: Signer
  sts: CredentialIssuer
  clock: Clock
  audit: AuditSink
  brokerIssuerUrl: string
  brokerTokenTtlSeconds: number
  /**
   * Shares vended credentials between requests that would make the same STS call. Looked up
   * only after the token was verified and the bindings evaluated, so whatever the registry
   * says now (a disabled issuer or binding) decides before any cached credential is reached.
   */
  credentialCache?: CredentialCache
  /**
   * Budget of one credentials or roles request (shared/core/deadline.ts): by then it is answered,
   * a 503 if a dependency is still pending. Undefined: no deadline.
   */
  requestDeadlineMs?: number
}

export interface ExchangeRequest {
  token: unknown
  role?: string | undefined
  durationSeconds?: number | undefined
  requestId: string
}

export interface RoleChoice {
  profile: string
  roleArn: string
  bindingId: string
  durationSeconds: number
}

export interface IssuedCredentials {
  credentials: AwsCredentials
  roleArn: string
  sessionName: string
}

export interface Decision {
  decision: 'allow' | 'deny'
  code?: string
  reason?: string
  iss?: string
  issuerId?: string
  sub?: string
  /** Every registered issuer whose `issuer` equals the token's `iss`, enabled or not, in the order tried. */
  issuersSharingIss?: string[]
  /** What each of them did with the token, up to the one that decided. */
  candidates: VerificationAttempt[]
  bindings: {
    bindingId: string
    profile: string
    roleArn: string
    matched: boolean
    failedRule?: string
    detail?: string
  }[]
  selected?: {
    bindingId: string
    profile: string
    roleArn: string
    sessionName: string
    sessionTags: SessionTags
    durationSeconds: number
    mode: Issuer['mode']
  }
}

interface Evaluation {
  trace: Decision
  error?: BrokerError
  issuer?: Issuer
  claims?: WorkloadClaims
  matches: Binding[]
  selected?: Binding
}

const MAX_LOGGED_ISS = 256

const asBrokerError = (error: unknown): BrokerError =>
  isBrokerError(error) ? error : new InternalError('unexpected_error', { cause: error })

/** Claims from an allow-list only: enough to know which workload it was, nothing more. */
const workloadFields = (claims: WorkloadClaims | undefined): Record<string, string | undefined> => {
  const k8s = claims?.['kubernetes.io']
  const record = typeof k8s === 'object' && k8s !== null ? (k8s as Record<string, unknown>) : {}
  const sa =
    typeof record.serviceaccount === 'object' && record.serviceaccount !== null ? record.serviceaccount : {}
  const name = (sa as Record<string, unknown>).name
  return {
    sub: claims?.sub,
    namespace: typeof record.namespace === 'string' ? record.namespace : undefined,
    serviceAccount: typeof name === 'string' ? name : undefined,
  }
}

/** A binding's session for one workload's claims, and the credential-cache keys made from it. */
interface RenderedSession {
  sessionName: string
  sessionTags: SessionTags
  /** The credential-cache keys, by requested duration, for the issuer object they were made with. */
  cacheKeys: Map<number, string>
  keysIssuer?: Issuer
}

export const createExchange = (deps: ExchangeDeps) => {
  /**
   * Session name, tags and credential-cache key are pure functions of the claims and the binding
   * (and the duration). A remembered token hands out the same claims object on every request
   * (verified-token-cache.ts) and the registry cache the same binding objects until they change,
   * so for a token presented again they are computed once. Fresh claims objects miss, and are
   * forgotten with them (WeakMap).
   */
  const rendered = new WeakMap<WorkloadClaims, WeakMap<Binding, RenderedSession>>()
  const sessionOf = (binding: Binding, claims: WorkloadClaims): RenderedSession => {
    let byBinding = rendered.get(claims)
    if (!byBinding) {
      byBinding = new WeakMap()
      rendered.set(claims, byBinding)
    }
    let session = byBinding.get(binding)
    if (!session) {
      session = {
        sessionName: sessionNameFor(binding, claims),
        sessionTags: sessionTagsFor(binding, claims),
        cacheKeys: new Map(),
      }
      byBinding.set(binding, session)
    }
    return session
  }

  const evaluate = async (
    token: unknown,
    role: string | undefined,
    durationSeconds?: number,
    /** Only `explain` lists every claim check; a credentials request does not compute them. */
    explain = false,
  ): Promise<Evaluation> => {
    const trace: Decision = { decision: 'deny', candidates: [], bindings: [] }
    const deny = (error: unknown, partial: Partial<Evaluation> = {}): Evaluation => {
      const brokerError = asBrokerError(error)
      trace.code = brokerError.code
      trace.reason = brokerError.reason
      return { trace, error: brokerError, matches: [], ...partial }
    }
    let presented: PresentedToken
    try {
      presented = deps.verifier.read(token, { explain })
    } catch (error) {
      return deny(error)
    }
    trace.iss = presented.iss.slice(0, MAX_LOGGED_ISS)
    let result: VerificationResult
    try {
      const candidates = await deps.registry.findIssuersByIss(presented.iss)
      trace.issuersSharingIss = candidates.map((issuer) => issuer.issuerId).sort()
      result = await deps.verifier.verify(presented, candidates, deps.clock.now(), { explain })
    } catch (error) {
      return deny(error)
    }
    trace.candidates = result.attempts
    if (!result.ok) return deny(result.error)
    const { issuer, claims } = result
    trace.issuerId = issuer.issuerId
    trace.sub = claims.sub
    let evaluations: BindingEvaluation[]
    try {
      evaluations = evaluateBindings(await deps.registry.listBindings(issuer.issuerId), claims)
    } catch (error) {
      return deny(error, { issuer, claims })
    }
    trace.bindings = evaluations.map(({ binding, matched, failedRule, detail }) => ({
      bindingId: binding.bindingId,
      profile: binding.profile,
      roleArn: binding.roleArn,
      matched,
      ...(failedRule ? { failedRule } : {}),
      ...(detail ? { detail } : {}),
    }))
    const matches = matchingBindings(evaluations)
    let selected: Binding
    try {
      selected = selectBinding(matches, role)
    } catch (error) {
      return deny(error, { issuer, claims, matches })
    }
    trace.decision = 'allow'
    const session = sessionOf(selected, claims)
    trace.selected = {
      bindingId: selected.bindingId,
      profile: selected.profile,
      roleArn: selected.roleArn,
      sessionName: session.sessionName,
      sessionTags: session.sessionTags,
      durationSeconds: Math.min(durationSeconds ?? selected.durationSeconds, selected.durationSeconds),
      mode: issuer.mode,
    }
    return { trace, issuer, claims, matches, selected }
  }

  const audit = (
    event: string,
    requestId: string,
    evaluation: Evaluation,
    role: string | undefined,
    extra = {},
  ) => {
    const { trace } = evaluation
    deps.audit({
      type: 'audit',
      event,
      decision: evaluation.error ? 'denied' : event === 'credentials' ? 'issued' : 'allowed',
      requestId,
      iss: trace.iss,
      issuerId: trace.issuerId,
      ...workloadFields(evaluation.claims),
      role,
      bindingId: trace.selected?.bindingId,
      roleArn: trace.selected?.roleArn,
      sessionName: trace.selected?.sessionName,
      code: evaluation.error?.code,
      reason: evaluation.error?.reason,
      ...extra,
    })
  }

  /** Once the deadline has answered for a request, its late outcome is not audited again. */
  const auditWithin =
    (deadline: Deadline): typeof audit =>
    (...args) => {
      if (!deadline.expired) audit(...args)
    }

  const auditExpired = (
    event: string,
    request: { requestId: string; role?: string | undefined },
    error: DeadlineExceededError,
  ) =>
    audit(
      event,
      request.requestId,
      { trace: { decision: 'deny', candidates: [], bindings: [] }, error, matches: [] },
      request.role,
    )

  const issueWithin = async (request: ExchangeRequest, deadline: Deadline): Promise<IssuedCredentials> => {
    const audit = auditWithin(deadline)
    const evaluation = await evaluate(request.token, request.role, request.durationSeconds)
    const { trace, issuer, claims, selected } = evaluation
    if (evaluation.error || !issuer || !claims || !selected || !trace.selected) {
      audit('credentials', request.requestId, evaluation, request.role)
      throw evaluation.error ?? new InternalError('evaluation_incomplete')
    }
    const chosen = trace.selected
    try {
      const issue = async () => {
        const webIdentityToken =
          issuer.mode === 'passthrough'
            ? (request.token as string)
            : await mintBrokerToken(deps.signer, {
                issuerUrl: deps.brokerIssuerUrl,
                issuerId: issuer.issuerId,
                subject: claims.sub,
                tags: chosen.sessionTags,
                ttlSeconds: deps.brokerTokenTtlSeconds,
                now: deps.clock.now(),
              })
        return deps.sts.assumeRoleWithWebIdentity(
          {
            roleArn: chosen.roleArn,
            sessionName: chosen.sessionName,
            webIdentityToken,
            durationSeconds: chosen.durationSeconds,
          },
          { deadline },
        )
      }
      let credentials: AwsCredentials
      let source: CredentialSource = 'sts'
      if (deps.credentialCache) {
        // The same claims and binding objects, so the same shape for one duration (sessionOf).
        const session = sessionOf(selected, claims)
        if (session.keysIssuer !== issuer) {
          session.keysIssuer = issuer
          session.cacheKeys.clear()
        }
        const { cacheKeys } = session
        let key = cacheKeys.get(chosen.durationSeconds)
        if (key === undefined) {
          key = credentialCacheKey({
            mode: issuer.mode,
            brokerIssuerUrl: deps.brokerIssuerUrl,
            issuerId: issuer.issuerId,
            subject: claims.sub,
            roleArn: chosen.roleArn,
            sessionName: chosen.sessionName,
            durationSeconds: chosen.durationSeconds,
            sessionTags: chosen.sessionTags,
            // Passthrough hands STS the workload's own token: only that same token may share.
            webIdentityTokenSha256:
              issuer.mode === 'passthrough' ? sha256Hex(request.token as string) : undefined,
          })
          cacheKeys.set(chosen.durationSeconds, key)
        }
        ;({ credentials, source } = await deps.credentialCache.obtain(key, issue))
      } else {
        credentials = await issue()
      }
      audit('credentials', request.requestId, evaluation, request.role, {
        assumedRoleArn: credentials.assumedRoleArn,
        ...(source === 'sts' ? {} : { cached: true }),
      })
      return { credentials, roleArn: chosen.roleArn, sessionName: chosen.sessionName }
    } catch (error) {
      const brokerError = asBrokerError(error)
      audit('credentials', request.requestId, { ...evaluation, error: brokerError }, request.role)
      throw brokerError
    }
  }

  const issueCredentials = (request: ExchangeRequest): Promise<IssuedCredentials> =>
    withDeadline(
      deps.requestDeadlineMs,
      (deadline) => issueWithin(request, deadline),
      (error) => auditExpired('credentials', request, error),
    )

  const listRolesWithin = async (
    request: Omit<ExchangeRequest, 'role' | 'durationSeconds'>,
    deadline: Deadline,
  ): Promise<RoleChoice[]> => {
    const audit = auditWithin(deadline)
    const evaluation = await evaluate(request.token, undefined)
    // Several roles, or none, are answers here rather than failures.
    const listable =
      evaluation.error?.reason === 'role_ambiguous' || evaluation.error?.reason === 'no_binding_matches'
    if (evaluation.error && !listable) {
      audit('roles', request.requestId, evaluation, undefined)
      throw evaluation.error
    }
    const roles = new Map<string, RoleChoice>()
    for (const binding of evaluation.matches) {
      if (!roles.has(binding.profile)) {
        roles.set(binding.profile, {
          profile: binding.profile,
          roleArn: binding.roleArn,
          bindingId: binding.bindingId,
          durationSeconds: binding.durationSeconds,
        })
      }
    }
    audit('roles', request.requestId, { ...evaluation, error: undefined }, undefined, {
      roleCount: roles.size,
    })
    return [...roles.values()]
  }

  /** The roles a token may use, one per profile (the first binding by bindingId wins a tie). */
  const listRoles = (request: Omit<ExchangeRequest, 'role' | 'durationSeconds'>): Promise<RoleChoice[]> =>
    withDeadline(
      deps.requestDeadlineMs,
      (deadline) => listRolesWithin(request, deadline),
      (error) => auditExpired('roles', request, error),
    )

  const explain = async (request: { token: unknown; role?: string | undefined }): Promise<Decision> =>
    (await evaluate(request.token, request.role, undefined, true)).trace

  return { issueCredentials, listRoles, explain }
}

export type Exchange = ReturnType<typeof createExchange>
