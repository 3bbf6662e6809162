// The audit line of one credentials or roles request: one record per decision, the workload
// named by claims from an allow-list only, never a token, a signature or a credential.
import type { BrokerError } from './errors.js'
import type { Evaluation } from './exchange-evaluate.js'
import type { WorkloadClaims } from './model.js'
import type { AuditRecord } from './ports.js'

export type AuditEvent = 'credentials' | 'roles'

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

/**
 * The record of one request. `evaluation`: what was decided before anything was issued (none
 * when the deadline answered first); `error`: the request's failure, whether the evaluation
 * denied or a later step failed (the selected binding is still named then).
 */
export const auditLine = (
  event: AuditEvent,
  requestId: string,
  role: string | undefined,
  evaluation: Evaluation | undefined,
  error: BrokerError | undefined,
  extra: AuditRecord = {},
): AuditRecord => {
  const selected = evaluation?.decision === 'allow' ? evaluation : undefined
  return {
    type: 'audit',
    event,
    decision: error ? 'deny' : 'allow',
    requestId,
    iss: evaluation?.iss,
    issuerId: evaluation?.issuer?.issuerId,
    ...workloadFields(evaluation?.claims),
    role,
    bindingId: selected?.selected.bindingId,
    roleArn: selected?.selected.roleArn,
    sessionName: selected?.session.sessionName,
    code: error?.code,
    reason: error?.reason,
    ...extra,
  }
}
