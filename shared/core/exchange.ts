// The credential exchange: a workload token in, a decision (and, when allowed, STS
// credentials) out. Every decision is audited. The steps live beside it: the evaluation
// (exchange-evaluate.ts), the audit line (exchange-audit.ts), the STS call
// (exchange-credentials.ts); `explain` (exchange-trace.ts) makes the trace of an evaluation
// without calling STS, and only the admin function carries it.
import type { CredentialCache } from './credential-cache.js'
import { type Deadline, withDeadline } from './deadline.js'
import type { BrokerError } from './errors.js'
import { type AuditEvent, auditLine } from './exchange-audit.js'
import { createCredentialSource } from './exchange-credentials.js'
import {
  asBrokerError,
  createEvaluator,
  type Evaluation,
  type EvaluationRequest,
  isListable,
} from './exchange-evaluate.js'
import type { AwsCredentials } from './model.js'
import type { AuditRecord, AuditSink, Clock, RegistryReader, RoleAssumer, Signer } from './ports.js'
import { createSessionMemo } from './session-memo.js'
import type { WorkloadTokenVerifier } from './verify.js'

export interface ExchangeDeps {
  registry: RegistryReader
  /**
   * Reads and verifies workload tokens (verify.ts); the wiring may put the verified-token cache
   * in front of it (verified-token-cache.ts).
   */
  verifier: WorkloadTokenVerifier
  signer: Signer
  sts: RoleAssumer
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

/** The roles an evaluation lets a token use, one per profile (the first binding by bindingId wins a tie). */
const rolesOf = (evaluation: Evaluation): RoleChoice[] => {
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
  return [...roles.values()]
}

export const createExchange = (deps: ExchangeDeps) => {
  const evaluate = createEvaluator({
    registry: deps.registry,
    verifier: deps.verifier,
    clock: deps.clock,
    sessions: createSessionMemo(),
  })
  const credentialsFor = createCredentialSource(deps)

  /** Audits one request, unless its deadline already answered for it (audited then, once). */
  const audit = (
    deadline: Deadline,
    event: AuditEvent,
    request: { requestId: string; role?: string | undefined },
    evaluation: Evaluation,
    error: BrokerError | undefined,
    extra?: AuditRecord,
  ) => {
    if (!deadline.expired)
      deps.audit(auditLine(event, request.requestId, request.role, evaluation, error, extra))
  }

  /** Runs one request within its deadline; if the deadline answers first, that is audited. */
  const withinDeadline = <T>(
    event: AuditEvent,
    request: { requestId: string; role?: string | undefined },
    work: (deadline: Deadline) => Promise<T>,
  ): Promise<T> =>
    withDeadline(deps.requestDeadlineMs, work, (error) =>
      deps.audit(auditLine(event, request.requestId, request.role, undefined, error)),
    )

  const issueWithin = async (request: ExchangeRequest, deadline: Deadline): Promise<IssuedCredentials> => {
    const evaluation = await evaluate(request)
    if (evaluation.decision === 'deny') {
      audit(deadline, 'credentials', request, evaluation, evaluation.error)
      throw evaluation.error
    }
    try {
      // The token is a string: the evaluation read it.
      const { credentials, source } = await credentialsFor(evaluation, request.token as string, deadline)
      audit(deadline, 'credentials', request, evaluation, undefined, {
        assumedRoleArn: credentials.assumedRoleArn,
        ...(source === 'sts' ? {} : { cached: true }),
      })
      return {
        credentials,
        roleArn: evaluation.selected.roleArn,
        sessionName: evaluation.session.sessionName,
      }
    } catch (error) {
      const brokerError = asBrokerError(error)
      audit(deadline, 'credentials', request, evaluation, brokerError)
      throw brokerError
    }
  }

  const issueCredentials = (request: ExchangeRequest): Promise<IssuedCredentials> =>
    withinDeadline('credentials', request, (deadline) => issueWithin(request, deadline))

  const listRolesWithin = async (
    request: Omit<ExchangeRequest, 'role' | 'durationSeconds'>,
    deadline: Deadline,
  ): Promise<RoleChoice[]> => {
    const evaluation = await evaluate({ token: request.token })
    const withoutRole = { requestId: request.requestId }
    // Several roles, or none, are answers here rather than failures.
    if (evaluation.decision === 'deny' && !isListable(evaluation.reason)) {
      audit(deadline, 'roles', withoutRole, evaluation, evaluation.error)
      throw evaluation.error
    }
    const roles = rolesOf(evaluation)
    audit(deadline, 'roles', withoutRole, evaluation, undefined, { roleCount: roles.length })
    return roles
  }

  /** The roles a token may use, one per profile (the first binding by bindingId wins a tie). */
  const listRoles = (request: Omit<ExchangeRequest, 'role' | 'durationSeconds'>): Promise<RoleChoice[]> =>
    withinDeadline('roles', request, (deadline) => listRolesWithin(request, deadline))

  /** The decision alone: nothing issued, nothing audited; `explain` verifies afresh and lists every check. */
  const decide = (request: EvaluationRequest, options: { explain?: boolean } = {}): Promise<Evaluation> =>
    evaluate(request, options.explain)

  return { issueCredentials, listRoles, decide }
}

export type Exchange = ReturnType<typeof createExchange>
