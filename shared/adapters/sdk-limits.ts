// Per-call limits of the broker's AWS SDK clients, one place for the Lambda functions and the
// local stack: a connect timeout, a request timeout that fails the attempt (the SDK only warns
// unless `throwOnRequestTimeout`), and how many attempts the SDK itself makes.
import type { Timeouts } from '../config.js'

export type AwsDependency = 'sts' | 'kms' | 'dynamodb'

/** SDK attempts per call: STS retries in its adapter, inside the request deadline (sts.ts). */
export const SDK_MAX_ATTEMPTS: Readonly<Record<AwsDependency, number>> = Object.freeze({
  sts: 1,
  kms: 2,
  dynamodb: 2,
})

const attemptTimeoutOf = (timeouts: Timeouts, dependency: AwsDependency): number =>
  dependency === 'sts' ? timeouts.stsMs : dependency === 'kms' ? timeouts.kmsMs : timeouts.dynamodbMs

/** Spread into an SDK client's configuration (`requestHandler` options build the NodeHttpHandler). */
export const sdkClientLimits = (timeouts: Timeouts, dependency: AwsDependency) => {
  const requestTimeout = attemptTimeoutOf(timeouts, dependency)
  return {
    maxAttempts: SDK_MAX_ATTEMPTS[dependency],
    requestHandler: {
      connectionTimeout: Math.min(timeouts.connectMs, requestTimeout),
      requestTimeout,
      throwOnRequestTimeout: true,
    },
  }
}
