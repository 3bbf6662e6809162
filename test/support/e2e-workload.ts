// The workload every e2e suite uses: data plane `onprem-a` (a test issuer with keys made at
// test time) whose namespace `ml` is bound to two roles, ml-reader and ml-writer, and the
// environments an unmodified AWS client runs with in a pod.

import { expect } from 'vitest'
import { adminPut, cleanEnv, type LocalBroker, type Redactor } from './local-broker.js'
import type { TestIssuer } from './workload-issuer.js'
import { createTestIssuer } from './workload-issuer.js'

export const ACCOUNT = '111122223333'
export const READER_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/ml-s3-reader`
export const WRITER_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/ml-s3-writer`
// moto 5 assumes a role in the account named by the role ARN (it parses `arn:aws:iam::<acct>:`)
// and answers GetCallerIdentity for those temporary keys with that account, not with its default
// 123456789012 — just as real STS reports the role's account. So the ARN is the real IRSA one.
export const sessionArn = (roleName: string, sessionName: string) =>
  `arn:aws:sts::${ACCOUNT}:assumed-role/${roleName}/${sessionName}`
export const READER_SESSION_ARN = sessionArn('ml-s3-reader', 'ml.trainer')
export const WRITER_SESSION_ARN = sessionArn('ml-s3-writer', 'ml.trainer')
export const SESSION_NAME_TEMPLATE = '{/kubernetes.io/namespace}.{/kubernetes.io/serviceaccount/name}'

export interface CallerIdentity {
  UserId: string
  Account: string
  Arn: string
}

/** What boto3_identities.py and js_sdk_identities.mjs print for one client. */
export interface Identities {
  credentialMethod?: string | null
  calls: (CallerIdentity & { signingKey: string })[]
}

/**
 * A client's two calls across a credential refresh: both as the short-lived session, the second
 * signed with other credentials than the first, and the broker asked twice in between
 * (`brokerRequests`: issued records for the workload since before the client ran).
 */
export const expectRefreshedTwice = (calls: Identities['calls'] | undefined, brokerRequests: number) => {
  const [first, second] = calls ?? []
  expect([first?.Arn, second?.Arn]).toEqual([SHORT_SESSION_ARN, SHORT_SESSION_ARN])
  expect(second?.signingKey, 'the second call is signed with refreshed credentials').not.toBe(
    first?.signingKey,
  )
  expect(brokerRequests).toBe(2)
}

/**
 * botocore refreshes credentials with less than 15 minutes (900 s) left. A session of 908 s is
 * fresh for the first call (made within 8 s) and due for refresh after a 9 s pause.
 */
export const SHORT_SESSION_SECONDS = 908
export const BOTOCORE_PAUSE_SECONDS = 9
/**
 * The JS SDK refreshes in the last 5 minutes (300 s). Its clock jumps 604 s before the second
 * call, made 8 s after the first: the first credentials then have at most 908 - 8 - 604 = 296 s
 * left (refresh), the refreshed ones 908 - 604 = 304 s (kept): 4 s of margin either way.
 */
export const JS_PAUSE_SECONDS = 8
export const JS_CLOCK_JUMP_SECONDS = SHORT_SESSION_SECONDS - 300 - JS_PAUSE_SECONDS / 2
export const SHORT_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/ml-short-lived`
export const SHORT_SESSION_ARN = sessionArn('ml-short-lived', 'ml.refresher')

/** Binding ml-short: workload ml:refresher, sessions of SHORT_SESSION_SECONDS, for the refresh tests. */
export const registerShortLivedBinding = (broker: LocalBroker, redactor: Redactor) =>
  adminPut(
    broker,
    '/v1/admin/issuers/onprem-a/bindings/ml-short',
    {
      roleArn: SHORT_ROLE_ARN,
      profile: 'ml-short',
      subjects: ['system:serviceaccount:ml:refresher'],
      sessionName: SESSION_NAME_TEMPLATE,
      durationSeconds: SHORT_SESSION_SECONDS,
    },
    redactor,
  )

/** Registers issuer onprem-a and the bindings ml-reader and ml-writer for system:serviceaccount:ml:*. */
export const registerMlWorkload = async (broker: LocalBroker, redactor: Redactor): Promise<TestIssuer> => {
  const issuer = await createTestIssuer()
  await adminPut(
    broker,
    '/v1/admin/issuers/onprem-a',
    { issuer: 'https://kubernetes.default.svc.cluster.local', audiences: ['irsa-broker'], jwks: issuer.jwks },
    redactor,
  )
  const binding = (roleArn: string, profile: string) => ({
    roleArn,
    profile,
    subjects: ['system:serviceaccount:ml:*'],
    sessionName: SESSION_NAME_TEMPLATE,
  })
  await putBindings(broker, redactor, 'onprem-a', {
    'ml-reader': binding(READER_ROLE_ARN, 'ml-reader'),
    'ml-writer': binding(WRITER_ROLE_ARN, 'ml-writer'),
  })
  return issuer
}

/** Creates bindings of one issuer, by binding id, through the admin API. */
export const putBindings = async (
  broker: LocalBroker,
  redactor: Redactor,
  issuerId: string,
  bindings: Record<string, Record<string, unknown>>,
) => {
  for (const [bindingId, body] of Object.entries(bindings))
    await adminPut(broker, `/v1/admin/issuers/${issuerId}/bindings/${bindingId}`, body, redactor)
}

/** What a workload container carries: the two container-credentials variables, nothing else of AWS. */
export const containerEnv = (brokerUrl: string, role: string, tokenFile: string): NodeJS.ProcessEnv =>
  cleanEnv({
    AWS_CONTAINER_CREDENTIALS_FULL_URI: `${brokerUrl}/v1/credentials?role=${encodeURIComponent(role)}`,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    // Should the container provider be skipped, fail instead of probing IMDS off the loopback.
    AWS_EC2_METADATA_DISABLED: 'true',
  })

/** A workload using profiles from an AWS config file (the ConfigMap variant): no other AWS settings. */
export const profileEnv = (configFile: string): NodeJS.ProcessEnv =>
  cleanEnv({
    AWS_CONFIG_FILE: configFile,
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
  })
